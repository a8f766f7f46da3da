"""Analytic oracle "denoisers" for Gaussian data, used to test samplers without any training.

Data: x0 ~ N(μ_c, σ_c²) independently per channel c (and per position).  For
x_t = a·x0 + s·ε with a = √ᾱ, s = √(1 − ᾱ) the exact posterior means are

    E[x0 | x_t] = μ + a σ² (x_t − a μ) / (a² σ² + s²)
    E[ε  | x_t] = s (x_t − a μ) / (a² σ² + s²)
    E[v  | x_t] = a E[ε | x_t] − s E[x0 | x_t]

The oracle is called like a network, model(x_t, t), where t is a float tensor [B] in training-step
units that may be fractional (DiffWave's fast sampler); √ᾱ at fractional t is taken from
`schedule.sqrt_alpha_cumprod_at` (linear interpolation of √ᾱ, the rule the fast plan inverts).
All arithmetic is float64; the result is cast back to x_t's dtype.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from audiodiff.schedule import NoiseSchedule

MU = (0.3, -0.2)
SIGMA = (0.5, 0.1)


class GaussianOracle:
    def __init__(self, schedule: NoiseSchedule, prediction: str, mu: Sequence[float] = MU,
                 sigma: Sequence[float] = SIGMA):
        if prediction not in ("eps", "v", "x0"):
            raise ValueError(prediction)
        self.schedule = schedule
        self.prediction = prediction
        self.mu = torch.tensor(list(mu), dtype=torch.float64)
        self.sigma = torch.tensor(list(sigma), dtype=torch.float64)
        self.calls: list[Tensor] = []   # the t tensors the sampler passed, in call order

    def levels(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(a, s) = (√ᾱ, √(1−ᾱ)) at the (fractional) steps t, float64 [B]."""
        a = self.schedule.sqrt_alpha_cumprod_at(t.detach().to("cpu", torch.float64))
        return a, (1.0 - a * a).clamp(min=0.0).sqrt()

    def posterior(self, x_t: Tensor, a: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """(E[x0|x_t], E[ε|x_t]) in float64 for per-example levels a, s: [B]."""
        shape = (-1,) + (1,) * (x_t.ndim - 1)
        a = a.reshape(shape)
        s = s.reshape(shape)
        c_shape = (1, -1) + (1,) * (x_t.ndim - 2)
        mu = self.mu.reshape(c_shape)
        var = (self.sigma ** 2).reshape(c_shape)
        x = x_t.detach().to("cpu", torch.float64)
        denom = a * a * var + s * s
        centred = x - a * mu
        return mu + a * var * centred / denom, s * centred / denom

    def posterior_x0_variance(self, a: float, s: float) -> Tensor:
        """Var[x0 | x_t] per channel: σ² s² / (a² σ² + s²)."""
        var = self.sigma ** 2
        return var * s * s / (a * a * var + s * s)

    def __call__(self, x_t: Tensor, t: Tensor, **cond) -> Tensor:
        assert t.ndim == 1 and t.shape[0] == x_t.shape[0], "t must be [B]"
        assert t.is_floating_point(), "the sampler must pass t as a float tensor"
        self.calls.append(t.detach().clone())
        a, s = self.levels(t)
        x0, eps = self.posterior(x_t, a, s)
        if self.prediction == "eps":
            out = eps
        elif self.prediction == "x0":
            out = x0
        else:
            shape = (-1,) + (1,) * (x_t.ndim - 1)
            out = a.reshape(shape) * eps - s.reshape(shape) * x0
        return out.to(device=x_t.device, dtype=x_t.dtype)


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor, int]:
    """Per-channel sample mean and (unbiased) variance of x: [B, C, L], and the count per channel."""
    flat = x.detach().to(torch.float64).transpose(0, 1).reshape(x.shape[1], -1)
    return flat.mean(dim=1), flat.var(dim=1), flat.shape[1]


def assert_gaussian_moments(x: Tensor, mu: Sequence[float] = MU, sigma: Sequence[float] = SIGMA,
                            z: float = 5.0, label: str = "") -> None:
    """Sample mean / variance per channel agree with N(μ, σ²) within z standard errors.

    SE(mean) = σ/√n;  SE(var) = σ² √(2/(n−1)) (exact for Gaussian samples).
    """
    assert torch.isfinite(x).all(), f"{label}: non-finite samples"
    mean, var, n = channel_stats(x)
    for c, (m, sd) in enumerate(zip(mu, sigma)):
        se_mean = sd / math.sqrt(n)
        se_var = sd ** 2 * math.sqrt(2.0 / (n - 1))
        assert abs(mean[c].item() - m) < z * se_mean, (
            f"{label}: channel {c} mean {mean[c].item():.5f} vs {m} (tol {z * se_mean:.5f})")
        assert abs(var[c].item() - sd ** 2) < z * se_var, (
            f"{label}: channel {c} var {var[c].item():.6f} vs {sd ** 2} (tol {z * se_var:.6f})")
