"""Samplers against an analytic Gaussian oracle (no training), hand-written reference steps, plans, errors,
and issue 11's three sampling fixes (fractional-start plans, DiffWave's T = 200 fast list, RePaint's jump length).

The oracle returns the exact E[target | x_t] for Gaussian data, so every sampler's output is exactly
Gaussian with moments that `oracle.exact_output_law` derives from the papers' update equations.
Each statistical test checks two things on the same samples:
  (A) the samples match that exact law within sampling error (catches implementation errors), and
  (B) for settings whose discretisation bias is small (asserted, < 2 standard errors), the samples
      reproduce the data law N(μ, σ²) itself within sampling error.
Tolerances are z = 5 standard errors computed from the sample size (SE of a mean: sd/√n; of a
Gaussian sample variance: var·√(2/(n−1))).
"""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.recipe import load_recipe
from audiodiff.sampling import (DIFFWAVE_FAST_BETAS, DIFFWAVE_FAST_BETAS_T200, fast_plan, make_plan, repaint_order,
                                spaced_plan)
from audiodiff.schedule import NoiseSchedule
from audiodiff.tasks import inpaint
from helpers.oracle import (MU, SIGMA, GaussianOracle, assert_moments, channel_stats, cumprod_py, exact_output_law,
                            fast_levels, logsnr_levels, se_mean, se_var, spaced_levels, trailing_levels)
from helpers.recipes import REPO

PREDICTIONS = ("eps", "v", "x0")
SHAPE = (2000, 2, 4)          # 8000 draws per channel
Z = 5.0

SCHED = NoiseSchedule.linear(1000)                        # Ho et al. / DiffWave-base training schedule
SCHED_200 = NoiseSchedule.linear(200, 1e-4, 0.02)
AB = SCHED.alphas_cumprod.tolist()
# a long user-set fast schedule: geometric 1e-4 → 0.2 over 200 steps, γ̄ ends at ≈ 3.6e-3
FAST_BETAS = torch.logspace(-4, math.log10(0.2), 200, dtype=torch.float64).tolist()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def law(levels, rule, mu=MU, sigma=SIGMA, **kw):
    """Exact per-channel (means, variances) of a sampler's output started from x_T ~ N(0, I)."""
    means, variances = [], []
    for m, sd in zip(mu, sigma):
        A, c, Q = exact_output_law(*levels, m, sd ** 2, rule, **kw)
        means.append(c)
        variances.append(A * A + Q)
    return means, variances


# --------------------------------------------------------------------------- (A)+(B): data law recovered
# name: (sample kwargs, levels visited, update rule, rule kwargs).  Step counts chosen so the method's
# own discretisation bias on N(μ, σ²) stays under 2 standard errors at n = 8000 (asserted below).
FULL = {
    "ddpm-posterior": (dict(sampler="ddpm", variance="posterior"), spaced_levels(AB, 1000), "ancestral", {}),
    "ddpm-beta": (dict(sampler="ddpm", variance="beta"), spaced_levels(AB, 1000), "ancestral",
                  {"variance": "beta"}),
    "ddim-eta0": (dict(sampler="ddim", eta=0.0, steps=500, spacing="uniform"), spaced_levels(AB, 500), "ddim",
                  {"eta": 0.0}),
    "ddim-eta0-trailing": (dict(sampler="ddim", eta=0.0, steps=500), trailing_levels(AB, 500), "ddim", {"eta": 0.0}),
    "ddim-eta1": (dict(sampler="ddim", eta=1.0), spaced_levels(AB, 1000), "ddim", {"eta": 1.0}),
    "fast": (dict(sampler="fast", fast_betas=FAST_BETAS), fast_levels(FAST_BETAS), "ancestral", {}),
    "dpm++": (dict(sampler="dpm++", steps=200, spacing="logsnr"), logsnr_levels(AB, 200), "dpm++", {}),
    "dpm++-trailing": (dict(sampler="dpm++", steps=200), trailing_levels(AB, 200), "dpm++", {}),
}


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("name", list(FULL))
def test_sampler_reproduces_gaussian_data(name, prediction):
    kwargs, levels, rule, rule_kw = FULL[name]
    oracle = GaussianOracle(SCHED, prediction)
    d = GaussianDiffusion(SCHED, prediction=prediction)
    x = d.sample(oracle, SHAPE, generator=gen(1000 + list(FULL).index(name)), **kwargs)
    assert x.shape == SHAPE and x.dtype == torch.float32
    assert len(oracle.calls) == len(levels[0])

    means, variances = law(levels, rule, **rule_kw)
    assert_moments(x, means, variances, Z, label=f"{name}/{prediction} vs its exact law")

    n = SHAPE[0] * SHAPE[2]
    for c, (m, sd) in enumerate(zip(MU, SIGMA)):
        assert abs(means[c] - m) < 2 * se_mean(sd ** 2, n), "setting too coarse for check (B)"
        assert abs(variances[c] - sd ** 2) < 2 * se_var(sd ** 2, n), "setting too coarse for check (B)"
    assert_moments(x, MU, [s ** 2 for s in SIGMA], Z, label=f"{name}/{prediction} vs N(μ, σ²)")


# --------------------------------------------------------------------------- (A) only: coarse settings
SHARP_SIGMA = (0.5, 0.1)      # a narrow channel: errors at low noise levels show up strongly
# Without a spacing the samplers take their default, trailing; "uniform" / "logsnr" rows name theirs.
COARSE = {
    "ddpm-posterior-30": (SCHED, dict(sampler="ddpm", steps=30), trailing_levels(AB, 30), "ancestral", {}),
    "ddpm-posterior-30-uniform": (SCHED, dict(sampler="ddpm", steps=30, spacing="uniform"), spaced_levels(AB, 30),
                                  "ancestral", {}),
    "ddpm-beta-30": (SCHED, dict(sampler="ddpm", steps=30, variance="beta"), trailing_levels(AB, 30), "ancestral",
                     {"variance": "beta"}),
    "ddpm-beta-30-uniform": (SCHED, dict(sampler="ddpm", steps=30, variance="beta", spacing="uniform"),
                             spaced_levels(AB, 30), "ancestral", {"variance": "beta"}),
    "ddim-eta0-30": (SCHED, dict(sampler="ddim", steps=30), trailing_levels(AB, 30), "ddim", {"eta": 0.0}),
    "ddim-eta0-30-uniform": (SCHED, dict(sampler="ddim", steps=30, spacing="uniform"), spaced_levels(AB, 30), "ddim",
                             {"eta": 0.0}),
    "ddim-eta0.5-30": (SCHED, dict(sampler="ddim", steps=30, eta=0.5), trailing_levels(AB, 30), "ddim",
                       {"eta": 0.5}),
    "ddim-eta1-30": (SCHED, dict(sampler="ddim", steps=30, eta=1.0), trailing_levels(AB, 30), "ddim", {"eta": 1.0}),
    "dpm++-10": (SCHED, dict(sampler="dpm++", steps=10), trailing_levels(AB, 10), "dpm++", {}),
    "dpm++-10-logsnr": (SCHED, dict(sampler="dpm++", steps=10, spacing="logsnr"), logsnr_levels(AB, 10), "dpm++", {}),
    "fast-default-T200": (SCHED_200, dict(sampler="fast"), fast_levels(DIFFWAVE_FAST_BETAS), "ancestral", {}),
    "fast-default-T1000": (SCHED, dict(sampler="fast"), fast_levels(DIFFWAVE_FAST_BETAS), "ancestral", {}),
    "fast-default-beta": (SCHED_200, dict(sampler="fast", variance="beta"), fast_levels(DIFFWAVE_FAST_BETAS),
                          "ancestral", {"variance": "beta"}),
}


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("name", list(COARSE))
def test_sampler_matches_exact_law_on_coarse_plans(name, prediction):
    sched, kwargs, levels, rule, rule_kw = COARSE[name]
    oracle = GaussianOracle(sched, prediction, sigma=SHARP_SIGMA)
    d = GaussianDiffusion(sched, prediction=prediction)
    x = d.sample(oracle, SHAPE, generator=gen(2000 + list(COARSE).index(name)), **kwargs)
    assert len(oracle.calls) == len(levels[0])
    means, variances = law(levels, rule, sigma=SHARP_SIGMA, **rule_kw)
    assert_moments(x, means, variances, Z, label=f"{name}/{prediction}")


# --------------------------------------------------------------------------- Ho et al. eq. 11 by hand
SHORT_BETAS = [0.1, 0.3, 0.5]


def hand_ancestral(oracle, betas, shape, seed, variance="posterior", blog=False):
    """The reverse chain written out step by step in float64, drawing noise like the sampler does:
    x_T first, then one tensor per non-final step.  ε̂ is the oracle's exact E[ε | x_t]."""
    g = gen(seed)
    ab = cumprod_py(betas)
    x = torch.randn(shape, generator=g).double()
    for t in reversed(range(len(betas))):
        a, s = math.sqrt(ab[t]), math.sqrt(1 - ab[t])
        _, eps = oracle.posterior(x, torch.tensor(a), torch.tensor(s))
        beta = betas[t]
        if blog:   # the common mistake: x_{t−1} = (x_t − √(1−β_t) ε̂)/√(1−β_t) + √β_t z
            mean = (x - math.sqrt(1 - beta) * eps) / math.sqrt(1 - beta)
            var = beta
        else:      # Ho et al. 2020 eq. 11
            mean = (x - beta / s * eps) / math.sqrt(1 - beta)
            var = beta * (1 - ab[t - 1]) / (1 - ab[t]) if (variance == "posterior" and t > 0) else beta
        x = mean + math.sqrt(var) * torch.randn(shape, generator=g).double() if t > 0 else mean
    return x


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddpm_step_is_ho_eq11(prediction, variance):
    sched = NoiseSchedule(SHORT_BETAS)
    oracle = GaussianOracle(sched, prediction)
    d = GaussianDiffusion(sched, prediction=prediction)
    shape = (8, 2, 5)
    got = d.sample(oracle, shape, sampler="ddpm", steps=None, variance=variance, generator=gen(7)).double()
    want = hand_ancestral(oracle, SHORT_BETAS, shape, 7, variance)
    assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()
    blog = hand_ancestral(oracle, SHORT_BETAS, shape, 7, blog=True)
    assert (got - blog).abs().max() > 0.05          # the wrong formula is distinguishable


def test_ddpm_variances_differ():
    # "posterior" (β̃) and "beta" (β) must actually use different noise scales
    sched = NoiseSchedule(SHORT_BETAS)
    oracle = GaussianOracle(sched, "eps")
    d = GaussianDiffusion(sched, prediction="eps")
    a = d.sample(oracle, (4, 2, 5), variance="posterior", generator=gen(3))
    b = d.sample(oracle, (4, 2, 5), variance="beta", generator=gen(3))
    assert (a - b).abs().max() > 0.01


def hand_ddim(oracle, betas, shape, seed, eta):
    """Song et al. 2021 eq. 12 over all steps, float64."""
    g = gen(seed)
    ab = cumprod_py(betas)
    x = torch.randn(shape, generator=g).double()
    for t in reversed(range(len(betas))):
        a, s = math.sqrt(ab[t]), math.sqrt(1 - ab[t])
        x0, eps = oracle.posterior(x, torch.tensor(a), torch.tensor(s))
        if t == 0:
            return x0
        ap = ab[t - 1]
        sig = eta * math.sqrt((1 - ap) / (1 - ab[t]) * (1 - ab[t] / ap))
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sig ** 2) * eps
        if sig > 0:
            x = x + sig * torch.randn(shape, generator=g).double()
    return x


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_step_by_hand(prediction, eta):
    sched = NoiseSchedule(SHORT_BETAS)
    oracle = GaussianOracle(sched, prediction)
    d = GaussianDiffusion(sched, prediction=prediction)
    shape = (8, 2, 5)
    got = d.sample(oracle, shape, sampler="ddim", eta=eta, generator=gen(11)).double()
    want = hand_ddim(oracle, SHORT_BETAS, shape, 11, eta)
    assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()


def test_ddim_eta1_equals_ddpm_posterior():
    # η = 1 makes DDIM's kernel the DDPM posterior q(x_{t−1} | x_t, x̂0): same noise → same samples
    oracle = GaussianOracle(SCHED, "v")
    d = GaussianDiffusion(SCHED, prediction="v")
    a = d.sample(oracle, (16, 2, 8), sampler="ddim", eta=1.0, steps=20, generator=gen(5))
    b = d.sample(oracle, (16, 2, 8), sampler="ddpm", steps=20, generator=gen(5))
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def hand_dpmpp_2m(oracle, alpha_bar, shape, seed):
    """DPM-Solver++(2M), Lu et al. 2022 Alg. 2, in float64; the last step (to ᾱ = 1) returns x̂0."""
    lam = lambda ab: math.log(math.sqrt(ab) / math.sqrt(1 - ab))  # noqa: E731
    x = torch.randn(shape, generator=gen(seed)).double()
    prev_x0, h_last = None, None
    for i, at in enumerate(alpha_bar):
        x0, _ = oracle.posterior(x, torch.tensor(math.sqrt(at)), torch.tensor(math.sqrt(1 - at)))
        if i == len(alpha_bar) - 1:
            return x0
        an = alpha_bar[i + 1]
        h = lam(an) - lam(at)
        if prev_x0 is None:
            D = x0
        else:
            r = h_last / h
            D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0
        x = math.sqrt(1 - an) / math.sqrt(1 - at) * x - math.sqrt(an) * (math.exp(-h) - 1) * D
        prev_x0, h_last = x0, h
    raise AssertionError("unreachable")


@pytest.mark.parametrize("spacing, levels", [("logsnr", logsnr_levels), ("trailing", trailing_levels)])
@pytest.mark.parametrize("steps", [2, 6, 40])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_dpmpp_2m_by_hand(prediction, steps, spacing, levels):
    oracle = GaussianOracle(SCHED, prediction)
    d = GaussianDiffusion(SCHED, prediction=prediction)
    shape = (8, 2, 5)
    got = d.sample(oracle, shape, sampler="dpm++", steps=steps, spacing=spacing, generator=gen(13)).double()
    want = hand_dpmpp_2m(oracle, levels(AB, steps)[0], shape, 13)
    assert torch.allclose(got, want, atol=5e-5), (got - want).abs().max()


# --------------------------------------------------------------------------- DiffWave fast plan
def diffwave_alignment(train_betas, infer_betas):
    """DiffWave (Kong et al. 2021) Appendix B, as a plain loop over the training steps."""
    talpha_cum = cumprod_py(train_betas)
    alpha_cum = cumprod_py(infer_betas)
    T = []
    for s in range(len(infer_betas)):
        for t in range(len(train_betas) - 1):
            if talpha_cum[t + 1] <= alpha_cum[s] <= talpha_cum[t]:
                twiddle = ((talpha_cum[t] ** 0.5 - alpha_cum[s] ** 0.5)
                           / (talpha_cum[t] ** 0.5 - talpha_cum[t + 1] ** 0.5))
                T.append(t + twiddle)
                break
    return T, alpha_cum


@pytest.mark.parametrize("sched,infer", [(SCHED_200, list(DIFFWAVE_FAST_BETAS)), (SCHED, list(DIFFWAVE_FAST_BETAS)),
                                         (SCHED, FAST_BETAS)], ids=["default-T200", "default-T1000", "long-T1000"])
def test_fast_plan_is_diffwave_alignment(sched, infer):
    plan = fast_plan(sched, infer)
    T_align, gamma_bar = diffwave_alignment(sched.betas.tolist(), infer)
    assert len(T_align) == len(infer), "every inference level lies inside the training range here"
    S = len(infer)
    assert len(plan) == S
    # the plan runs noisiest first
    assert torch.allclose(plan.t_model, torch.tensor(T_align[::-1], dtype=torch.float64), rtol=0, atol=1e-9)
    assert torch.allclose(plan.alpha_bar, torch.tensor(gamma_bar[::-1], dtype=torch.float64), rtol=1e-12)
    assert torch.allclose(plan.alpha_bar_prev, torch.tensor(([1.0] + gamma_bar[:-1])[::-1], dtype=torch.float64),
                          rtol=1e-12)
    # the network is told the fractional step at which the interpolated √ᾱ equals √γ̄_s
    assert torch.allclose(sched.sqrt_alpha_cumprod_at(plan.t_model), plan.alpha_bar.sqrt(), rtol=0, atol=1e-12)
    assert torch.all(plan.t_model.diff() < 0)


def test_fast_default_plan_values_T200():
    plan = fast_plan(SCHED_200)
    assert len(plan) == 6
    assert plan.t_model[-1].item() == pytest.approx(0.0, abs=1e-12)     # γ_0 = β_0 = 1e-4
    frac = plan.t_model - plan.t_model.floor()
    assert (frac[:-1] > 0).all()                                         # genuinely fractional steps
    assert plan.t_model[0].item() < 199


def test_fast_sampler_feeds_aligned_steps_to_model():
    oracle = GaussianOracle(SCHED_200, "eps")
    d = GaussianDiffusion(SCHED_200, prediction="eps")
    d.sample(oracle, (3, 2, 4), sampler="fast", generator=gen(0))
    T_align, _ = diffwave_alignment(SCHED_200.betas.tolist(), list(DIFFWAVE_FAST_BETAS))
    seen = torch.stack([t[0] for t in oracle.calls]).double()
    assert torch.allclose(seen, torch.tensor(T_align[::-1], dtype=torch.float64), atol=1e-4)
    assert all(torch.all(t == t[0]) for t in oracle.calls)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_fast_with_training_betas_equals_ddpm(prediction, variance):
    sched = NoiseSchedule.linear(50, 1e-4, 0.05)
    plan = fast_plan(sched, sched.betas.tolist())
    assert torch.equal(plan.t_model, torch.arange(49, -1, -1, dtype=torch.float64))
    oracle = GaussianOracle(sched, prediction)
    d = GaussianDiffusion(sched, prediction=prediction)
    a = d.sample(oracle, (64, 2, 8), sampler="fast", fast_betas=sched.betas.tolist(), variance=variance,
                 generator=gen(21))
    b = d.sample(oracle, (64, 2, 8), sampler="ddpm", variance=variance, generator=gen(21))
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- spaced plans
@pytest.mark.parametrize("steps", [1, 2, 10, 30, 200, 1000])
def test_spaced_plan(steps):
    plan = spaced_plan(SCHED, steps)
    ab, prev = spaced_levels(AB, steps)
    assert len(plan) == steps
    assert plan.t_model[0].item() == 999 and plan.t_model[-1].item() == (0 if steps > 1 else 999)
    assert torch.allclose(plan.alpha_bar, torch.tensor(ab, dtype=torch.float64), rtol=0, atol=0)
    assert torch.allclose(plan.alpha_bar_prev, torch.tensor(prev, dtype=torch.float64), rtol=0, atol=0)
    assert plan.alpha_bar_prev[-1].item() == 1.0


def test_full_ddpm_visits_every_step_in_order():
    sched = NoiseSchedule.linear(40, 1e-4, 0.1)
    oracle = GaussianOracle(sched, "eps")
    GaussianDiffusion(sched).sample(oracle, (2, 2, 3), generator=gen(0))
    assert [t[0].item() for t in oracle.calls] == list(range(39, -1, -1))


def test_constraint_sees_every_next_level():
    seen = []

    def constraint(x, a_prev):
        seen.append(a_prev)
        return x

    oracle = GaussianOracle(SCHED, "eps")
    GaussianDiffusion(SCHED).sample(oracle, (2, 2, 3), sampler="ddim", steps=10, spacing="uniform",
                                    generator=gen(0), constraint=constraint)
    assert seen == pytest.approx(spaced_levels(AB, 10)[1], rel=1e-12)


# --------------------------------------------------------------------------- seeds and determinism
SEEDED = [dict(sampler="ddpm", steps=20), dict(sampler="ddpm", steps=20, variance="beta"),
          dict(sampler="ddim", steps=20), dict(sampler="ddim", steps=20, eta=1.0), dict(sampler="fast"),
          dict(sampler="fast", fast_betas=[1e-3, 0.02, 0.3]), dict(sampler="dpm++", steps=20)]


@pytest.mark.parametrize("kwargs", SEEDED, ids=lambda k: "-".join(str(v) for v in k.values()))
def test_generator_seed_controls_samples(kwargs):
    oracle = GaussianOracle(SCHED, "eps")
    d = GaussianDiffusion(SCHED)
    a = d.sample(oracle, (8, 2, 6), generator=gen(42), **kwargs)
    b = d.sample(oracle, (8, 2, 6), generator=gen(42), **kwargs)
    c = d.sample(oracle, (8, 2, 6), generator=gen(43), **kwargs)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_ddim_eta0_is_deterministic_given_x_T():
    oracle = GaussianOracle(SCHED, "eps")
    d = GaussianDiffusion(SCHED)
    x_T = torch.randn(8, 2, 6, generator=gen(9))
    a = d.sample(oracle, x_T.shape, sampler="ddim", steps=1000, x_start=x_T, t_start=999, generator=gen(1))
    b = d.sample(oracle, x_T.shape, sampler="ddim", steps=1000, x_start=x_T, t_start=999, generator=gen(2))
    assert torch.equal(a, b)
    # starting from pure noise, x_T is the generator's first draw: same seed → the same path
    c = d.sample(oracle, x_T.shape, sampler="ddim", steps=1000, generator=gen(9))
    assert torch.equal(a, c)
    # whereas the ancestral sampler keeps drawing noise after x_T
    e = d.sample(oracle, x_T.shape, sampler="ddpm", steps=50, x_start=x_T, t_start=999, generator=gen(1))
    f = d.sample(oracle, x_T.shape, sampler="ddpm", steps=50, x_start=x_T, t_start=999, generator=gen(2))
    assert (e - f).abs().max() > 1e-3


# --------------------------------------------------------------------------- starting part-way
def test_x_start_t_start_samples_the_posterior():
    t_start = 300
    oracle = GaussianOracle(SCHED, "eps")
    d = GaussianDiffusion(SCHED)
    g = gen(77)
    x0 = oracle.mu.view(1, 2, 1).float() + oracle.sigma.view(1, 2, 1).float() * torch.randn(SHAPE, generator=g)
    x_t = SCHED.q_sample(x0, torch.full((SHAPE[0],), t_start), torch.randn(SHAPE, generator=g))
    out = d.sample(oracle, SHAPE, sampler="ddpm", x_start=x_t, t_start=t_start, generator=g).double()
    assert len(oracle.calls) == t_start + 1 and oracle.calls[0][0].item() == t_start

    ab_t = AB[t_start]
    post_mean, _ = oracle.posterior(x_t, torch.tensor(math.sqrt(ab_t)), torch.tensor(math.sqrt(1 - ab_t)))
    post_var = oracle.posterior_x0_variance(ab_t)
    levels = spaced_levels(AB, t_start + 1, top=t_start)
    n = SHAPE[0] * SHAPE[2]
    for c in range(2):
        A, c0, Q = exact_output_law(*levels, MU[c], SIGMA[c] ** 2, "ancestral")
        resid = (out[:, c] - (A * x_t[:, c].double() + c0)).flatten()
        # (A) exact: out | x_t ~ N(A x_t + c0, Q)
        assert abs(resid.mean().item()) < Z * se_mean(Q, n)
        assert abs(resid.var().item() - Q) < Z * se_var(Q, n)
        # (B) loose: that is (nearly) the true posterior p(x0 | x_t)
        assert abs(Q / post_var[c].item() - 1) < 0.1
        r = (out[:, c] - post_mean[:, c]).flatten()
        assert abs(r.mean().item()) < Z * se_mean(post_var[c].item(), n)


# --------------------------------------------------------------------------- errors
BAD = {
    "unknown sampler": dict(sampler="euler"),
    "sampler case": dict(sampler="DDIM"),
    "eta for ddpm": dict(sampler="ddpm", eta=0.0),
    "eta for fast": dict(sampler="fast", eta=0.5),
    "eta for dpm++": dict(sampler="dpm++", eta=1.0, steps=10),
    "eta < 0": dict(sampler="ddim", eta=-0.1),
    "eta > 1": dict(sampler="ddim", eta=1.5),
    "ddpm steps 0": dict(sampler="ddpm", steps=0),
    "ddim steps 0": dict(sampler="ddim", steps=0),
    "dpm++ steps 0": dict(sampler="dpm++", steps=0),
    "ddpm steps > T": dict(sampler="ddpm", steps=1001),
    "ddim steps > T": dict(sampler="ddim", steps=1001),
    "dpm++ steps > T": dict(sampler="dpm++", steps=1001),
    "negative steps": dict(sampler="ddim", steps=-3),
    "fast steps != len(fast_betas)": dict(sampler="fast", steps=5, fast_betas=[1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]),
    "fast steps != len(default betas)": dict(sampler="fast", steps=3),
    "unknown variance": dict(sampler="ddpm", variance="learned"),
    "fast_betas for ddpm": dict(sampler="ddpm", fast_betas=[0.1, 0.2]),
    "fast_betas out of (0,1)": dict(sampler="fast", fast_betas=[0.1, 1.0]),
    "fast_betas empty": dict(sampler="fast", fast_betas=[]),
    "t_start without x_start": dict(sampler="ddpm", t_start=10),
    "x_start without t_start": dict(sampler="ddpm", x_start=torch.zeros(2, 2, 3)),
    "fast with t_start": dict(sampler="fast", x_start=torch.zeros(2, 2, 3), t_start=10),
    "t_start >= T": dict(sampler="ddpm", x_start=torch.zeros(2, 2, 3), t_start=1000),
    "t_start < 0": dict(sampler="ddim", x_start=torch.zeros(2, 2, 3), t_start=-1),
    "steps > t_start + 1": dict(sampler="ddim", x_start=torch.zeros(2, 2, 3), t_start=10, steps=12),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_sampler_arguments_raise(name):
    def model(x, t):
        raise AssertionError("the model must not be called for invalid arguments")

    with pytest.raises(ValueError):
        GaussianDiffusion(SCHED).sample(model, (2, 2, 3), generator=gen(0), **BAD[name])


def test_fast_steps_equal_to_list_length_is_accepted():
    oracle = GaussianOracle(SCHED, "eps")
    x = GaussianDiffusion(SCHED).sample(oracle, (2, 2, 3), sampler="fast", steps=6, generator=gen(0))
    assert x.shape == (2, 2, 3) and len(oracle.calls) == 6


# --------------------------------------------------------------------------- DPM-Solver++ vs DDIM
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_dpmpp_20_steps_matches_variance_at_least_as_well_as_ddim_50(prediction):
    """Issue acceptance: DPM-Solver++(2M) with 20 steps is as close to the data variance as DDIM with 50."""
    sched = NoiseSchedule.linear(1000)
    oracle = GaussianOracle(sched, prediction)
    d = GaussianDiffusion(sched, prediction=prediction)
    shape = (20000, 2, 1)
    target = torch.tensor(SIGMA, dtype=torch.float64) ** 2

    def variance_error(**kw):
        _, var, _ = channel_stats(d.sample(oracle, shape, generator=gen(31), **kw))
        return (var / target - 1).abs()

    dpm = variance_error(sampler="dpm++", steps=20, spacing="logsnr")
    ddim = variance_error(sampler="ddim", steps=50, spacing="uniform")
    assert torch.all(dpm <= ddim), (dpm, ddim)
    assert torch.all(dpm < 0.06), dpm


# ----------------------------------------------------------------- issue 11's three sampling fixes: fractional-start
# plans, DiffWave's T = 200 fast list, RePaint's jump length
def test_fractional_start_spaces_levels_over_the_whole_span():
    assert spaced_plan(SCHED, 2, 90.3).t_model.tolist() == [90.3, 0.0]        # was [90.3, 90.0]: never reached 0
    assert spaced_plan(SCHED, 3, 90.3).t_model.tolist() == [90.3, 45.0, 0.0]  # was [90.3, 90.0, 0.0]


@pytest.mark.parametrize("t_start", [90.3, 90.7, 5.5, 0.25])
def test_fractional_start_gives_exactly_the_steps_asked_for(t_start):
    most = math.floor(t_start) + 2
    for steps in range(1, most + 1):
        ts = spaced_plan(SCHED, steps, t_start).t_model
        assert len(ts) == steps and ts[0].item() == t_start
        assert torch.all(ts[1:] == ts[1:].round()) and torch.all(ts[:-1] > ts[1:])
        if steps > 1:
            assert ts[-1].item() == 0
            # no network call spent a fraction of a step below the start unless every step is asked for
            assert steps == most or t_start - ts[1].item() > 0.5 * (t_start / (steps - 1))


def test_t200_recipes_use_diffwaves_t200_fast_list():
    for path in sorted((REPO / "recipes").glob("*/*.toml")):
        r = load_recipe(path)
        if r.diffusion.schedule == "linear" and r.diffusion.num_steps == 200:
            assert tuple(r.sample.fast_betas) == DIFFWAVE_FAST_BETAS_T200, path
    plan = fast_plan(NoiseSchedule.linear(200, 1e-4, 0.02), DIFFWAVE_FAST_BETAS_T200)
    assert 0 <= plan.t_model.min() and 150 < plan.t_model.max() < 199   # spans the T = 200 training range


def test_repaint_order_follows_the_papers_schedule():
    assert repaint_order(5, 1, 3) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]    # jump length 1 = per-step resampling
    assert repaint_order(7, 2, 2) == [0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6]
    order = repaint_order(250, 10, 10)                                           # RePaint's own configuration
    assert order[-1] == 249 and order.count(9) == 10 and order.count(249) == 1
    assert len(order) == 250 + 24 * 9 * 10                                       # 24 jump points × 9 × 10 steps


def _repaint_times(t_T: int, jump_length: int, jump_n_sample: int) -> list[int]:
    """RePaint's get_schedule_jump (Lugmayr et al. 2022, guided_diffusion/scheduler.py), transcribed from the
    paper's code with its defaults (n_sample 1, no second or third jump level): the times t_T − 1 … −1 the chain
    visits, a step up meaning "re-noise by one step"."""
    jumps = {j: jump_n_sample - 1 for j in range(0, t_T - jump_length, jump_length)}
    t, ts = t_T, []
    while t >= 1:
        t = t - 1
        ts.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] = jumps[t] - 1
            for _ in range(jump_length):
                t = t + 1
                ts.append(t)
    ts.append(-1)
    return ts


@pytest.mark.parametrize("steps, jump_length, jumps", [(250, 10, 10)] + [
    (s, j, r) for s in (1, 2, 3, 5, 8, 12, 13, 20, 31, 50) for j in (1, 2, 3, 4, 7, 10) for r in (1, 2, 3)])
def test_repaint_order_is_the_papers_jump_schedule(steps, jump_length, jumps):
    """Every denoising step of RePaint's schedule (a time going down) calls the network at plan step
    T − 1 − t, in the same order; re-noising steps up in between are what repaint_order's repeats mean."""
    times = _repaint_times(steps, jump_length, jumps)
    denoise_steps = [steps - 1 - last for last, cur in zip(times, times[1:]) if cur < last]
    assert repaint_order(steps, jump_length, jumps) == denoise_steps


def test_inpaint_with_jump_length_visits_the_jump_schedule_and_keeps_known_samples():
    sched = NoiseSchedule.linear(40, 1e-4, 0.2)
    oracle = GaussianOracle(sched, "eps")
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(4, 2, 16, generator=g)
    known = torch.zeros_like(audio, dtype=torch.bool)
    known[..., :8] = True
    out = inpaint(GaussianDiffusion(sched), oracle, audio, known, sampler="ddpm", steps=12, resample=3,
                  jump_length=4, generator=g)
    plan_t = make_plan(GaussianDiffusion(sched), "ddpm", 12, None).t_model.tolist()   # the default spacing
    assert [c[0].item() for c in oracle.calls] == [plan_t[i] for i in repaint_order(12, 4, 3)]
    assert torch.equal(torch.where(known, out, 0), torch.where(known, audio, 0)) and torch.isfinite(out).all()
