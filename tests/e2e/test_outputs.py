"""Output files: atomic, never through planted symlinks, one line on a full disk or a bad --out, no temp files
left; `sample` into a folder holding an earlier run's files, and an existing output file, only with --force;
non-finite and empty arguments."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audiodiff import checkpoint as ckpt
from audiodiff.atomic import OutputError, atomic_write
from audiodiff.audio import save_wav
from audiodiff.cli import app
from audiodiff.run_features import domain_config, fit_features
from audiodiff.features import write_png
from audiodiff.nets import build_network
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import run_config
from helpers.cli import assert_one_line_error, run_cli
from helpers.measures import read_png_size
from helpers.recipes import CLIP_LENGTH, REPO, SAMPLE_RATE
from helpers.vocoder import training_clip, vocoder_recipe


VICTIM_TEXT = "precious data that must survive\n"


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    """The session's tiny trained run (conftest.py)."""
    return tiny_run


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    return path


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


# ----------------------------------------------------------------- symlinks
def test_wav_replaces_a_symlink_at_the_output_path_instead_of_writing_through_it(tmp_path, victim):
    out = tmp_path / "out.wav"
    out.symlink_to(victim)
    save_wav(out, torch.zeros(100), 8000)
    assert victim.read_text() == VICTIM_TEXT
    assert not out.is_symlink() and sf.info(str(out)).frames == 100


def test_wav_ignores_symlinks_planted_at_temp_names(tmp_path, victim):
    out = tmp_path / "out.wav"
    planted = [tmp_path / ".out.wav.tmp", *(tmp_path / f".out.wav.{i}.tmp" for i in range(20))]
    for p in planted:
        p.symlink_to(victim)
    save_wav(out, torch.zeros(100), 8000)
    assert victim.read_text() == VICTIM_TEXT
    assert all(p.is_symlink() and p.resolve() == victim for p in planted)
    assert sf.info(str(out)).frames == 100
    assert len(temp_files(tmp_path)) == len(planted)                   # ours is gone, the planted ones untouched


def test_png_and_npy_replace_symlinks_at_the_output_path(tmp_path, victim):
    png = tmp_path / "x.png"
    png.symlink_to(victim)
    write_png(png, np.zeros((4, 5, 3), np.uint8))
    assert victim.read_text() == VICTIM_TEXT and read_png_size(png) == (5, 4) and not png.is_symlink()
    npy = tmp_path / "x.npy"
    npy.symlink_to(victim)
    atomic_write(npy, lambda f: np.save(f, np.ones(3, np.float32), allow_pickle=False))
    assert victim.read_text() == VICTIM_TEXT and np.load(npy).tolist() == [1, 1, 1]


def test_cli_sample_force_replaces_symlinked_outputs_not_their_targets(run, tmp_path, victim):
    out = tmp_path / "w"
    out.mkdir()
    for name in ("sample_000.wav", "sample_000.png"):
        (out / name).symlink_to(victim)
    proc = run_cli("sample", "--model", str(run), "--n", "1", "--steps", "2", "--out", str(out), "--plot",
                   "--force", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == VICTIM_TEXT
    assert not (out / "sample_000.wav").is_symlink() and sf.info(str(out / "sample_000.wav")).frames == CLIP_LENGTH
    assert not (out / "sample_000.png").is_symlink() and not temp_files(out)


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path):
    out = tmp_path / "keep.bin"
    out.write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="keep.bin.*No space left"):
        atomic_write(out, broken)
    assert out.read_bytes() == b"old" and not temp_files(tmp_path)


# ----------------------------------------------------------------- a full disk
def _limit_file_size_to_64_bytes() -> None:
    """A child's preexec_fn: writes past 64 bytes fail with EFBIG (SIGXFSZ ignored), as on a full quota."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


@pytest.fixture
def full_disk(tmp_path):
    """(folder on a full filesystem, preexec_fn for the child).  As root: a real 64 KiB tmpfs, filled up.
    Otherwise: a plain folder and a child whose file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) is 64
    bytes, so its first write past that fails with EFBIG, as on a full quota."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                                                   capture_output=True).returncode == 0
    preexec = None
    try:
        (disk / "w").mkdir()
        if mounted:
            with open(disk / "filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
        else:
            preexec = _limit_file_size_to_64_bytes
        yield disk / "w", preexec
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def run_cli_with(preexec, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AUDIODIFF_DEBUG"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", COLUMNS="100", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180, preexec_fn=preexec)


def test_full_disk_is_one_line_and_leaves_no_temp_files(run, tmp_path, full_disk):
    folder, preexec = full_disk
    proc = run_cli_with(preexec, "sample", "--model", str(run), "--n", "2", "--steps", "2", "--out", str(folder),
                        "--no-progress")
    line = assert_one_line_error(proc, "cannot write", "sample_000.wav")
    assert "space" in line.lower() or "too large" in line.lower(), line
    assert sorted(p.name for p in folder.iterdir()) == []            # no temp file, no half-written sample

    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, np.zeros(300, np.float32), SAMPLE_RATE)
    proc = run_cli_with(preexec, "denoise", str(noisy), "--out", str(folder / "clean.wav"), "--model", str(run),
                        "--sigma", "0.1", "--steps", "2", "--no-progress")
    assert_one_line_error(proc, "cannot write", "clean.wav")
    assert sorted(p.name for p in folder.iterdir()) == []


# ----------------------------------------------------------------- bad --out
def test_out_paths_of_the_wrong_kind_are_one_line(run, tmp_path):
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, np.zeros(300, np.float32), SAMPLE_RATE)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    common = ("--model", str(run), "--no-progress")
    assert_one_line_error(run_cli("denoise", str(noisy), "--out", str(tmp_path), *common), "is a directory")
    assert_one_line_error(run_cli("denoise", str(noisy), "--out", str(a_file / "x.wav"), *common),
                          "a_file is a file, not a folder")
    assert_one_line_error(run_cli("upsample", str(noisy), "--out", str(a_file / "deep" / "x.wav"), *common),
                          "a_file is a file")
    assert_one_line_error(run_cli("inpaint", str(noisy), "--gap", "0:0.01", "--out", str(tmp_path), *common),
                          "is a directory")
    assert_one_line_error(run_cli("sample", "--out", str(a_file), "--n", "1", *common), "a_file is a file")
    assert_one_line_error(run_cli("sample", "--out", str(a_file / "w"), "--n", "1", *common), "a_file is a file")
    assert a_file.read_text() == "x"


def test_sample_refuses_an_earlier_runs_folder_and_force_leaves_only_this_runs_files(run, tmp_path):
    out = tmp_path / "w"
    common = ("--model", str(run), "--steps", "2", "--out", str(out), "--no-progress")
    assert run_cli("sample", "--n", "3", "--plot", *common).returncode == 0
    assert len(list(out.glob("sample_*"))) == 6
    line = assert_one_line_error(run_cli("sample", "--n", "1", *common), "already holds 6 sample_*", "--force")
    assert str(out) in line
    (out / "notes.txt").write_text("mine")
    proc = run_cli("sample", "--n", "1", "--force", *common)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "sample_000.wav"]


# ----------------------------------------------------------------- an existing output file: only with --force
runner = CliRunner()


def overwrite_cases(run: Path, tmp_path: Path) -> dict[str, tuple[list[str], Path, str]]:
    """command → (its arguments, the output file they name, the option naming it)."""
    wav, old, page = tmp_path / "in.wav", tmp_path / "old.wav", tmp_path / "page.html"
    sf.write(wav, np.zeros(300, np.float32), SAMPLE_RATE)
    model = ["--model", str(run), "--steps", "2", "--seed", "0", "--no-progress"]
    return {
        "denoise": (["denoise", str(wav), "--out", str(old), "--sigma", "0.1", *model], old, "--out"),
        "inpaint": (["inpaint", str(wav), "--gap", "0:0.01", "--out", str(old), *model], old, "--out"),
        "upsample": (["upsample", str(wav), "--out", str(old), *model], old, "--out"),
        "vocode": (["vocode", str(wav), "--out", str(old), *model], old, "--out"),
        "sample --report": (["sample", "--n", "1", "--out", str(tmp_path / "w"), "--report", str(page), *model], page,
                            "--report"),
        "eval --report": (["eval", str(tmp_path), "--classifier", str(run), "--report", str(page)], page, "--report"),
    }


@pytest.mark.parametrize("command", ["denoise", "inpaint", "upsample", "vocode", "sample --report", "eval --report"])
@pytest.mark.parametrize("existing", ["file", "symlink"])
def test_an_existing_output_is_refused_without_force(run, tmp_path, victim, command, existing):
    """`denoise --out EXISTING.wav` used to replace the file silently, while `sample` refused a folder of
    earlier samples: every command that writes a file now refuses one (or a link) that is there, before any work."""
    args, out, option = overwrite_cases(run, tmp_path)[command]
    if existing == "file":
        out.write_text("earlier output")
    else:
        out.symlink_to(victim)
    result = runner.invoke(app, args)
    assert isinstance(result.exception, OutputError), (result.output, result.exception)
    assert str(result.exception) == f"{out} already exists; pass --force to replace it, or choose another {option}"
    assert victim.read_text() == VICTIM_TEXT
    assert out.is_symlink() if existing == "symlink" else out.read_text() == "earlier output"
    assert not (tmp_path / "w").exists()                  # refused before sampling


@pytest.mark.parametrize("command", ["denoise", "sample --report"])
def test_force_replaces_an_existing_output_not_a_links_target(run, tmp_path, victim, command):
    args, out, _ = overwrite_cases(run, tmp_path)[command]
    out.symlink_to(victim)
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert victim.read_text() == VICTIM_TEXT and not out.is_symlink() and not temp_files(tmp_path)
    if command == "denoise":
        assert sf.info(str(out)).frames == 300
    else:
        assert out.read_text().count("<audio") == 1


# ----------------------------------------------------------------- non-finite and empty arguments
@pytest.mark.parametrize("gap", ["inf:1", "0:inf", "nan:0.01", "-inf:0.01"])
def test_non_finite_gap_is_one_line(run, tmp_path, gap):
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(300, np.float32), SAMPLE_RATE)
    assert_one_line_error(run_cli("inpaint", str(wav), "--gap", gap, "--out", str(tmp_path / "o.wav"), "--model",
                                  str(run), "--no-progress"), "--gap", "finite")


def test_non_finite_sigma_and_eta_are_one_line(run, tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(300, np.float32), SAMPLE_RATE)
    assert_one_line_error(run_cli("denoise", str(wav), "--sigma", "inf", "--out", str(tmp_path / "o.wav"),
                                  "--model", str(run), "--no-progress"), "sigma", "finite")
    assert_one_line_error(run_cli("sample", "--sampler", "ddim", "--eta", "nan", "--n", "1", "--out",
                                  str(tmp_path / "w"), "--model", str(run), "--no-progress"), "eta")
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "w").exists()


@pytest.fixture(scope="module")
def vocoder_run(tmp_path_factory) -> Path:
    """An untrained tiny vocoder run (its weights do not matter to argument checks)."""
    recipe = recipe_from_dict(vocoder_recipe())
    config = {**run_config(recipe), **domain_config(recipe)}
    fit_features(config, [training_clip()[None]])
    run = tmp_path_factory.mktemp("voc") / "vocoder"
    ckpt.save_config(run, config)
    ckpt.save_weights(run, build_network(config["model"]))
    return run


def test_zero_frame_mel_is_one_line(vocoder_run, tmp_path):
    n_mels = json.loads((vocoder_run / "config.json").read_text())["features"]["n_mels"]
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((n_mels, 0), np.float32))
    proc = run_cli("vocode", str(empty), "--model", str(vocoder_run), "--out", str(tmp_path / "o.wav"),
                   "--no-progress")
    assert_one_line_error(proc, "empty.npy", "no frames")
    assert not (tmp_path / "o.wav").exists()
