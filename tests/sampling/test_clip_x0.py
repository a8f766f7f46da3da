"""x̂0 clipping and dynamic thresholding (GaussianDiffusion.clip_x0) and their use by every sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.schedule import NoiseSchedule
from helpers.oracle import GaussianOracle

SCHED = NoiseSchedule.linear(1000)


def loud_x0(seed=0):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(4, 2, 256, generator=g, dtype=torch.float64).float()


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("mode", ["clip", "dynamic"])
def test_clipped_x0_lies_in_unit_range_and_eps_stays_consistent(prediction, mode):
    diffusion = GaussianDiffusion(SCHED, prediction=prediction)
    ab = SCHED.alphas_cumprod[300]
    x0, eps = loud_x0(), torch.randn(4, 2, 256, generator=torch.Generator().manual_seed(1))
    x_t = ab.sqrt().float() * x0 + (1 - ab).sqrt().float() * eps
    out = diffusion.target(x0, eps, torch.full((4,), 300))
    model = lambda x, t: out  # noqa: E731  (a network that returns the exact target)
    x0_raw, _ = diffusion.predict(model, x_t, torch.full((4,), 300.0), ab)
    assert x0_raw.abs().max() > 2                       # there is something to clip
    x0_c, eps_c = diffusion.predict(model, x_t, torch.full((4,), 300.0), ab, clip_x0=mode)
    assert x0_c.min() >= -1 and x0_c.max() <= 1
    rebuilt = ab.sqrt().float() * x0_c + (1 - ab).sqrt().float() * eps_c
    assert torch.allclose(rebuilt, x_t, atol=1e-5)


def test_dynamic_threshold_scales_each_example_by_its_own_percentile():
    x0 = loud_x0()
    x0[1] = x0[1] / (x0[1].abs().max() * 1.01)      # example 1 already lies inside [−1, 1]
    x_t = x0 * 0.5
    ab = torch.tensor(0.25, dtype=torch.float64)
    clipped, _ = GaussianDiffusion.clip_x0(x0, x_t, ab, "dynamic", 0.9)
    assert torch.equal(clipped[1], x0[1])               # untouched: s = max(percentile, 1) = 1
    s = float(np.percentile(x0[0].abs().numpy(), 90, method="inverted_cdf"))   # nearest-rank 90th percentile
    assert torch.allclose(clipped[0], x0[0].clamp(-s, s) / s)
    assert (clipped[0].abs() == 1).float().mean() > 0.05   # the top 10 % sit at the bound


def test_clip_none_changes_nothing_and_unknown_mode_is_refused():
    diffusion = GaussianDiffusion(SCHED, prediction="eps")
    oracle = GaussianOracle(SCHED, "eps", mu=(3.0, -3.0))
    a = diffusion.sample(oracle, (2, 2, 32), sampler="ddim", steps=8, generator=torch.Generator().manual_seed(0))
    b = diffusion.sample(oracle, (2, 2, 32), sampler="ddim", steps=8, clip_x0="none",
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="clip_x0"):
        diffusion.sample(oracle, (2, 2, 32), sampler="ddim", steps=8, clip_x0="soft")
    with pytest.raises(ValueError, match="dynamic_percentile"):
        diffusion.sample(oracle, (2, 2, 32), sampler="ddim", steps=8, clip_x0="dynamic", dynamic_percentile=0)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "fast", "dpm++"])
def test_every_sampler_keeps_its_output_in_range_with_clipping(sampler):
    """Data far outside [−1, 1] (means ±3): with x̂0 clipped, every sampler's x_0 (= its last x̂0 or a step
    from it at ᾱ ≈ 1) stays near [−1, 1]; without, it does not."""
    diffusion = GaussianDiffusion(SCHED, prediction="eps")
    oracle = GaussianOracle(SCHED, "eps", mu=(3.0, -3.0))
    steps = None if sampler == "fast" else 10
    kw = dict(sampler=sampler, steps=steps)
    free = diffusion.sample(oracle, (8, 2, 32), generator=torch.Generator().manual_seed(0), **kw)
    clipped = diffusion.sample(oracle, (8, 2, 32), clip_x0="clip", generator=torch.Generator().manual_seed(0), **kw)
    assert free.abs().max() > 2
    assert torch.isfinite(clipped).all() and clipped.abs().max() < 1.2
