"""Long recordings: denoise / inpaint / upsample in cross-faded windows (audiodiff/windows.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff import tasks
from audiodiff.windows import map_windows, taper, window_starts
from helpers.audio import tone
from helpers.cli import run_cli
from helpers.oracle import OracleNet
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


@pytest.mark.parametrize("length, window, overlap", [(1000, 256, 64), (257, 256, 64), (10_007, 300, 150),
                                                     (512, 256, 0), (5000, 16, 4)])
def test_windows_cover_the_input_with_at_least_the_overlap(length, window, overlap):
    starts = window_starts(length, window, overlap)
    assert starts[0] == 0 and starts[-1] + window == length
    assert all(b - a <= window - overlap for a, b in zip(starts, starts[1:]))   # neighbours share >= overlap
    assert all(b > a for a, b in zip(starts, starts[1:]))
    w = taper(window, overlap)
    assert (w > 0).all() and w.max() <= 1 and (overlap * 2 == window or w.max() == 1)


def test_short_input_is_one_call_on_the_whole_input():
    calls = []
    x = torch.randn(2, 1, 200)

    def task(sl):
        calls.append(sl)
        return x[..., sl] * 2

    assert torch.equal(map_windows(task, tuple(x.shape), window=200), x * 2)
    assert calls == [slice(0, 200)]


def test_stitching_is_exact_for_a_pointwise_task_and_smooth_for_a_hostile_one():
    x = torch.sin(torch.arange(4000, dtype=torch.float64) / 40.0)[None, None]
    same = map_windows(lambda sl: x[..., sl] ** 3, tuple(x.shape), window=256)
    assert torch.allclose(same, x ** 3, atol=1e-12)
    # each window's result is off by its own constant (as two independent generations would be): joined
    # without a cross-fade that is a jump of up to 1 between windows; cross-faded it drifts over 64 samples
    def alternating():
        offsets = iter(range(100))
        return lambda sl: x[..., sl] + next(offsets) % 2

    joined = map_windows(alternating(), tuple(x.shape), window=256, overlap=64)
    hard = map_windows(alternating(), tuple(x.shape), window=256, overlap=0)
    step_in = float(x.diff().abs().max())
    assert hard.diff().abs().max() > 0.4                       # the control: without a fade, a click
    assert joined.diff().abs().max() < step_in + 0.1           # cross-faded: a slow drift
    assert torch.isfinite(joined).all()


def test_windowed_denoise_equals_whole_denoise_for_a_pointwise_model():
    """The white-Gaussian oracle denoises each sample on its own, and DDIM draws no noise: windows must
    give exactly what one pass over the whole input gives."""
    sched = audiodiff.NoiseSchedule.linear(100, 1e-4, 0.1)
    config = {"sample_rate": SAMPLE_RATE, "clip_length": 128, "sample": {"sampler": "ddim"}}
    pipe = audiodiff.Pipeline.for_config(OracleNet(sched), audiodiff.GaussianDiffusion(sched), config)
    noisy = torch.randn(3000, generator=torch.Generator().manual_seed(0)) * 0.25
    windowed = pipe.denoise(noisy, sigma=0.1, steps=10, seed=0)
    whole = pipe.denoise(noisy, sigma=0.1, steps=10, seed=0, window=4000)
    assert windowed.shape == noisy.shape
    assert torch.allclose(windowed, whole, atol=1e-5)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_cli_denoises_a_long_file_in_windows(run, tmp_path):
    n = 12 * CLIP_LENGTH + 5
    noisy = tmp_path / "long.wav"
    sf.write(noisy, tone(n, SAMPLE_RATE) + 0.03 * np.random.default_rng(1).standard_normal(n), SAMPLE_RATE)
    proc = run_cli("denoise", str(noisy), "--out", str(tmp_path / "clean.wav"), "--model", str(run), "--seed", "0",
                   "--steps", "2", "--window", "512")
    assert proc.returncode == 0, proc.stderr
    clean, rate = sf.read(str(tmp_path / "clean.wav"))
    assert rate == SAMPLE_RATE and len(clean) == n and np.isfinite(clean).all()
