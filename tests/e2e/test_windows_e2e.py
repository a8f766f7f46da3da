"""The end-to-end tests of tests/pipeline/test_windows.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/pipeline/test_windows.py's docstring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff import tasks
from helpers.audio import tone
from helpers.cli import run_cli
from helpers.recipes import CLIP_LENGTH, SAMPLE_RATE


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    """The session's tiny trained run (conftest.py)."""
    return tiny_run


class LengthRecorder(torch.nn.Module):
    """Wraps a network and records the length of every input it is called with."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.lengths: list[int] = []

    def forward(self, x, t, **cond):
        self.lengths.append(x.shape[-1])
        return self.net(x, t, **cond)


def recording_pipe(run) -> audiodiff.Pipeline:
    """fp32: on a bf16 CPU "auto" would sample through a cast copy of the recorder, whose lengths are not these."""
    pipe = audiodiff.load(run, device="cpu", precision="fp32")
    return audiodiff.Pipeline.for_config(LengthRecorder(pipe.model), pipe.diffusion, pipe.config, device="cpu",
                                         precision="fp32")


def test_long_input_calls_the_model_on_windows_only(run):
    pipe = recording_pipe(run)
    rng = np.random.default_rng(0)
    long = (tone(20 * CLIP_LENGTH + 37, SAMPLE_RATE) + 0.05 * rng.standard_normal(20 * CLIP_LENGTH + 37)).astype(
        np.float32)
    clean = pipe.denoise(long, steps=3, seed=0)
    assert clean.shape == long.shape and np.isfinite(clean).all()
    assert set(pipe.model.lengths) == {CLIP_LENGTH}       # the window, never the file's length

    pipe.model.lengths.clear()
    mask = np.zeros(long.shape, dtype=bool)
    mask[3000:3100] = True
    filled = pipe.inpaint(torch.from_numpy(long), torch.from_numpy(mask), steps=3, seed=0)
    assert torch.equal(filled[~torch.from_numpy(mask)], torch.from_numpy(long)[~torch.from_numpy(mask)])
    assert torch.isfinite(filled).all()
    assert set(pipe.model.lengths) == {CLIP_LENGTH}
    assert len(pipe.model.lengths) <= 3 * 3      # 3 steps in each of the (at most 3) windows touching the gap

    pipe.model.lengths.clear()
    wide = pipe.upsample(torch.from_numpy(long[::2].copy()), SAMPLE_RATE // 2, steps=3, seed=0, window=128)
    assert wide.shape == (2 * len(long[::2]),) and torch.isfinite(wide).all()
    assert set(pipe.model.lengths) == {128}


@pytest.mark.parametrize("task", ["denoise", "inpaint", "upsample"])
def test_an_input_shorter_than_a_window_is_unchanged(run, task):
    """The windowed pipeline gives bit for bit what the task gives on the whole input (fp32, as the reference)."""
    pipe = audiodiff.load(run, device="cpu", precision="fp32")
    x = torch.from_numpy(tone(CLIP_LENGTH, SAMPLE_RATE))
    g = torch.Generator().manual_seed(5)
    if task == "denoise":
        got = pipe.denoise(x, sigma=0.05, steps=4, seed=5)
        ref = tasks.denoise(pipe.diffusion, pipe.model, x[None, None], 0.05, steps=4, generator=g)[0, 0]
    elif task == "inpaint":
        mask = torch.zeros(CLIP_LENGTH, dtype=torch.bool)
        mask[50:90] = True
        got = pipe.inpaint(x, mask, steps=4, seed=5)
        ref = tasks.inpaint(pipe.diffusion, pipe.model, x[None, None], ~mask[None, None], steps=4, generator=g)[0, 0]
        ref = torch.where(mask, ref, x)
    else:
        low = x[::2].contiguous()
        got = pipe.upsample(low, SAMPLE_RATE // 2, steps=4, seed=5)
        batch = audiodiff.audio.resample(low[None], SAMPLE_RATE // 2, SAMPLE_RATE)[:, None]
        ref = tasks.bandwidth_extension(pipe.diffusion, pipe.model, batch, 0.5, steps=4, generator=g)[0, 0]
    assert torch.equal(got, ref.clamp(-1, 1).float())


def test_cli_denoises_a_long_file_in_windows(run, tmp_path):
    n = 12 * CLIP_LENGTH + 5
    noisy = tmp_path / "long.wav"
    sf.write(noisy, tone(n, SAMPLE_RATE) + 0.03 * np.random.default_rng(1).standard_normal(n), SAMPLE_RATE)
    proc = run_cli("denoise", str(noisy), "--out", str(tmp_path / "clean.wav"), "--model", str(run), "--seed", "0",
                   "--steps", "2", "--window", "512")
    assert proc.returncode == 0, proc.stderr
    clean, rate = sf.read(str(tmp_path / "clean.wav"))
    assert rate == SAMPLE_RATE and len(clean) == n and np.isfinite(clean).all()
