"""Reverse loops from x_T ~ N(0, I) to x_0, all on one schedule object and one model call.

A sampler is a *plan* (which noise levels to visit, and which step index the network is told) plus an
*update rule*.  Plans: every step (`ddpm`), an evenly re-spaced subset (`ddpm`/`ddim` with `steps`),
levels evenly spaced in log-SNR (`dpm++`), or DiffWave's fast inference schedule aligned to fractional
training steps (`fast`); any plan-based sampler takes another `spacing` or explicit `levels`
(audiodiff/spacing.py).
Update rules: Ho et al. 2020 eq. 11 (ancestral), DDIM (Song et al. 2021), DPM-Solver++(2M)
(Lu et al. 2022).  Coefficients are computed once in float64 before the loop, so the loop never
synchronises with the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from .diffusion import GaussianDiffusion, Model
from .progress import progress
from .schedule import NoiseSchedule
from .spacing import (check_spacing, custom_levels, default_spacing, karras_levels, leading_levels, top_alpha_bar,
                      trailing_levels)

SAMPLERS = ("ddpm", "ddim", "fast", "dpm++")
VARIANCES = ("posterior", "beta")
CLIP_X0 = ("none", "clip", "dynamic")
DIFFWAVE_FAST_BETAS = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)        # DiffWave's 6-step list for its T = 50 models
DIFFWAVE_FAST_BETAS_T200 = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.7)   # ... and for its T = 200 models (SC09)

# A constraint applied after every step, e.g. inpainting: (x at level ᾱ_prev, ᾱ_prev) -> x.
Constraint = Callable[[Tensor, float], Tensor]


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


def max_steps_from(t_start: float) -> int:
    """Levels available from step t_start down to 0: each integer step, plus a fractional start."""
    return math.floor(t_start) + 1 + (t_start % 1 > 0)


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
    prev = torch.cat([ab[1:], torch.ones(1, dtype=torch.float64)])
    return Plan(ts, ab, prev)


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
    when the start step's λ lies below it (see audiodiff.spacing).
    """
    top, n = _start_and_count(schedule, steps, t_start)
    ab_top = top_alpha_bar(schedule, top, lambda_min)
    ab_bottom = schedule.alphas_cumprod[:1]
    lam = torch.linspace(float(_lambda(float(ab_top))), float(_lambda(float(ab_bottom))), n, dtype=torch.float64)
    ab = torch.sigmoid(2 * lam)
    ab[-1], ab[0] = ab_bottom[0], ab_top[0]   # one step: the start level (not step 0)
    ts = schedule.continuous_step(ab)
    prev = torch.cat([ab[1:], torch.ones(1, dtype=torch.float64)])
    return Plan(ts, ab, prev)


def fast_plan(schedule: NoiseSchedule, betas: Sequence[float] = DIFFWAVE_FAST_BETAS) -> Plan:
    """DiffWave Appendix B: a short inference schedule γ aligned to fractional training steps.

    For each inference level γ̄_s the network is told t_align = t + (√ᾱ_t − √γ̄_s)/(√ᾱ_t − √ᾱ_{t+1}),
    where ᾱ_{t+1} <= γ̄_s <= ᾱ_t.  Levels outside the training range are clamped to its ends.
    """
    gammas = torch.as_tensor(list(betas), dtype=torch.float64)
    if gammas.numel() == 0 or not torch.all((gammas > 0) & (gammas < 1)):
        raise ValueError("fast sampler betas must be a non-empty list of values in (0, 1)")
    gamma_bar = torch.cumprod(1 - gammas, dim=0)
    t_align = schedule.continuous_step(gamma_bar)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), gamma_bar[:-1]])
    return Plan(t_align.flip(0), gamma_bar.flip(0), prev.flip(0))


def make_plan(diffusion: GaussianDiffusion, sampler: str, steps: int | None,
              fast_betas: Sequence[float] | None, t_start: float | None = None, spacing: str | None = None,
              lambda_min: float | None = None, levels: Sequence[float] | None = None) -> Plan:
    """The sampler's plan: fast → its β list; otherwise `levels` if given, else `spacing` (default: the
    sampler's own, see audiodiff.spacing.default_spacing) with `steps` levels from t_start."""
    if sampler == "fast":
        if spacing is not None or levels is not None or lambda_min is not None:
            raise ValueError("sampler 'fast' places its steps by its β list (fast_betas); spacing, levels and "
                             "lambda_min apply to 'ddpm', 'ddim' and 'dpm++'")
        fast_betas = DIFFWAVE_FAST_BETAS if fast_betas is None else fast_betas
        if steps is not None and steps != len(fast_betas):
            raise ValueError(f"sampler 'fast' takes its step count from its β list ({len(fast_betas)}), "
                             f"not steps={steps}")
        if t_start is not None:
            raise ValueError("sampler 'fast' always starts from its own noisiest level; "
                             "use 'ddpm', 'ddim' or 'dpm++' to start part-way")
        return fast_plan(diffusion.schedule, fast_betas)
    schedule = diffusion.schedule
    if levels is not None:
        if spacing is not None or lambda_min is not None:
            raise ValueError("give either levels (explicit steps) or a spacing, not both")
        ts, ab = custom_levels(schedule, levels, t_start)
        if steps is not None and steps != len(ts):
            raise ValueError(f"steps={steps} but levels lists {len(ts)} steps")
        return _plan(ts, ab)
    spacing = default_spacing(sampler) if spacing is None else spacing
    check_spacing(spacing, lambda_min, t_start)
    if spacing == "uniform":
        return spaced_plan(schedule, steps, t_start)
    if spacing == "logsnr":
        return logsnr_plan(schedule, steps, t_start, lambda_min)
    top, n = _start_and_count(schedule, steps, t_start)
    if spacing == "karras":
        return _plan(*karras_levels(schedule, top, n, lambda_min))
    if spacing == "trailing":
        if steps is None:
            n = math.floor(top) + 1
        return _plan(*trailing_levels(schedule, top, n))
    return _plan(*leading_levels(schedule, int(top), n))


def _plan(ts: Tensor, ab: Tensor) -> Plan:
    """A Plan visiting levels ᾱ [S] (told to the network as steps ts [S]), ending at x_0."""
    return Plan(ts, ab, torch.cat([ab[1:], torch.ones(1, dtype=torch.float64)]))


def classifier_free_guidance(model: Model, labels: Tensor, scale: float) -> Model:
    """Wrap a class-conditional model: output u + scale·(c − u), c with `labels`, u unlabelled.

    scale 1 is plain conditional sampling, 0 unconditional, > 1 sharper classes (Ho & Salimans 2022;
    their w is scale − 1).  Both passes run as one batch.  The model must have `num_classes` > 0.
    """
    if not math.isfinite(float(scale)):
        raise ValueError(f"the guidance scale must be a finite number, got {scale}")
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if not num_classes:
        raise ValueError("labels need a class-conditional model (model.num_classes > 0)")
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")

    def guided(x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        y = labels.to(x.device)
        if scale == 1.0:
            return model(x, t, labels=y, **cond)
        null = torch.full_like(y, num_classes)
        doubled = {k: torch.cat([v, v]) for k, v in cond.items()}
        c, u = model(torch.cat([x, x]), torch.cat([t, t]), labels=torch.cat([y, null]), **doubled).chunk(2)
        return u + scale * (c - u)

    guided.parameters = getattr(model, "parameters", None)  # type: ignore[attr-defined]
    return guided


def randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
          dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal noise drawn from `generator` (on its own device) and moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


@torch.no_grad()
def sample(diffusion: GaussianDiffusion, model: Model, shape: Sequence[int], sampler: str = "ddpm",
           steps: int | None = None, eta: float | None = None, variance: str = "posterior",
           fast_betas: Sequence[float] | None = None, generator: torch.Generator | None = None,
           device: torch.device | str | None = None, x_start: Tensor | None = None, t_start: float | None = None,
           constraint: Constraint | None = None, resample: int = 1, jump_length: int = 1,
           progress_bar: bool = False, spacing: str | None = None, lambda_min: float | None = None,
           levels: Sequence[float] | None = None, clip_x0: str = "none", dynamic_percentile: float = 0.995,
           **cond: Any) -> Tensor:
    """Generate x_0 of `shape` ([B, C, L]) by running `sampler` on the diffusion's schedule.

    sampler: "ddpm" (Ho et al. eq. 11; variance "posterior" = β̃_t or "beta" = β_t), "ddim" (η = eta,
    default 0), "fast" (DiffWave alignment, β list `fast_betas`), "dpm++" (DPM-Solver++ 2M).
    steps: None → every training step (fast: its β list).  x_start/t_start: begin part-way, from a
    state at training step t_start instead of pure noise.  `constraint(x, ᾱ_prev)` runs after every
    step (inpainting, bandwidth extension); with resample = r > 1 (RePaint's jump_n_sample) the chain jumps back
    up `jump_length` steps after every jump_length-th step, r − 1 times, re-noising with q(x_t | x_s) (see
    repaint_order); jump_length 1 repeats each step r times.  `cond` goes to the model.
    spacing ("uniform", "trailing", "leading", "logsnr", "karras"; default: dpm++ logsnr, else uniform),
    lambda_min (λ clip for logsnr/karras) and levels (explicit, possibly fractional, training steps): where the
    steps go, see audiodiff.spacing.  clip_x0 ("none", "clip" to [−1, 1], "dynamic" thresholding at
    `dynamic_percentile`): applied to every x̂0 the samplers see, see GaussianDiffusion.clip_x0.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    if eta is not None and sampler != "ddim":
        raise ValueError(f"eta applies to the 'ddim' sampler only, not {sampler!r}")
    eta = 0.0 if eta is None else float(eta)
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if fast_betas is not None and sampler != "fast":
        raise ValueError(f"fast_betas applies to the 'fast' sampler only, not {sampler!r}")
    if (x_start is None) != (t_start is None):
        raise ValueError("x_start and t_start go together")
    if int(resample) < 1 or (resample > 1 and sampler not in ("ddpm", "ddim")):
        raise ValueError(f"resample must be >= 1, and > 1 only with 'ddpm' or 'ddim' (got {resample}, {sampler!r})")
    if int(jump_length) < 1:
        raise ValueError(f"jump_length must be >= 1, got {jump_length}")
    if clip_x0 not in CLIP_X0:
        raise ValueError(f"clip_x0 must be one of {', '.join(CLIP_X0)}, got {clip_x0!r}")
    if not 0.0 < float(dynamic_percentile) <= 1.0:
        raise ValueError(f"dynamic_percentile must be in (0, 1], got {dynamic_percentile}")

    plan = make_plan(diffusion, sampler, steps, fast_betas, t_start, spacing, lambda_min, levels)
    device = torch.device(device) if device is not None else (
        x_start.device if x_start is not None else _model_device(model))
    x = randn(shape, generator, device) if x_start is None else x_start.to(device=device, dtype=torch.float32)
    b = x.shape[0]

    ab, ab_prev = plan.alpha_bar, plan.alpha_bar_prev
    t_dev = plan.t_model.to(device=device, dtype=torch.float32)
    ab_dev = ab.to(device)
    ab_list, prev_list = ab.tolist(), ab_prev.tolist()
    prev_x0: Tensor | None = None

    order = repaint_order(len(plan), int(jump_length), int(resample))
    done = -1   # the last step taken: x is at level alpha_bar_prev[done]
    for i in progress(order, total=len(order), description=f"sampling ({sampler})", enabled=progress_bar):
        last = i == len(plan) - 1
        a_t, a_prev = ab_list[i], prev_list[i]
        if i <= done:  # RePaint: jump back up from level ᾱ after step `done` to ᾱ_t of step i in one draw
            ratio = a_t / prev_list[done]
            x = ratio ** 0.5 * x + (1 - ratio) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        x0_hat, eps_hat = diffusion.predict(model, x, t_dev[i].expand(b), ab_dev[i], clip_x0=clip_x0,
                                            dynamic_percentile=dynamic_percentile, **cond)
        if sampler in ("ddpm", "fast"):
            x = _ancestral_step(x, eps_hat, a_t, a_prev, variance, last, generator)
        elif sampler == "ddim":
            x = _ddim_step(x0_hat, eps_hat, a_t, a_prev, eta, last, generator)
        else:
            h_prev = _lambda(ab_list[i - 1]) if i > 0 else None
            x = _dpmpp_2m_step(x, x0_hat, prev_x0, a_t, a_prev, h_prev, last)
            prev_x0 = x0_hat
        if constraint is not None:
            x = constraint(x, a_prev)
        done = i
    return x


def repaint_order(num_steps: int, jump_length: int = 1, jump_n_sample: int = 1) -> list[int]:
    """The plan steps in the order RePaint (Lugmayr et al. 2022) takes them: after every jump_length-th step
    (the final step excepted) the chain goes back up jump_length steps and down again, jump_n_sample − 1 times.
    A step index not above the previous one means "re-noise back to that step's level first"."""
    jumps_left = {i: jump_n_sample - 1 for i in range(jump_length - 1, num_steps - 1, jump_length)}
    order, i = [], 0
    while i < num_steps:
        order.append(i)
        if jumps_left.get(i, 0) > 0:
            jumps_left[i] -= 1
            i += 1 - jump_length
        else:
            i += 1
    return order


def _model_device(model: Model) -> torch.device:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def _ancestral_step(x: Tensor, eps: Tensor, a_t: float, a_prev: float, variance: str, last: bool,
                    generator: torch.Generator | None) -> Tensor:
    """Ho et al. 2020 eq. 11: mean = (x_t − β/√(1−ᾱ_t)·ε̂)/√α, plus √var·z except on the last step."""
    alpha = a_t / a_prev
    beta = 1.0 - alpha
    mean = (x - (beta / (1.0 - a_t) ** 0.5) * eps) / alpha ** 0.5
    if last:
        return mean
    var = beta * (1.0 - a_prev) / (1.0 - a_t) if variance == "posterior" else beta
    return mean + var ** 0.5 * randn(x.shape, generator, x.device, x.dtype)


def _ddim_step(x0: Tensor, eps: Tensor, a_t: float, a_prev: float, eta: float, last: bool,
               generator: torch.Generator | None) -> Tensor:
    """DDIM: √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·z, σ = η·√((1−ᾱ_prev)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_prev))."""
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
    out = a_prev ** 0.5 * x0 + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps
    if sigma > 0 and not last:
        out = out + sigma * randn(x0.shape, generator, x0.device, x0.dtype)
    return out


def _lambda(alpha_bar: float) -> float:
    """Half log-SNR λ = log(√ᾱ / √(1−ᾱ))."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def _dpmpp_2m_step(x: Tensor, x0: Tensor, prev_x0: Tensor | None, a_t: float, a_prev: float,
                   lambda_prev_step: float | None, last: bool) -> Tensor:
    """DPM-Solver++(2M): exponential-integrator step on the data prediction, 2nd order from 2 past x̂0.

    The final step (to ᾱ = 1) is first order and returns x̂0, as in the reference implementation.
    """
    if last or a_prev >= 1.0:
        return x0
    lam_t, lam_next = _lambda(a_t), _lambda(a_prev)
    h = lam_next - lam_t
    d = x0
    if prev_x0 is not None and lambda_prev_step is not None:
        r = (lam_t - lambda_prev_step) / h
        d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
    s_t, s_next = (1 - a_t) ** 0.5, (1 - a_prev) ** 0.5
    return (s_next / s_t) * x - a_prev ** 0.5 * math.expm1(-h) * d
