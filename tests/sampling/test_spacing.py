"""Step placement (audiodiff/sampling/spacing.py): every spacing's levels, custom lists, λ clipping, wiring to samplers."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.sampling import make_plan
from audiodiff.schedule import NoiseSchedule
from audiodiff.sampling.spacing import SPACINGS, half_logsnr
from helpers.oracle import GaussianOracle

LINEAR = GaussianDiffusion(NoiseSchedule.linear(1000), prediction="eps")
COSINE = GaussianDiffusion(NoiseSchedule.cosine(1000), prediction="v")


def plan(diffusion, steps, spacing, sampler="ddim", **kw):
    return make_plan(diffusion, sampler, steps, None, spacing=spacing, **kw)


@pytest.mark.parametrize("diffusion", [LINEAR, COSINE], ids=["linear", "cosine"])
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("steps", [1, 2, 4, 12, 50])
def test_every_spacing_gives_monotone_levels_of_the_right_count(diffusion, spacing, steps):
    p = plan(diffusion, steps, spacing)
    assert len(p) == steps
    assert torch.all(p.t_model[:-1] > p.t_model[1:]) and torch.all(p.alpha_bar[:-1] < p.alpha_bar[1:])
    assert torch.all(p.alpha_bar_prev[:-1] == p.alpha_bar[1:]) and p.alpha_bar_prev[-1] == 1.0
    # the network is told the step whose level the state is at
    ab_told = diffusion.schedule.sqrt_alpha_cumprod_at(p.t_model) ** 2
    assert torch.allclose(ab_told, p.alpha_bar, rtol=1e-6, atol=1e-12)
    if spacing != "leading":
        assert p.t_model[0] == 999                       # reaches the top
    if spacing not in ("trailing",) and steps > 1:
        assert p.t_model[-1] == 0                        # ends at step 0


def test_trailing_and_leading_follow_diffusers_formulas():
    assert plan(LINEAR, 4, "trailing").t_model.tolist() == [999, 749, 499, 249]
    assert plan(LINEAR, 4, "leading").t_model.tolist() == [750, 500, 250, 0]
    assert plan(LINEAR, 3, "trailing").t_model.tolist() == [999, 666, 332]   # round(1000 − k·1000/3) − 1
    assert plan(LINEAR, 3, "leading").t_model.tolist() == [666, 333, 0]
    # part-way from a fractional start: the start itself, then integer steps spaced over the span
    part = make_plan(LINEAR, "ddim", 3, None, t_start=90.3, spacing="trailing")
    assert part.t_model.tolist() == [90.3, 60.0, 29.0]


def test_trailing_levels_match_the_formula_for_every_count():
    """round(T − k·T/n) − 1 (diffusers' trailing) for every n in 1…T at T = 1000, exact .5 ties included
    (rounded half to even, as numpy.round): n = 16 visits 937 / 811 / 687, not 936 / 812 / 686."""
    from fractions import Fraction
    T = 1000
    for n in range(1, T + 1):
        want = [round(Fraction(T * n - k * T, n)) - 1 for k in range(n)]
        assert plan(LINEAR, n, "trailing").t_model.tolist() == want, n
    assert plan(LINEAR, 16, "trailing").t_model.tolist()[1:6:2] == [937, 811, 687]


def test_karras_levels_match_the_formula():
    rho, n = 7.0, 8
    ab = LINEAR.schedule.alphas_cumprod
    s_max, s_min = math.sqrt((1 - ab[-1]) / ab[-1]), math.sqrt((1 - ab[0]) / ab[0])
    want = [(s_max ** (1 / rho) + i / (n - 1) * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho for i in range(n)]
    p = plan(LINEAR, n, "karras")
    got = ((1 - p.alpha_bar) / p.alpha_bar).sqrt().tolist()
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("spacing", ["logsnr", "karras"])
def test_lambda_clip_moves_the_top_and_keeps_every_level_inside(spacing):
    full = plan(COSINE, 12, spacing)
    assert float(half_logsnr(full.alpha_bar[0])) < -9          # cosine: λ ≈ −10 at t = 999
    clipped = plan(COSINE, 12, spacing, lambda_min=-5.0)
    lam = half_logsnr(clipped.alpha_bar)
    assert float(lam[0]) == pytest.approx(-5.0, abs=1e-9) and torch.all(lam >= -5.0 - 1e-9)
    assert clipped.t_model[0] < 999 and clipped.t_model[-1] == 0
    if spacing == "logsnr":
        gaps = lam[1:] - lam[:-1]
        assert torch.allclose(gaps, gaps[0].expand_as(gaps), rtol=1e-9)
    # a clip above the start's λ changes nothing
    assert torch.equal(plan(LINEAR, 12, spacing, lambda_min=-50.0).alpha_bar, plan(LINEAR, 12, spacing).alpha_bar)


def test_custom_levels_are_visited_as_given_fractional_ones_as_fractional_steps():
    p = make_plan(LINEAR, "ddim", None, None, levels=[999, 500.5, 100, 0])
    assert p.t_model.tolist() == [999, 500.5, 100, 0]
    assert p.alpha_bar[0] == LINEAR.schedule.alphas_cumprod[999]
    lo, hi = LINEAR.schedule.sqrt_alphas_cumprod[500], LINEAR.schedule.sqrt_alphas_cumprod[501]
    assert p.alpha_bar[1].item() == pytest.approx(((lo + hi) / 2).item() ** 2, rel=1e-12)


@pytest.mark.parametrize("bad, words", [([500, 999], "decreasing"), ([1000, 0], "[0, 999]"), ([], "at least"),
                                        (["x"], "numbers")])
def test_bad_custom_levels_are_refused(bad, words):
    with pytest.raises(ValueError, match=r"levels") as info:
        make_plan(LINEAR, "ddim", None, None, levels=bad)
    assert words in str(info.value)


def test_invalid_combinations_are_refused():
    with pytest.raises(ValueError, match="unknown spacing"):
        plan(LINEAR, 4, "nope")
    with pytest.raises(ValueError, match="lambda_min"):
        plan(LINEAR, 4, "uniform", lambda_min=-5.0)
    with pytest.raises(ValueError, match="fast"):
        make_plan(LINEAR, "fast", None, None, spacing="karras")
    with pytest.raises(ValueError, match="between 1 and 92"):
        make_plan(LINEAR, "ddim", 93, None, t_start=90.3, spacing="trailing")
    with pytest.raises(ValueError, match="leading"):
        make_plan(LINEAR, "ddim", 4, None, t_start=500.0, spacing="leading")


def test_trailing_from_a_fractional_start_takes_every_level_there_is():
    """Denoising caps its steps at max_steps_from(t_start); trailing, the default, must give that many: the
    start, then every integer step (its formula's spacing (top+1)/n < 1 would repeat steps)."""
    from audiodiff.sampling import max_steps_from

    most = max_steps_from(90.3)
    p = make_plan(LINEAR, "ddim", most, None, t_start=90.3, spacing="trailing")
    assert p.t_model.tolist() == [90.3] + list(range(90, -1, -1)) and most == 92
    every = make_plan(LINEAR, "ddim", None, None, t_start=90.3, spacing="trailing")   # steps None: every level
    assert torch.equal(every.t_model, p.t_model)
    # one fewer: the formula, distinct steps ending above 0
    fewer = make_plan(LINEAR, "ddim", most - 1, None, t_start=90.3, spacing="trailing").t_model
    assert len(set(fewer.tolist())) == most - 1 and torch.all(fewer[:-1] > fewer[1:])


def test_every_placing_sampler_defaults_to_trailing():
    """No spacing → trailing for ddpm, ddim and dpm++: it had the highest mean quality over 2–50 steps in
    benchmarks/studies/few_step.py on cosine and linear quickstart runs (README's sampler table)."""
    for sampler in ("ddim", "ddpm", "dpm++"):
        got, want = make_plan(LINEAR, sampler, 12, None), plan(LINEAR, 12, "trailing")
        assert torch.equal(got.t_model, want.t_model) and torch.equal(got.alpha_bar, want.alpha_bar)
    # every step (ddpm's default): trailing is the full chain
    assert make_plan(LINEAR, "ddpm", None, None).t_model.tolist() == list(range(999, -1, -1))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++"])
@pytest.mark.parametrize("spacing", SPACINGS)
def test_samplers_run_every_spacing_on_the_oracle(sampler, spacing):
    oracle = GaussianOracle(COSINE.schedule, "v")
    x = COSINE.sample(oracle, (64, 2, 16), sampler=sampler, steps=8, spacing=spacing,
                      generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all() and len(oracle.calls) == 8
    told = torch.stack([c[0] for c in oracle.calls]).double()
    assert torch.allclose(told, plan(COSINE, 8, spacing, sampler=sampler).t_model.float().double())


def test_sampler_with_custom_levels_calls_the_network_at_them():
    oracle = GaussianOracle(LINEAR.schedule, "eps")
    x = LINEAR.sample(oracle, (4, 2, 8), sampler="ddim", levels=[999, 600, 250.5, 30, 0])
    assert torch.isfinite(x).all()
    assert [round(c[0].item(), 3) for c in oracle.calls] == [999, 600, 250.5, 30, 0]
