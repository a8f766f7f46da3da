"""Untrusted run directories: config.json and the weights' shapes are checked before anything is built.

The terabyte case runs `audiodiff.load` in a child process whose address space is capped (RLIMIT_AS) a
little above what importing torch takes: building the network first would die with a MemoryError (or be
killed); the check must answer with one line naming the file and key instead.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import audiodiff
from audiodiff.model_check import ModelFileError
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import REPO


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    """The session's tiny trained run (conftest.py)."""
    return tiny_run


def hostile_copy(run: Path, dest: Path, edit=None, text: str | None = None) -> Path:
    """A copy of `run` whose config.json is edited in place by `edit(config)`, or replaced by `text`."""
    shutil.copytree(run, dest)
    if text is None:
        config = json.loads((run / "config.json").read_text())
        edit(config)
        text = json.dumps(config)
    (dest / "config.json").write_text(text)
    return dest


LIMITED_LOAD = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {repo!r})
    import audiodiff
    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 2 ** 30, vm + 2 ** 30))   # 1 GiB above the imports
    try:
        audiodiff.load(sys.argv[1], device="cpu")
    except MemoryError:
        print("MemoryError"); sys.exit(3)
    except ValueError as exc:
        print("error:", exc); sys.exit(1)
    print("loaded")
""")


@pytest.mark.parametrize("key, edit", [
    # 2 layers of 65536 channels: within every option limit, ~200 GB of weights; only the header says no
    ("input_projection.weight has shape [8, 1, 1], but model in config.json needs [65536, 1, 1]",
     lambda c: c["model"].update(residual_channels=65536)),
    ("residual_channels", lambda c: c["model"].update(residual_channels=10 ** 5)),
    ("num_steps", lambda c: c["diffusion"].update(num_steps=10 ** 11)),
    ("clip_length", lambda c: c.update(clip_length=10 ** 12)),
])
def test_terabyte_config_is_refused_under_an_address_space_limit(run, tmp_path, key, edit):
    bad = hostile_copy(run, tmp_path / "bad", edit)
    proc = subprocess.run([sys.executable, "-c", LIMITED_LOAD.format(repo=str(REPO)), str(bad)],
                          capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    line = proc.stdout.strip()
    assert line.startswith("error:") and str(bad) in line and key in line, line


def test_the_limit_is_real(run, tmp_path):
    """Control for the test above: the same child, asked to allocate 4 GiB itself, fails under its limit."""
    script = LIMITED_LOAD.replace('audiodiff.load(sys.argv[1], device="cpu")', "bytearray(4 * 2 ** 30)")
    proc = subprocess.run([sys.executable, "-c", script.format(repo=str(REPO)), str(run)], capture_output=True,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 3 and proc.stdout.strip() == "MemoryError", (proc.stdout, proc.stderr)


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["model"].update(embed_dim=32), ["model.safetensors", "step_embedding", "[32, 16]"]),
    (lambda c: c["model"].update(residual_layers=3), ["model.safetensors", "missing", "layers.2"]),
    (lambda c: c["model"].update(residual_channels=-8), ["config.json", "model.residual_channels", ">= 1"]),
    (lambda c: c["model"].update(residual_layers="2"), ["config.json", "model.residual_layers", "integer"]),
    (lambda c: c["model"].update(dilation_cycle=60), ["config.json", "model.dilation_cycle", "<= 16"]),
    (lambda c: c["model"].update(type="transformer"), ["config.json", "model.type", "diffwave"]),
    (lambda c: c.update(sample_rate="16000"), ["config.json", "sample_rate", "integer"]),
    (lambda c: c.update(sample_rate=-1), ["config.json", "sample_rate", ">= 1000"]),
    (lambda c: c.update(clip_length=0), ["config.json", "clip_length", ">= 16"]),
    (lambda c: c.update(model=[1, 2]), ["config.json", "'model'", "JSON object"]),
    (lambda c: c["diffusion"].update(beta_end=float("nan")), ["config.json", "diffusion.beta_end", "finite"]),
    (lambda c: c["diffusion"].update(schedule="betas", betas=[0.1] * 100_001), ["config.json", "diffusion.betas"]),
    (lambda c: c["sample"].update(steps=10 ** 12), ["config.json", "sample.steps", "<= the diffusion steps"]),
    (lambda c: c["sample"].update(fast_betas=[2.0]), ["config.json", "sample.fast_betas"]),
    (lambda c: c["sample"].update(denoise_steps=21), ["config.json", "sample.denoise_steps = 21", "<= the diffusion"]),
    (lambda c: c.update(level_rms=float("inf")), ["config.json", "level_rms"]),
    (lambda c: c.update(level_rms=-0.5), ["config.json", "level_rms", ">= 0"]),
    (lambda c: c.update(domain="mel", features={"n_fft": 10 ** 9, "hop_length": 256, "n_mels": 80}),
     ["config.json", "features.n_fft", "<= 65536"]),
    (lambda c: c.update(domain="mel", features={"n_fft": 64, "hop_length": 16, "n_mels": 80}),
     ["config.json", "features.sample_rate"]),
    (lambda c: c.update(domain="mel", features={"sample_rate": 8000, "n_fft": 64, "hop_length": 16, "n_mels": 80,
                                                "stats": {"min": 0.0, "max": 1.0}}),
     ["config.json", "n_mels (80)"]),
])
def test_bad_config_values_are_one_error_naming_file_and_key(run, tmp_path, edit, words):
    bad = hostile_copy(run, tmp_path / "bad", edit)
    with pytest.raises(ModelFileError) as info:
        audiodiff.load(bad, device="cpu")
    message = str(info.value)
    assert "\n" not in message and str(bad) in message
    for w in words:
        assert w in message, (w, message)


@pytest.mark.parametrize("text, words", [
    ("[1, 2, 3]", ["must hold a JSON object", "list"]),
    ('"model"', ["must hold a JSON object", "str"]),
    ("[" * 100_000 + "]" * 100_000, ["not a usable JSON config", "RecursionError"]),
    ('{"model": ' + "9" * 5000 + "}", ["not a usable JSON config"]),
    ("{not json", ["not valid JSON"]),
])
def test_a_config_that_is_not_an_object_is_one_error(run, tmp_path, text, words):
    bad = hostile_copy(run, tmp_path / "bad", text=text)
    with pytest.raises(ValueError) as info:
        audiodiff.load(bad, device="cpu")
    assert str(bad / "config.json") in str(info.value)
    for w in words:
        assert w in str(info.value)


def write_safetensors_header(path: Path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_weights_header_that_claims_more_than_the_file_holds(run, tmp_path):
    bad = hostile_copy(run, tmp_path / "bad", lambda c: None)
    write_safetensors_header(bad / "model.safetensors", {"w": {"dtype": "F32", "shape": [10 ** 6, 10 ** 6],
                                                             "data_offsets": [0, 4 * 10 ** 12]}}, b"\0" * 16)
    with pytest.raises(ModelFileError, match="model.safetensors is not a readable safetensors file"):
        audiodiff.load(bad, device="cpu")


def test_nan_weights_are_refused(run, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    bad = hostile_copy(run, tmp_path / "bad", lambda c: None)
    tensors = load_file(str(bad / "model.safetensors"))
    key = sorted(tensors)[0]
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(ValueError, match=f"{key} holds NaN or infinite weights"):
        audiodiff.load(bad, device="cpu")


def test_the_cli_prints_one_line_for_a_hostile_model(run, tmp_path):
    bad = hostile_copy(run, tmp_path / "bad", lambda c: c["model"].update(residual_channels=65536))
    line = assert_one_line_error(run_cli("sample", "--model", str(bad), "--n", "1", "--out", str(tmp_path / "w"),
                                         "--no-progress"), "model.safetensors", "needs [")
    assert "residual" in line or "weight" in line


def test_a_trusted_run_still_loads(run):
    pipe = audiodiff.load(run, device="cpu")
    assert pipe.sample(n=1, steps=2, seed=0).shape == (1, pipe.clip_length)
