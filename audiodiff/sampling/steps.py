"""Update rules: how one reverse step moves x from level ᾱ_t to ᾱ_prev given the network's (x̂0, ε̂).

Each rule is a builder `rule(plan, generator, **its options) -> Step`, made once per chain; the Step
`step(i, x, x0_hat, eps_hat) -> x` takes plan step i ([B, C, L] tensors in, the state at
plan.alpha_bar_prev[i] out) and owns whatever state the rule carries between steps (DPM-Solver++'s previous
x̂0).  Rules: Ho et al. 2020 eq. 11 (ancestral), DDIM (Song et al. 2021), DPM-Solver++(2M) (Lu et al. 2022).
The registry (registry.py) says which sampler uses which rule and which options it passes.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from .plans import Plan, half_lambda

VARIANCES = ("posterior", "beta")

# One reverse step: (plan step i, x at alpha_bar[i], x̂0, ε̂) -> x at alpha_bar_prev[i].
Step = Callable[[int, Tensor, Tensor, Tensor], Tensor]


def randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
          dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal noise drawn from `generator` (on its own device) and moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def ancestral(plan: Plan, generator: torch.Generator | None, variance: str = "posterior") -> Step:
    """Ho et al. 2020 eq. 11 on the plan's levels, variance "posterior" (β̃) or "beta" (β)."""
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    ab, prev, last = plan.alpha_bar.tolist(), plan.alpha_bar_prev.tolist(), len(plan) - 1

    def step(i: int, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        return _ancestral_step(x, eps, ab[i], prev[i], variance, i == last, generator)

    return step


def ddim(plan: Plan, generator: torch.Generator | None, eta: float = 0.0) -> Step:
    """DDIM with stochasticity η = eta in [0, 1] (0: deterministic)."""
    eta = float(eta)
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    ab, prev, last = plan.alpha_bar.tolist(), plan.alpha_bar_prev.tolist(), len(plan) - 1

    def step(i: int, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        return _ddim_step(x0, eps, ab[i], prev[i], eta, i == last, generator)

    return step


class DPMSolverPP2M:
    """DPM-Solver++(2M) on the plan's levels; keeps the previous step's x̂0 for its second-order term.

    Steps must be taken in order (the registry says this sampler does not resample)."""

    def __init__(self, plan: Plan, generator: torch.Generator | None):
        self.ab, self.prev, self.last = plan.alpha_bar.tolist(), plan.alpha_bar_prev.tolist(), len(plan) - 1
        self.prev_x0: Tensor | None = None

    def __call__(self, i: int, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        lambda_prev = half_lambda(self.ab[i - 1]) if i > 0 else None
        out = _dpmpp_2m_step(x, x0, self.prev_x0, self.ab[i], self.prev[i], lambda_prev, i == self.last)
        self.prev_x0 = x0
        return out


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
    out = ddim_mean(x0, eps, a_prev, sigma)
    if sigma > 0 and not last:
        out = out + sigma * randn(x0.shape, generator, x0.device, x0.dtype)
    return out


def ddim_mean(x0: Tensor, eps: Tensor, a_prev: float | Tensor, sigma: float = 0.0) -> Tensor:
    """DDIM's move to level ᾱ_prev without its noise: √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ (σ = 0: the deterministic
    step).  a_prev: one level, or a tensor broadcasting against x0 (a level per example, as distillation uses)."""
    rest = 1 - a_prev - sigma ** 2
    rest = rest.clamp(min=0.0) if isinstance(rest, Tensor) else max(rest, 0.0)
    return a_prev ** 0.5 * x0 + rest ** 0.5 * eps


def _dpmpp_2m_step(x: Tensor, x0: Tensor, prev_x0: Tensor | None, a_t: float, a_prev: float,
                   lambda_prev_step: float | None, last: bool) -> Tensor:
    """DPM-Solver++(2M): exponential-integrator step on the data prediction, 2nd order from 2 past x̂0.

    The final step (to ᾱ = 1) is first order and returns x̂0, as in the reference implementation.
    """
    if last or a_prev >= 1.0:
        return x0
    lam_t, lam_next = half_lambda(a_t), half_lambda(a_prev)
    h = lam_next - lam_t
    d = x0
    if prev_x0 is not None and lambda_prev_step is not None:
        r = (lam_t - lambda_prev_step) / h
        d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
    s_t, s_next = (1 - a_t) ** 0.5, (1 - a_prev) ** 0.5
    return (s_next / s_t) * x - a_prev ** 0.5 * math.expm1(-h) * d
