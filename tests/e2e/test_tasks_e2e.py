"""Denoise, inpaint and upsample end to end on a tiny trained run: through the Pipeline (type, shape and rate kept,
every known sample kept exactly) and through `audiodiff denoise / inpaint / upsample`, whose errors are one line.
(The methods themselves are checked on the analytic Gaussian oracle in tests/pipeline/test_tasks.py.)"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from helpers.audio import tone
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import SAMPLE_RATE


# ----------------------------------------------------------------- through the Pipeline and the CLI
@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    """The session's tiny trained run (conftest.py)."""
    return tiny_run


@pytest.fixture(scope="module")
def pipe(run):
    return audiodiff.load(run, device="cpu")


def test_denoise_keeps_type_shape_and_rate(pipe):
    noisy = tone(700, 2 * SAMPLE_RATE) + 0.05 * np.random.default_rng(0).standard_normal(700).astype(np.float32)
    clean, sigmas = pipe.denoise(noisy, sample_rate=2 * SAMPLE_RATE, seed=0, return_sigma=True)
    assert isinstance(clean, np.ndarray) and clean.shape == noisy.shape and clean.dtype == np.float32
    assert len(sigmas) == 1 and sigmas[0] > 0
    batch = torch.from_numpy(np.stack([noisy[:300], noisy[300:600]]))
    out = pipe.denoise(batch, sigma=0.05, sample_rate=2 * SAMPLE_RATE, seed=0)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 300)
    again = pipe.denoise(batch, sigma=0.05, sample_rate=2 * SAMPLE_RATE, seed=0)
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match=r"\[L\] or \[B, L\]"):
        pipe.denoise(torch.zeros(1, 1, 10), sigma=0.1)


def test_inpaint_keeps_every_known_sample_exactly(pipe):
    audio = torch.from_numpy(tone(400, SAMPLE_RATE))
    mask = torch.zeros(400, dtype=torch.bool)
    mask[100:180] = True
    out = pipe.inpaint(audio, mask, seed=0, resample_jumps=2)
    assert out.shape == audio.shape
    assert torch.equal(out[~mask], audio[~mask])
    assert not torch.equal(out[mask], audio[mask])
    with pytest.raises(ValueError, match="mask"):
        pipe.inpaint(audio, mask[:10])


def test_cli_denoise_inpaint_upsample(run, tmp_path):
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, tone(500, SAMPLE_RATE) + 0.03 * np.random.default_rng(1).standard_normal(500), SAMPLE_RATE)
    proc = run_cli("denoise", str(noisy), "--out", str(tmp_path / "clean.wav"), "--model", str(run), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    assert "estimated" in proc.stdout
    assert sf.info(str(tmp_path / "clean.wav")).frames == 500

    proc = run_cli("inpaint", str(noisy), "--gap", "0.02:0.04", "--out", str(tmp_path / "filled.wav"), "--model",
                   str(run), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    before, _ = sf.read(str(noisy), dtype="int16")
    after, _ = sf.read(str(tmp_path / "filled.wav"), dtype="int16")
    gap = slice(round(0.02 * SAMPLE_RATE), round(0.04 * SAMPLE_RATE))
    keep = np.ones(500, dtype=bool)
    keep[gap] = False
    assert np.array_equal(before[keep], after[keep])

    low = tmp_path / "low.wav"
    sf.write(low, tone(250, SAMPLE_RATE // 2), SAMPLE_RATE // 2)
    proc = run_cli("upsample", str(low), "--out", str(tmp_path / "wide.wav"), "--model", str(run), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(tmp_path / "wide.wav"))
    assert info.samplerate == SAMPLE_RATE and info.frames == 500


def test_cli_task_errors_are_one_line(run, tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(300, SAMPLE_RATE), SAMPLE_RATE)
    assert_one_line_error(run_cli("inpaint", str(wav), "--gap", "2:3", "--out", str(tmp_path / "o.wav"),
                                  "--model", str(run)), "--gap")
    assert_one_line_error(run_cli("upsample", str(wav), "--out", str(tmp_path / "o.wav"), "--model", str(run)),
                          "not below")
    assert_one_line_error(run_cli("denoise", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "o.wav"),
                                  "--model", str(run)), "missing.wav")
    assert_one_line_error(run_cli("sample", "--model", str(run), "--label", "1", "--out", str(tmp_path / "w")),
                          "not class-conditional")
