"""Plans: which noise levels a reverse chain visits, noisiest first, and which step the network is told there.

A plan is plain float64 data computed before the loop (so the loop never synchronises with the host).  Plans:
every step or an evenly re-spaced subset (`spaced_plan`), levels evenly spaced in log-SNR (`logsnr_plan`),
the other spacings and explicit `levels` of audiodiff/sampling/spacing.py (`placed_plan` picks among them), or
DiffWave's fast inference schedule aligned to fractional training steps (`fast_plan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..schedule import NoiseSchedule
from .spacing import (check_spacing, custom_levels, karras_levels, leading_levels, max_steps_from, top_alpha_bar,
                       trailing_levels)

DIFFWAVE_FAST_BETAS = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)        # DiffWave's 6-step list for its T = 50 models
DIFFWAVE_FAST_BETAS_T200 = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.7)   # ... and for its T = 200 models (SC09)


@dataclass
class Plan:
    """Reverse steps, noisiest first.  Step i moves x from level alpha_bar[i] to alpha_bar_prev[i]."""

    t_model: Tensor          # [S] float64, the step index the network is given (may be fractional)
    alpha_bar: Tensor        # [S] float64, ᾱ of the current state
    alpha_bar_prev: Tensor   # [S] float64, ᾱ after the step; 1.0 on the last step (x_0)

    def __len__(self) -> int:
        return self.t_model.numel()


def _start_and_count(schedule: NoiseSchedule, steps: int | None, t_start: float | None) -> tuple[float, int]:
    """Validated start step (default T−1) and number of levels (default: every step from there down)."""
    top = float(schedule.num_steps - 1 if t_start is None else t_start)
    if not 0 <= top <= schedule.num_steps - 1:
        raise ValueError(f"start step must be in [0, {schedule.num_steps - 1}], got {t_start}")
    most = max_steps_from(top)
    n = most if steps is None else int(steps)
    if not 1 <= n <= most:
        raise ValueError(f"steps must be between 1 and {most}, got {steps}")
    return top, n


def spaced_plan(schedule: NoiseSchedule, steps: int | None = None, t_start: float | None = None) -> Plan:
    """`steps` evenly spaced levels from t_start (default T−1) down to step 0, both included.

    A fractional t_start begins at the interpolated level ᾱ(t_start) (see sqrt_alpha_cumprod_at), then
    visits integer steps below it; denoising starts there to match a measured noise level exactly.  The integer
    levels are spaced over the whole span from t_start (not from ⌊t_start⌋, which would spend a network call a
    fraction of a step below the start), and the last is always step 0.
    """
    top, n = _start_and_count(schedule, steps, t_start)
    floor = int(math.floor(top))
    if top > floor:
        below = _distinct_steps(torch.linspace(top, 0, n, dtype=torch.float64)[1:], floor)
        ts = torch.cat([torch.tensor([top], dtype=torch.float64), below])
        ab = torch.cat([schedule.sqrt_alpha_cumprod_at(ts[:1]) ** 2, schedule.alphas_cumprod[below.long()]])
    else:
        ts = torch.linspace(floor, 0, n, dtype=torch.float64).round().unique_consecutive()
        ab = schedule.alphas_cumprod[ts.long()]
    return _plan(ts, ab)


def _distinct_steps(levels: Tensor, ceiling: int) -> Tensor:
    """Round decreasing levels [k] to distinct integer steps in [0, ceiling], ending at 0 (k <= ceiling + 1):
    where rounding makes two equal, the upper one moves up by one step."""
    steps = levels.round().clamp(0, ceiling)
    if steps.numel():
        steps[-1] = 0
        for j in range(steps.numel() - 2, -1, -1):
            steps[j] = max(steps[j], steps[j + 1] + 1)
    return steps


def logsnr_plan(schedule: NoiseSchedule, steps: int | None = None, t_start: float | None = None,
                lambda_min: float | None = None) -> Plan:
    """`steps` levels evenly spaced in half log-SNR λ = log(√ᾱ/√(1−ᾱ)), from t_start (default T−1) to step 0.

    DPM-Solver++ is an exponential integrator in λ: uniform λ steps keep its error small, where uniform
    t steps leave a few huge λ steps near t = 0 (on Gaussian data, 20 λ-uniform steps land within 4% of
    the data variance; 20 t-uniform steps overshoot by over 50%).  Levels off the integer grid are told
    to the network as fractional steps (the DiffWave alignment).  lambda_min: start at λ = lambda_min
    when the start step's λ lies below it (see audiodiff.sampling.spacing).
    """
    top, n = _start_and_count(schedule, steps, t_start)
    ab_top = top_alpha_bar(schedule, top, lambda_min)
    ab_bottom = schedule.alphas_cumprod[:1]
    lam = torch.linspace(half_lambda(float(ab_top)), half_lambda(float(ab_bottom)), n, dtype=torch.float64)
    ab = torch.sigmoid(2 * lam)
    ab[-1], ab[0] = ab_bottom[0], ab_top[0]   # one step: the start level (not step 0)
    return _plan(schedule.continuous_step(ab), ab)


def half_lambda(alpha_bar: float) -> float:
    """Half log-SNR λ = log(√ᾱ / √(1−ᾱ)) of one level, in double precision on the host."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def placed_plan(schedule: NoiseSchedule, steps: int | None, t_start: float | None, spacing: str | None = None,
                lambda_min: float | None = None, levels: Sequence[float] | None = None) -> Plan:
    """The plan of a sampler that visits levels it is told: `levels` if given, else `steps` levels from
    t_start placed by `spacing` (audiodiff/sampling/spacing.py; the sampler's own default is filled in by the loop)."""
    if levels is not None:
        if spacing is not None or lambda_min is not None:
            raise ValueError("give either levels (explicit steps) or a spacing, not both")
        ts, ab = custom_levels(schedule, levels, t_start)
        if steps is not None and steps != len(ts):
            raise ValueError(f"steps={steps} but levels lists {len(ts)} steps")
        return _plan(ts, ab)
    spacing = "uniform" if spacing is None else spacing
    check_spacing(spacing, lambda_min, t_start)
    if spacing == "uniform":
        return spaced_plan(schedule, steps, t_start)
    if spacing == "logsnr":
        return logsnr_plan(schedule, steps, t_start, lambda_min)
    top, n = _start_and_count(schedule, steps, t_start)
    if spacing == "karras":
        return _plan(*karras_levels(schedule, top, n, lambda_min))
    if spacing == "trailing":
        return _plan(*trailing_levels(schedule, top, n))
    return _plan(*leading_levels(schedule, int(top), n))


def check_fast_betas(betas: Sequence[float] | Tensor) -> Tensor:
    """A fast inference β list [S] → float64 tensor, or ValueError unless it is non-empty with every β in (0, 1)."""
    values = betas.tolist() if isinstance(betas, Tensor) else betas
    ok = isinstance(values, (list, tuple)) and len(values) > 0 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < 1 for b in values)
    if not ok:
        raise ValueError("fast_betas must be a non-empty list of numbers in (0, 1)")
    return torch.tensor([float(b) for b in values], dtype=torch.float64)


def fast_plan(schedule: NoiseSchedule, betas: Sequence[float] = DIFFWAVE_FAST_BETAS) -> Plan:
    """DiffWave Appendix B: a short inference schedule γ aligned to fractional training steps.

    For each inference level γ̄_s the network is told t_align = t + (√ᾱ_t − √γ̄_s)/(√ᾱ_t − √ᾱ_{t+1}),
    where ᾱ_{t+1} <= γ̄_s <= ᾱ_t.  Levels outside the training range are clamped to its ends.
    """
    gamma_bar = torch.cumprod(1 - check_fast_betas(betas), dim=0)
    t_align = schedule.continuous_step(gamma_bar)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), gamma_bar[:-1]])
    return Plan(t_align.flip(0), gamma_bar.flip(0), prev.flip(0))


def fast_betas_plan(schedule: NoiseSchedule, steps: int | None, t_start: float | None,
                    fast_betas: Sequence[float] | None = None) -> Plan:
    """The 'fast' sampler's plan: its β list (default DiffWave's T = 50 one) fixes the step count, so a given
    `steps` must equal the list's length; it always starts from its own noisiest level (t_start refused by
    the loop, which reads the sampler's record)."""
    fast_betas = DIFFWAVE_FAST_BETAS if fast_betas is None else fast_betas
    if steps is not None and steps != len(fast_betas):
        raise ValueError(f"sampler 'fast' takes its step count from its β list ({len(fast_betas)}), "
                         f"not steps={steps}")
    return fast_plan(schedule, fast_betas)


def _plan(ts: Tensor, ab: Tensor) -> Plan:
    """A Plan visiting levels ᾱ [S] (told to the network as steps ts [S]), ending at x_0."""
    return Plan(ts, ab, torch.cat([ab[1:], torch.ones(1, dtype=torch.float64)]))
