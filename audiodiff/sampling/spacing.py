"""Where a shortened reverse chain puts its steps: one choice, `spacing`, that every plan-based sampler takes.

A spacing turns (schedule, step count, start step) into the noise levels the chain visits, noisiest first,
as (t_model [S] float64, alpha_bar [S] float64): the step the network is told (fractional off the integer
grid, via `schedule.continuous_step`) and the true ᾱ of the state there.  `audiodiff.sampling` turns that
into a Plan (sampling/plans.py); "uniform" and "logsnr" are its `spaced_plan` / `logsnr_plan`, the rest live here.

- "uniform": t evenly spaced from the start to step 0 (both kept).
- "trailing": diffusers' timestep_spacing="trailing": round(T − k·T/S) − 1, k = 0..S−1; starts at the top,
  the last step jumps from about T/S − 1 straight to x_0 (never visits step 0).  Every sampler's default:
  it had the highest mean quality over 2–50 steps in benchmarks/studies/few_step.py on cosine and linear runs.
- "leading": diffusers' "leading": k·⌊T/S⌋, k = S−1..0; ends at step 0 but starts below the top (the
  pure-noise input is told it is at step (S−1)·⌊T/S⌋; Lin et al. 2024 show why that hurts).
- "logsnr": half log-SNR λ evenly spaced.
- "karras": σ = √((1−ᾱ)/ᾱ) spaced as (σ_max^(1/ρ) + k/(S−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, ρ = 7
  (Karras et al. 2022, eq. 5), between the start's σ and step 0's.
- a custom list `levels`: explicit training steps, strictly decreasing, fractional allowed (`nested_levels`
  makes the halving lists progressive distillation trains on and records in a student's [sample] levels).

`lambda_min` (logsnr, karras; from pure noise only) clips the top of the chain at λ = lambda_min
(diffusers' lambda_min_clipped): a cosine schedule's λ ≈ −10 at t = T−1, and λ-uniform steps spent between
−10 and −5 change nothing audible.  The chain then starts at the clipped level, treating x_T ~ N(0, I) as
a state there (at λ = −5, √ᾱ ≈ 0.007).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import torch
from torch import Tensor

from ..schedule import NoiseSchedule

SPACINGS = ("uniform", "trailing", "leading", "logsnr", "karras")
LAMBDA_SPACINGS = ("logsnr", "karras")   # the spacings `lambda_min` clips
PART_WAY_SPACINGS = ("uniform", "trailing", "logsnr", "karras")   # those that can start at a given level (t_start)
KARRAS_RHO = 7.0


def half_logsnr(alpha_bar: Tensor | float) -> Tensor:
    """λ = log(√ᾱ/√(1−ᾱ)), float64."""
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    return 0.5 * (ab.log() - torch.log1p(-ab))


def check_spacing(spacing: str, lambda_min: float | None, t_start: float | None) -> None:
    """Reject an unknown spacing, or a λ clip where it has no meaning."""
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}: choose one of {', '.join(SPACINGS)}")
    if lambda_min is not None:
        if spacing not in LAMBDA_SPACINGS:
            raise ValueError(f"lambda_min applies to spacing {' or '.join(map(repr, LAMBDA_SPACINGS))}, not {spacing!r}")
        if not math.isfinite(lambda_min):
            raise ValueError(f"lambda_min must be a finite number, got {lambda_min}")
        if t_start is not None:
            raise ValueError("lambda_min clips a chain that starts from pure noise; a part-way start "
                             "(t_start) must begin at its own noise level")
    if spacing not in PART_WAY_SPACINGS and t_start is not None:
        *others, last = PART_WAY_SPACINGS
        raise ValueError(f"spacing {spacing!r} starts below the given level; use {', '.join(map(repr, others))} or "
                         f"{last!r} to start part-way")


def top_alpha_bar(schedule: NoiseSchedule, top: float, lambda_min: float | None) -> Tensor:
    """ᾱ [1] at the start step, raised to λ = lambda_min if it lies below that."""
    ab = schedule.sqrt_alpha_cumprod_at(torch.tensor([top], dtype=torch.float64)) ** 2
    if lambda_min is not None and float(half_logsnr(ab)) < lambda_min:
        ab = torch.sigmoid(torch.tensor([2.0 * lambda_min], dtype=torch.float64))
    return ab


def karras_levels(schedule: NoiseSchedule, top: float, n: int, lambda_min: float | None = None,
                  rho: float = KARRAS_RHO) -> tuple[Tensor, Tensor]:
    """n levels ρ-spaced in σ from the start step's σ (clipped at λ = lambda_min) to step 0's."""
    ab_top = top_alpha_bar(schedule, top, lambda_min)
    ab_bottom = schedule.alphas_cumprod[:1]
    s_max, s_min = (((1 - a) / a).sqrt() for a in (ab_top, ab_bottom))
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    sigma = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
    ab = 1 / (1 + sigma ** 2)
    ab[-1], ab[0] = ab_bottom[0], ab_top[0]   # one step: the start level (not step 0)
    ts = schedule.continuous_step(ab)
    if lambda_min is None:
        ts[0] = top
    return ts, ab


def max_steps_from(t_start: float) -> int:
    """Levels available from step t_start down to 0: each integer step, plus a fractional start."""
    return math.floor(t_start) + 1 + (t_start % 1 > 0)


def trailing_levels(schedule: NoiseSchedule, top: float, n: int) -> tuple[Tensor, Tensor]:
    """round(T − k·T/n) − 1 with T = top + 1, k = 0..n−1 (diffusers' "trailing"; round half to even, as
    numpy's): the start itself, then integer steps.  Rounding T − k·T/n before subtracting 1 is the definition;
    rounding top − k·T/n differs by one step at exact .5 ties (n = 16, 32, 48, … of T = 1000).
    From a fractional start, the largest count (max_steps_from) is the start and every integer step below
    it, where the formula's spacing T/n < 1 would repeat steps."""
    _check_count(top, n, max_steps_from(top), "trailing")
    if n > math.floor(top) + 1:
        ts = torch.tensor([top] + list(range(math.floor(top), -1, -1)), dtype=torch.float64)
        return ts, _alpha_bar_at(schedule, ts)
    if float(top).is_integer():   # exact: a float T·k/n can miss a .5 tie by one ulp
        T = int(top) + 1
        below = [round(Fraction(T * (n - k), n)) - 1 for k in range(1, n)]   # Fraction rounds half to even
    else:
        below = [round(top + 1 - k * (top + 1) / n) - 1 for k in range(1, n)]
    ts = torch.tensor([top] + below, dtype=torch.float64)
    return ts, _alpha_bar_at(schedule, ts)


def leading_levels(schedule: NoiseSchedule, top: int, n: int) -> tuple[Tensor, Tensor]:
    """k·⌊(top+1)/n⌋, k = n−1..0 (diffusers' "leading", steps_offset 0)."""
    _check_count(top, n, math.floor(top) + 1, "leading")
    ratio = (int(top) + 1) // n
    ts = torch.arange(n - 1, -1, -1, dtype=torch.float64) * ratio
    return ts, _alpha_bar_at(schedule, ts)


def custom_levels(schedule: NoiseSchedule, levels: Sequence[float], t_start: float | None = None
                  ) -> tuple[Tensor, Tensor]:
    """An explicit list of training steps, strictly decreasing, in [0, T−1]; fractional steps allowed."""
    ts = check_levels(levels, schedule.num_steps - 1)
    if t_start is not None and float(ts[0]) != float(t_start):
        raise ValueError(f"levels start at {float(ts[0])}, but the chain starts at step {t_start}: "
                         f"make the first level the start step")
    return ts, _alpha_bar_at(schedule, ts)


def nested_levels(num_steps: int, n: int) -> list[float]:
    """n levels T·k/n − 1, k = n..1, noisiest first (diffusers' "trailing" without its rounding): the chain
    starts at step T−1 and its last step jumps from T/n − 1 to x_0.  Unrounded, the n-level list is every other
    level of the 2n-level one, the nesting progressive distillation needs (audiodiff/training/distillation.py).
    Fractional levels are told to the network as fractional steps, like any `levels` list."""
    if not 1 <= n <= num_steps:
        raise ValueError(f"nested levels: n must be in [1, {num_steps}] (the diffusion steps), got {n}")
    return [num_steps * k / n - 1 for k in range(n, 0, -1)]


def check_levels(levels: Sequence[float], top: int) -> Tensor:
    """`levels` as float64 steps [S], or ValueError unless they are numbers, strictly decreasing, in [0, top]."""
    try:
        if isinstance(levels, (str, bytes)) or any(isinstance(v, (bool, str, bytes)) for v in levels):
            raise TypeError
        ts = torch.tensor([float(v) for v in levels], dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError(f"levels must be a list of numbers, got {levels!r}") from None
    if ts.numel() == 0:
        raise ValueError("levels must name at least one training step")
    if not torch.isfinite(ts).all() or ts.min() < 0 or ts.max() > top:
        raise ValueError(f"levels must lie in [0, {top}], got {levels!r}")
    if ts.numel() > 1 and not torch.all(ts[1:] < ts[:-1]):
        raise ValueError(f"levels must be strictly decreasing (noisiest first), got {levels!r}")
    return ts


def _alpha_bar_at(schedule: NoiseSchedule, ts: Tensor) -> Tensor:
    """ᾱ at (fractional) steps, by the interpolation the network's fractional steps use."""
    return schedule.sqrt_alpha_cumprod_at(ts) ** 2


def _check_count(top: float, n: int, most: int, name: str) -> None:
    """Refuse a level count a spacing cannot place between step `top` and 0."""
    if n > most:
        raise ValueError(f"spacing {name!r} takes at most {most} steps from step {top}, got {n}")
