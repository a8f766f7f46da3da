"""Long recordings: denoise / inpaint / upsample in cross-faded windows (audiodiff/windows.py)."""

from __future__ import annotations

import pytest
import torch

import audiodiff
from audiodiff.windows import map_windows, taper, window_starts
from helpers.oracle import OracleNet
from helpers.recipes import SAMPLE_RATE


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
