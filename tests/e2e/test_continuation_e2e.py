"""The end-to-end tests of tests/pipeline/test_continuation.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/pipeline/test_continuation.py's docstring."""

from __future__ import annotations

import torch

from audiodiff import tasks
from audiodiff.diffusion import GaussianDiffusion


WINDOW, OVERLAP, RHO = 32, 8, 0.9


class SmoothProcessOracle:
    """The exact ε-predictor for data that is a stationary Gaussian process along time, x0 ~ N(0, C) with
    C_ij = ρ^|i−j| (an AR(1) process, unit variance) in windows of WINDOW samples: E[ε | x_t] = s (a²C + s²I)⁻¹ x_t."""

    def __init__(self, diffusion: GaussianDiffusion):
        self.schedule = diffusion.schedule
        i = torch.arange(WINDOW, dtype=torch.float64)
        self.cov = RHO ** (i[:, None] - i[None, :]).abs()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **_) -> torch.Tensor:
        a = self.schedule.sqrt_alpha_cumprod_at(t.to(torch.float64))
        s = (1 - a * a).clamp_min(0).sqrt()
        eye = torch.eye(WINDOW, dtype=torch.float64)
        system = a[:, None, None] ** 2 * self.cov + s[:, None, None] ** 2 * eye           # [B, W, W]
        eps = s[:, None] * torch.linalg.solve(system, x[:, 0].to(torch.float64))           # [B, W]
        return eps[:, None].to(x.dtype)


def lag1(x: torch.Tensor, i: int) -> float:
    """Correlation over the batch of x[:, 0, i] and x[:, 0, i + 1]."""
    pair = x[:, 0, i:i + 2].to(torch.float64)
    return float(torch.corrcoef(pair.T)[0, 1])


def test_seams_carry_the_process_on_and_jumps_tighten_them():
    """With the exact predictor of a smooth process, the inside of every window has the process's lag-1
    correlation ρ; at a seam (last known sample | first new one; no cross-fade) plain replacement keeps most of the correlation
    that independent windows lose entirely (0.72 of 0.9 here), and RePaint's jumps bring it closer to ρ (0.85+).
    The level stays within 2 dB everywhere (replacement dips it by about that on the first new samples)."""
    diffusion = GaussianDiffusion.from_config({"schedule": "linear", "num_steps": 50, "beta_start": 1e-4,
                                               "beta_end": 0.2, "prediction": "eps"})
    oracle = SmoothProcessOracle(diffusion)
    length = WINDOW + 3 * (WINDOW - OVERLAP)                      # four windows, three seams
    seams = [WINDOW + k * (WINDOW - OVERLAP) - 1 for k in range(3)]
    inside = [WINDOW // 2, WINDOW + 10, length - 10]
    seam_corr = {}
    for jumps in (1, 5):
        g = torch.Generator().manual_seed(0)
        x = tasks.continuation(diffusion, oracle, (600, 1, length), WINDOW, overlap=OVERLAP, sampler="ddpm",
                               generator=g, resample=jumps, jump_length=5, fade=0)
        assert x.shape == (600, 1, length)
        assert all(abs(lag1(x, i) - RHO) < 0.08 for i in inside)
        level = x[:, 0].to(torch.float64).pow(2).mean(0).sqrt()     # RMS at each position, over the batch
        assert float(level.min()) > 0.75 and float(level.max()) < 1.2  # no step in level beyond 2.5 dB
        seam_corr[jumps] = min(lag1(x, i) for i in seams)
    apart = torch.cat([diffusion.sample(oracle, (600, 1, WINDOW), generator=g) for _ in range(2)], dim=-1)
    assert abs(lag1(apart, WINDOW - 1)) < 0.15                    # independent windows break the process
    assert seam_corr[1] > 0.6 and seam_corr[5] > seam_corr[1] + 0.05, seam_corr
