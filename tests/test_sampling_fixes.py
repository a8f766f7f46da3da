"""Issue 11's three sampling fixes: fractional-start plans, DiffWave's T = 200 fast list, RePaint's jump length."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.recipe import load_recipe
from audiodiff.sampling import DIFFWAVE_FAST_BETAS_T200, fast_plan, repaint_order, spaced_plan
from audiodiff.schedule import NoiseSchedule
from audiodiff.tasks import inpaint
from helpers.oracle import GaussianOracle

REPO = Path(__file__).resolve().parents[1]
SCHED = NoiseSchedule.linear(1000)


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


def test_inpaint_with_jump_length_visits_the_jump_schedule_and_keeps_known_samples():
    sched = NoiseSchedule.linear(40, 1e-4, 0.2)
    oracle = GaussianOracle(sched, "eps")
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(4, 2, 16, generator=g)
    known = torch.zeros_like(audio, dtype=torch.bool)
    known[..., :8] = True
    out = inpaint(GaussianDiffusion(sched), oracle, audio, known, sampler="ddpm", steps=12, resample=3,
                  jump_length=4, generator=g)
    plan_t = spaced_plan(sched, 12).t_model.tolist()
    assert [c[0].item() for c in oracle.calls] == [plan_t[i] for i in repaint_order(12, 4, 3)]
    assert torch.equal(torch.where(known, out, 0), torch.where(known, audio, 0)) and torch.isfinite(out).all()
