"""The one reverse loop, from x_T ~ N(0, I) (or a given x_start at step t_start) to x_0.

A sampler (registry.py) is a *plan* (which noise levels to visit, and which step index the network is told;
plans.py) plus an *update rule* (steps.py).  The loop takes them as one SamplerCall (call.py: the sampler's
record and its options, checked when the call was made), builds both once, then calls the network and the rule
per step; coefficients are float64 host data made before the loop, so it never synchronises with the host.
RePaint's resampling (`repaint_order`) and constraints (inpainting, bandwidth extension) work with any rule
whose record allows them.

The loop needs only `diffusion.schedule` and `diffusion.predict` (the `Denoiser` protocol), so this package
does not import audiodiff.diffusion, and GaussianDiffusion.sample can delegate here without an import cycle.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import torch
from torch import Tensor

from ..progress import progress
from ..schedule import NoiseSchedule
from .call import SamplerCall, option_names
from .plans import Plan
from .registry import quoted, samplers_where
from .steps import randn

# An ε-network: model(x_t [B, C, L], t [B] float, **cond) -> [B, C, L] (see DESIGN.md, Conventions).
Model = Callable[..., Tensor]
# A constraint applied after every step, e.g. inpainting: (x at level ᾱ_prev, ᾱ_prev) -> x.
Constraint = Callable[[Tensor, float], Tensor]


class Denoiser(Protocol):
    """What the loop needs of a diffusion (audiodiff.GaussianDiffusion is one): its schedule, and the network
    call turned into (x̂0, ε̂) at a (possibly fractional) step t_model [B] and true level alpha_bar."""

    schedule: NoiseSchedule

    def predict(self, model: Model, x_t: Tensor, t_model: Tensor, alpha_bar: Tensor, clip_x0: str = "none",
                dynamic_percentile: float = 0.995, **cond: Any) -> tuple[Tensor, Tensor]: ...


def make_plan(diffusion: Denoiser, sampler: str, steps: int | None, fast_betas: Sequence[float] | None,
              t_start: float | None = None, spacing: str | None = None, lambda_min: float | None = None,
              levels: Sequence[float] | None = None) -> Plan:
    """The plan of sampler `sampler` with these options, from t_start (SamplerCall.plan, for callers holding a name)."""
    call = SamplerCall.of(sampler, steps, fast_betas=fast_betas, spacing=spacing, lambda_min=lambda_min, levels=levels)
    return call.plan(diffusion.schedule, t_start)


@torch.no_grad()
def sample(diffusion: Denoiser, model: Model, shape: Sequence[int], call: SamplerCall, *,
           generator: torch.Generator | None = None, device: torch.device | str | None = None,
           x_start: Tensor | None = None, t_start: float | None = None, constraint: Constraint | None = None,
           resample: int = 1, jump_length: int = 1, progress_bar: bool = False, **cond: Any) -> Tensor:
    """Generate x_0 of `shape` ([B, C, L]) by running the sampler of `call` on the diffusion's schedule.

    call: a SamplerCall, the sampler and its settings checked once: `SamplerCall.of("ddim", steps=50, eta=0.0)`,
    or a run's [sample] settings under the given ones (`SampleOptions.resolve`); GaussianDiffusion.sample makes
    one from keywords.  The samplers (registry.py): "ddpm" (Ho et al. eq. 11; variance "posterior" = β̃_t, the
    default, or "beta" = β_t), "ddim" (η = eta, default 0), "fast" (DiffWave alignment, β list `fast_betas`;
    variance as ddpm), "dpm++" (DPM-Solver++ 2M); steps None → every training step (fast: its β list); spacing
    ("uniform", "trailing", "leading", "logsnr", "karras"; default: the sampler's own), lambda_min (λ clip for
    logsnr/karras) and levels (explicit, possibly fractional, training steps): where the steps go, see
    audiodiff.sampling.spacing; clip_x0 ("none", "clip" to [−1, 1], "dynamic" thresholding at
    `dynamic_percentile`): applied to every x̂0 the samplers see, see GaussianDiffusion.clip_x0.
    x_start/t_start: begin part-way, from a state at training step t_start instead of pure noise.
    `constraint(x, ᾱ_prev)` runs after every step (inpainting, bandwidth extension); with resample = r > 1
    (RePaint's jump_n_sample) the chain jumps back up `jump_length` steps after every jump_length-th step, r − 1
    times, re-noising with q(x_t | x_s) (see repaint_order); jump_length 1 repeats each step r times.
    `cond` goes to the model.  device: where x lives; default x_start's device, else the model's (`model_device`).
    """
    if not isinstance(call, SamplerCall):
        raise TypeError(f"sample() takes a SamplerCall, got {call!r}: SamplerCall.of(sampler, steps, **options), "
                        f"or GaussianDiffusion.sample(model, shape, sampler=..., steps=..., ...)")
    misplaced = sorted(set(cond) & {"sampler", "steps", *option_names()})
    if misplaced:
        raise TypeError(f"{', '.join(misplaced)}: sampler settings go in the SamplerCall "
                        f"(SamplerCall.of(sampler, steps, **options)), not to sample()")
    record = call.sampler
    if (x_start is None) != (t_start is None):
        raise ValueError("x_start and t_start go together")
    if int(resample) < 1 or (resample > 1 and not record.resamples):
        raise ValueError(f"resample must be >= 1, and > 1 only with {quoted(samplers_where(lambda s: s.resamples))} "
                         f"(got {resample}, {record.name!r})")
    if int(jump_length) < 1:
        raise ValueError(f"jump_length must be >= 1, got {jump_length}")

    plan = call.plan(diffusion.schedule, t_start)
    step = call.step(plan, generator)
    device = torch.device(device) if device is not None else (
        x_start.device if x_start is not None else model_device(model))
    x = randn(shape, generator, device) if x_start is None else x_start.to(device=device, dtype=torch.float32)
    b = x.shape[0]

    t_dev = plan.t_model.to(device=device, dtype=torch.float32)
    ab_dev = plan.alpha_bar.to(device)
    ab_list, prev_list = plan.alpha_bar.tolist(), plan.alpha_bar_prev.tolist()
    order = repaint_order(len(plan), int(jump_length), int(resample))
    done = -1   # the last step taken: x is at level alpha_bar_prev[done]
    for i in progress(order, total=len(order), description=f"sampling ({record.name})", enabled=progress_bar):
        if i <= done:  # RePaint: jump back up from level ᾱ after step `done` to ᾱ_t of step i in one draw
            ratio = ab_list[i] / prev_list[done]
            x = ratio ** 0.5 * x + (1 - ratio) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        x0_hat, eps_hat = diffusion.predict(model, x, t_dev[i].expand(b), ab_dev[i], clip_x0=call.clip_x0,
                                            dynamic_percentile=call.dynamic_percentile, **cond)
        x = step(i, x, x0_hat, eps_hat)
        if constraint is not None:
            x = constraint(x, prev_list[i])
        done = i
    return x


def repaint_order(num_steps: int, jump_length: int = 1, jump_n_sample: int = 1) -> list[int]:
    """The plan steps in the order RePaint (Lugmayr et al. 2022, `get_schedule_jump`) takes them.  Jump points
    are counted from the clean end: on landing at time t = 0, L, 2L, … (t < T − L, L = jump_length; plan step i
    lands at t = T − 2 − i) the chain goes back up L steps and down again, jump_n_sample − 1 times, so the last
    steps before x_0 are resampled too and no jump climbs to the pure-noise level.  A step index not above the
    previous one means "re-noise back to that step's level first"."""
    jumps_left = {num_steps - 2 - t: jump_n_sample - 1 for t in range(0, num_steps - jump_length, jump_length)}
    order, i = [], 0
    while i < num_steps:
        order.append(i)
        if jumps_left.get(i, 0) > 0:
            jumps_left[i] -= 1
            i += 1 - jump_length
        else:
            i += 1
    return order


def model_device(model: Model) -> torch.device:
    """The device of the model's first parameter (an nn.Module, or a guidance wrapper holding one); cpu for a
    plain function."""
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")
