"""Test helpers: an analytic Gaussian "denoiser" and the exact output law of each sampler on it.

Data: x0 ~ N(μ_c, σ_c²) independently per channel c (and per position).  For x_t = a·x0 + s·ε with
a = √ᾱ, s = √(1 − ᾱ) the exact posterior means are

    E[x0 | x_t] = μ + a σ² (x_t − a μ) / (a² σ² + s²)
    E[ε  | x_t] = s (x_t − a μ) / (a² σ² + s²)
    E[v  | x_t] = a E[ε | x_t] − s E[x0 | x_t]

`GaussianOracle` is called like a network, model(x_t, t), where t is a float tensor [B] in
training-step units that may be fractional (DiffWave's fast sampler); √ᾱ at fractional t comes from
`schedule.sqrt_alpha_cumprod_at` (linear interpolation of √ᾱ, the rule the fast plan inverts).

Because the oracle is affine in x_t, every sampler's output on it is exactly Gaussian, with moments
that `exact_output_law` computes by pushing mean/variance through the update equations written
from the papers (Ho et al. 2020 eq. 11; Song et al. 2021 eq. 12/16; Lu et al. 2022 DPM-Solver++(2M)),
independently of audiodiff.sampling.  That separates discretisation bias (a property of the
method) from implementation errors (what the tests are after).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from audiodiff.schedule import NoiseSchedule

MU = (0.3, -0.2)
SIGMA = (0.5, 0.25)


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
        a = self.schedule.sqrt_alpha_cumprod_at(t.detach().to("cpu", torch.float64)).to(torch.float64)
        return a, (1.0 - a * a).clamp(min=0.0).sqrt()

    def posterior(self, x_t: Tensor, a: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """(E[x0|x_t], E[ε|x_t]) in float64; a, s: per-example levels [B] (or scalars)."""
        x = x_t.detach().to("cpu", torch.float64)
        shape = (-1,) + (1,) * (x.ndim - 1)
        a = torch.as_tensor(a, dtype=torch.float64).reshape(shape)
        s = torch.as_tensor(s, dtype=torch.float64).reshape(shape)
        c_shape = (1, -1) + (1,) * (x.ndim - 2)
        mu = self.mu.reshape(c_shape)
        var = (self.sigma ** 2).reshape(c_shape)
        denom = a * a * var + s * s
        centred = x - a * mu
        return mu + a * var * centred / denom, s * centred / denom

    def posterior_x0_variance(self, alpha_bar: float) -> Tensor:
        """Var[x0 | x_t] per channel at level ᾱ: σ² (1−ᾱ) / (ᾱ σ² + 1 − ᾱ)."""
        var = self.sigma ** 2
        return var * (1 - alpha_bar) / (alpha_bar * var + 1 - alpha_bar)

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


class OracleNet(torch.nn.Module):
    """The analytic Gaussian denoiser (white data, σ = 0.2) as a module, so a Pipeline can hold it."""

    def __init__(self, schedule):
        super().__init__()
        self.oracle = GaussianOracle(schedule, "eps", mu=[0.0], sigma=[0.2])

    def forward(self, x, t):
        return self.oracle(x, t)


def cumprod_py(betas: Sequence[float]) -> list[float]:
    """ᾱ_t = ∏_{s≤t} (1 − β_s) in plain Python floats, independent of torch."""
    out, p = [], 1.0
    for b in betas:
        p *= 1.0 - b
        out.append(p)
    return out


# --------------------------------------------------------------------------- noise-level plans
def spaced_levels(alphas_cumprod: Sequence[float], steps: int, top: int | None = None
                  ) -> tuple[list[float], list[float]]:
    """ᾱ before/after each reverse step for `steps` evenly spaced training steps top → 0 (both kept).

    Only used with (T, steps) pairs whose spacing hits no .5 rounding ties.
    """
    top = len(alphas_cumprod) - 1 if top is None else top
    if steps == 1:
        ts = [top]
    else:
        ts = [round(top * (1 - i / (steps - 1))) for i in range(steps)]
    ab = [float(alphas_cumprod[t]) for t in ts]
    return ab, ab[1:] + [1.0]


def trailing_levels(alphas_cumprod: Sequence[float], steps: int) -> tuple[list[float], list[float]]:
    """ᾱ before/after each step for diffusers' "trailing" steps round(T − k·T/S) − 1, k = 0..S−1 (the last
    step jumps to ᾱ = 1).  Python's round is half to even, as numpy's; T − k·T/S is exact only where it has
    no float error, so ties are checked exactly in test_spacing."""
    T = len(alphas_cumprod)
    ts = [round(T - k * T / steps) - 1 for k in range(steps)]
    ab = [float(alphas_cumprod[t]) for t in ts]
    return ab, ab[1:] + [1.0]


def logsnr_levels(alphas_cumprod: Sequence[float], steps: int) -> tuple[list[float], list[float]]:
    """ᾱ before/after each step for `steps` levels evenly spaced in λ = ½·log(ᾱ/(1−ᾱ)), ᾱ_{T−1} → ᾱ_0."""
    lo, hi = (0.5 * math.log(a / (1 - a)) for a in (alphas_cumprod[-1], alphas_cumprod[0]))
    lams = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)] if steps > 1 else [lo]
    ab = [1 / (1 + math.exp(-2 * lam)) for lam in lams]
    return ab, ab[1:] + [1.0]


def fast_levels(betas: Sequence[float]) -> tuple[list[float], list[float]]:
    """ᾱ before/after each reverse step of a short inference schedule γ (noisiest first)."""
    gamma_bar, p = [], 1.0
    for g in betas:
        p *= 1.0 - g
        gamma_bar.append(p)
    ab = gamma_bar[::-1]
    return ab, ab[1:] + [1.0]


# --------------------------------------------------------------------------- exact output law
def exact_output_law(alpha_bar: Sequence[float], alpha_bar_prev: Sequence[float], mu: float, var: float,
                     rule: str, eta: float = 0.0, variance: str = "posterior") -> tuple[float, float, float]:
    """Per channel with data N(mu, var): the sampler output is  out = A·x_init + c + N(0, Q).

    rule: "ancestral" (Ho et al. eq. 11, σ² = β̃ or β), "ddim" (η = eta), "dpm++" (2M; the last step,
    to ᾱ = 1, returns x̂0).  Returns (A, c, Q).  With x_init ~ N(0, 1): mean c, variance A² + Q.
    """
    lam = lambda ab: 0.5 * (math.log(ab) - math.log1p(-ab))  # noqa: E731  (half log-SNR)
    # state (x, p): p = the previous step's x̂0 (DPM-Solver++ multistep).  Each is L·x_init + m + noise.
    L = torch.tensor([1.0, 0.0], dtype=torch.float64)
    m = torch.zeros(2, dtype=torch.float64)
    C = torch.zeros(2, 2, dtype=torch.float64)
    n = len(alpha_bar)
    for i, (at, ap) in enumerate(zip(alpha_bar, alpha_bar_prev)):
        a, s = math.sqrt(at), math.sqrt(1.0 - at)
        denom = at * var + (1.0 - at)
        k0, c0 = a * var / denom, mu * (1.0 - at) / denom     # E[x0|x] = k0 x + c0
        k1, c1 = s / denom, -s * a * mu / denom                # E[ε|x]  = k1 x + c1
        last = i == n - 1
        B, q = 0.0, 0.0                                         # x' = A x + B p + c + √q z
        if rule == "ancestral":
            alpha = at / ap
            beta = 1.0 - alpha
            A = (1.0 - beta / s * k1) / math.sqrt(alpha)
            c = -(beta / s * c1) / math.sqrt(alpha)
            if not last:
                q = beta * (1.0 - ap) / (1.0 - at) if variance == "posterior" else beta
        elif rule == "ddim":
            sig2 = eta ** 2 * (1.0 - ap) / (1.0 - at) * (1.0 - at / ap)
            r = math.sqrt(max(1.0 - ap - sig2, 0.0))
            A = math.sqrt(ap) * k0 + r * k1
            c = math.sqrt(ap) * c0 + r * c1
            if not last:
                q = sig2
        elif rule == "dpm++":
            if last:
                A, c = k0, c0
            else:
                h = lam(ap) - lam(at)
                if i == 0:
                    w_now, w_prev = 1.0, 0.0
                else:
                    r = (lam(at) - lam(alpha_bar[i - 1])) / h
                    w_now, w_prev = 1.0 + 1.0 / (2.0 * r), -1.0 / (2.0 * r)
                coef = -math.sqrt(ap) * math.expm1(-h)
                A = math.sqrt(1.0 - ap) / s + coef * w_now * k0
                B = coef * w_prev
                c = coef * w_now * c0
        else:
            raise ValueError(rule)
        M = torch.tensor([[A, B], [k0, 0.0]], dtype=torch.float64)
        L = M @ L
        m = M @ m + torch.tensor([c, c0], dtype=torch.float64)
        C = M @ C @ M.T + torch.tensor([[q, 0.0], [0.0, 0.0]], dtype=torch.float64)
    return L[0].item(), m[0].item(), C[0, 0].item()


# --------------------------------------------------------------------------- statistics
def channel_stats(x: Tensor) -> tuple[Tensor, Tensor, int]:
    """Per-channel sample mean and (unbiased) variance of x: [B, C, L], and the count per channel."""
    flat = x.detach().to(torch.float64).transpose(0, 1).reshape(x.shape[1], -1)
    return flat.mean(dim=1), flat.var(dim=1), flat.shape[1]


def se_mean(var: float, n: int) -> float:
    return math.sqrt(var / n)


def se_var(var: float, n: int) -> float:
    """Standard deviation of the unbiased sample variance of n Gaussian draws: var·√(2/(n−1))."""
    return var * math.sqrt(2.0 / (n - 1))


def assert_moments(x: Tensor, means: Sequence[float], variances: Sequence[float], z: float = 5.0,
                   label: str = "") -> None:
    """Per-channel sample mean / variance of x agree with the given ones within z standard errors."""
    assert torch.isfinite(x).all(), f"{label}: non-finite samples"
    mean, var, n = channel_stats(x)
    for c, (m, v) in enumerate(zip(means, variances)):
        tol_m, tol_v = z * se_mean(v, n), z * se_var(v, n)
        assert abs(mean[c].item() - m) < tol_m, (
            f"{label}: channel {c} mean {mean[c].item():.5f}, expected {m:.5f} ± {tol_m:.5f}")
        assert abs(var[c].item() - v) < tol_v, (
            f"{label}: channel {c} variance {var[c].item():.6f}, expected {v:.6f} ± {tol_v:.6f}")
