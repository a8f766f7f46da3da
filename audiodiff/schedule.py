"""Noise schedules for DDPM: β_t and everything derived from it, kept in float64.

Convention: t ∈ {0, …, T−1}, t = 0 is the least noisy step, ᾱ_t = ∏_{s≤t} (1 − β_s).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor

SCHEDULES = ("linear", "cosine", "betas")
NUM_STEPS = 1000                # T of Ho et al. 2020 and of the linear / cosine constructors
LINEAR_BETAS = (1e-4, 0.02)     # β_1 → β_T of the linear schedule (Ho et al. 2020; DiffWave)
BETAS_RULE = "betas must be a non-empty list of numbers in (0, 1)"


def gather(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] reshaped to broadcast against `like` ([B, ...]) and cast to its dtype/device."""
    out = values.to(like.device)[t.to(like.device).long()]
    return out.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


class NoiseSchedule:
    """A variance-preserving forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)."""

    def __init__(self, betas: Sequence[float] | Tensor, /, kind: str = "betas", **params: Any):
        try:
            betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(BETAS_RULE) from None
        if betas.numel() == 0 or not torch.all((betas > 0) & (betas < 1)):
            raise ValueError(BETAS_RULE)
        self.kind = kind
        self.params = params
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, the variance of q(x_{t−1} | x_t, x_0).
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def linear(cls, num_steps: int = NUM_STEPS, beta_start: float = LINEAR_BETAS[0],
               beta_end: float = LINEAR_BETAS[1]) -> "NoiseSchedule":
        """β linearly spaced from beta_start to beta_end (Ho et al. 2020; DiffWave)."""
        _check_steps(num_steps)
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"beta_start ({beta_start}) must be <= beta_end ({beta_end}), both in (0, 1)")
        betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
        return cls(betas, kind="linear", num_steps=num_steps, beta_start=beta_start, beta_end=beta_end)

    @classmethod
    def cosine(cls, num_steps: int = NUM_STEPS, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """Nichol & Dhariwal 2021: ᾱ(t) = cos²(((t/T) + s)/(1 + s) · π/2), β clipped at max_beta."""
        _check_steps(num_steps)
        steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        return cls(betas, kind="cosine", num_steps=num_steps, s=s, max_beta=max_beta)

    @classmethod
    def from_betas(cls, betas: Sequence[float] | Tensor) -> "NoiseSchedule":
        """An explicit β list, e.g. DiffWave's short T = 50 schedule."""
        schedule = cls(betas, kind="betas")
        schedule.params = {"betas": schedule.betas.tolist()}
        return schedule

    @classmethod
    def diffwave_short(cls) -> "NoiseSchedule":
        """DiffWave's T = 50 training schedule, β linear 1e-4 → 0.05."""
        return cls.from_betas(torch.linspace(1e-4, 0.05, 50, dtype=torch.float64))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "NoiseSchedule":
        """Rebuild from `to_config()` output (or a recipe's [diffusion] table)."""
        kind = cfg.get("schedule", SCHEDULES[0])
        if kind == "linear":
            return cls.linear(int(cfg.get("num_steps", NUM_STEPS)), float(cfg.get("beta_start", LINEAR_BETAS[0])),
                              float(cfg.get("beta_end", LINEAR_BETAS[1])))
        if kind == "cosine":
            return cls.cosine(int(cfg.get("num_steps", NUM_STEPS)), float(cfg.get("s", 0.008)),
                              float(cfg.get("max_beta", 0.999)))
        if kind == "betas":
            if "betas" not in cfg:
                raise ValueError("schedule = 'betas' needs a list: betas = [...]")
            return cls.from_betas(cfg["betas"])
        raise ValueError(f"unknown schedule {kind!r}: use one of {', '.join(SCHEDULES)}")

    def to_config(self) -> dict[str, Any]:
        return {"schedule": self.kind, **self.params}

    # ----------------------------------------------------------------- queries
    @property
    def num_steps(self) -> int:
        return self.betas.numel()

    def snr(self, t: Tensor) -> Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) at integer steps t, float64."""
        ab = self.alphas_cumprod[t.long().cpu()]
        return ab / (1 - ab)

    def sqrt_alpha_cumprod_at(self, t: Tensor) -> Tensor:
        """√ᾱ at fractional steps by linear interpolation of √ᾱ (the rule DiffWave's fast sampler inverts)."""
        t = t.to(torch.float64).cpu().clamp(0, self.num_steps - 1)
        lo = t.floor().long().clamp(max=self.num_steps - 1)
        hi = (lo + 1).clamp(max=self.num_steps - 1)
        w = t - lo
        return (1 - w) * self.sqrt_alphas_cumprod[lo] + w * self.sqrt_alphas_cumprod[hi]

    def continuous_step(self, alpha_bar: Tensor) -> Tensor:
        """The fractional step whose interpolated √ᾱ (see sqrt_alpha_cumprod_at) equals √alpha_bar.

        DiffWave's alignment t + (√ᾱ_t − √γ̄)/(√ᾱ_t − √ᾱ_{t+1}); levels outside the schedule clamp to its ends.
        """
        target = torch.as_tensor(alpha_bar, dtype=torch.float64).sqrt()
        sqrt_ab = self.sqrt_alphas_cumprod
        if self.num_steps == 1:
            return torch.zeros_like(target)
        # last step whose √ᾱ is still >= the target (√ᾱ decreases with t)
        t = ((sqrt_ab[None, :] >= target.reshape(-1, 1)).sum(dim=1) - 1).clamp(0, self.num_steps - 2)
        upper, lower = sqrt_ab[t], sqrt_ab[t + 1]
        frac = ((upper - target.reshape(-1)) / (upper - lower)).clamp(0, 1)
        return (t.to(torch.float64) + frac).reshape(target.shape)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·noise.  x0: [B, ...], t: LongTensor [B]."""
        if noise is None:
            noise = torch.randn_like(x0)
        return gather(self.sqrt_alphas_cumprod, t, x0) * x0 + gather(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.kind}, T={self.num_steps})"


def _check_steps(num_steps: int) -> None:
    if int(num_steps) < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
