"""audiodiff/sampling/registry.py and options.py: one record per sampler, read by the loop and the run defaults;
a fifth sampler is one record plus one update rule."""

from types import MappingProxyType

import pytest
import torch

from audiodiff import GaussianDiffusion, NoiseSchedule
from audiodiff.recipe import SampleConfig
from audiodiff.sampling import (SAMPLERS, SampleOptions, Sampler, SamplerCall, get_sampler, placed_plan, registry,
                                sample, samplers_where)
from helpers.oracle import GaussianOracle

SCHED = NoiseSchedule.linear(20, 1e-3, 0.3)


def test_samplers_behave_like_the_tuple_of_names_they_were():
    assert list(SAMPLERS) == ["ddpm", "ddim", "fast", "dpm++"]
    assert "fast" in SAMPLERS and "euler" not in SAMPLERS
    assert ", ".join(SAMPLERS) == "ddpm, ddim, fast, dpm++"
    assert all(isinstance(r, Sampler) and r.name == n for n, r in SAMPLERS.items())
    with pytest.raises(TypeError):
        SAMPLERS["euler"] = SAMPLERS["ddim"]                              # read-only


def test_capabilities_come_from_the_records():
    assert samplers_where(lambda s: s.starts_part_way) == ("ddpm", "ddim", "dpm++")
    assert samplers_where(lambda s: s.resamples) == ("ddpm", "ddim")
    assert samplers_where(lambda s: "eta" in s.options) == ("ddim",)
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        get_sampler("nope")


@pytest.mark.parametrize("sampler, option, value", [("ddim", "variance", "beta"), ("dpm++", "variance", "beta"),
                                                    ("ddpm", "eta", 0.5), ("ddim", "fast_betas", [0.1]),
                                                    ("fast", "levels", [5, 0])])
def test_an_option_the_sampler_does_not_take_is_refused_naming_who_takes_it(sampler, option, value):
    def model(x, t):
        raise AssertionError("the model must not be called for invalid arguments")

    with pytest.raises(ValueError, match=f"{option} applies to sampler") as info:
        GaussianDiffusion(SCHED).sample(model, (1, 1, 2), sampler=sampler, **{option: value})
    takers = samplers_where(lambda s: option in s.options)
    assert all(repr(n) in str(info.value) for n in takers) and repr(sampler) in str(info.value)


def test_a_fifth_sampler_is_one_record_and_one_update_rule(monkeypatch):
    def midpoint_x0(plan, generator):                                     # the "one update rule"
        prev = plan.alpha_bar_prev.tolist()
        return lambda i, x, x0, eps: prev[i] ** 0.5 * x0 + (1 - prev[i]) ** 0.5 * eps

    record = Sampler("x0-walk", placed_plan, midpoint_x0, ("spacing", "lambda_min", "levels"))
    monkeypatch.setattr(registry, "SAMPLERS", MappingProxyType({**SAMPLERS, record.name: record}))
    d = GaussianDiffusion(SCHED)
    oracle = GaussianOracle(SCHED, "eps")
    call = SamplerCall.of("x0-walk", steps=5, spacing="karras")
    out = sample(d, oracle, (3, 2, 4), call, generator=torch.Generator())
    assert out.shape == (3, 2, 4) and len(oracle.calls) == 5
    with pytest.raises(ValueError, match="resample"):                    # capabilities read from the record
        sample(d, oracle, (3, 2, 4), SamplerCall.of("x0-walk"), resample=2)
    with pytest.raises(ValueError, match="eta applies to sampler 'ddim' only, not 'x0-walk'"):
        d.sample(oracle, (3, 2, 4), sampler="x0-walk", eta=0.1)
    assert SampleOptions(steps=7).resolve(sampler="x0-walk") == SamplerCall(record, 7)


def test_sample_config_is_the_sampling_options_record():
    assert SampleConfig is SampleOptions
    assert SampleOptions().fast_betas == [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]


def fields(call: SamplerCall) -> dict:
    """A call as the keyword arguments it was (the sampler's name, steps when set, every option set)."""
    clip = {"clip_x0": call.clip_x0, "dynamic_percentile": call.dynamic_percentile} if call.clip_x0 != "none" else {}
    steps = {} if call.steps is None else {"steps": call.steps}
    return {"sampler": call.name, **steps, **call.plan_options, **call.step_options, **clip}


@pytest.mark.parametrize("given, want", [
    (dict(), {"sampler": "ddpm", "steps": 8, "variance": "beta"}),
    (dict(sampler="ddim"), {"sampler": "ddim", "steps": 8, "eta": 0.3}),
    (dict(sampler="ddim", eta=0.0, steps=3), {"sampler": "ddim", "steps": 3, "eta": 0.0}),
    (dict(sampler="fast"), {"sampler": "fast", "variance": "beta", "fast_betas": (0.1, 0.5)}),   # no run steps
])
def test_resolve_takes_from_the_run_only_what_the_sampler_takes(given, want):
    run = SampleOptions(sampler="ddpm", steps=8, eta=0.3, variance="beta", fast_betas=[0.1, 0.5])
    call = run.resolve(**given)
    assert isinstance(call, SamplerCall) and call.sampler is SAMPLERS[want["sampler"]]
    assert fields(call) == want
    assert call == SamplerCall.of(**want)


def test_resolve_refuses_a_given_option_the_sampler_does_not_take():
    run = SampleOptions(sampler="ddpm", steps=8, fast_betas=[0.1, 0.5])
    with pytest.raises(ValueError, match="spacing applies to sampler 'ddpm', 'ddim' and 'dpm\\+\\+' only, not 'fast'"):
        run.resolve(sampler="fast", spacing="karras")      # refused when the call is made, not in the loop


def test_resolve_placement_levels_lambda_min_and_clipping():
    run = SampleOptions(sampler="dpm++", steps=8, levels=[19, 10, 0], lambda_min=-4.0, clip_x0="dynamic",
                        dynamic_percentile=0.9)
    clip = {"clip_x0": "dynamic", "dynamic_percentile": 0.9}
    assert fields(run.resolve()) == {"sampler": "dpm++", "levels": (19, 10, 0), **clip}
    assert fields(run.resolve(steps=4)) == {"sampler": "dpm++", "steps": 4, **clip}   # trailing default: no λ clip
    assert fields(run.resolve(steps=4, spacing="logsnr")) == {"sampler": "dpm++", "steps": 4, "spacing": "logsnr",
                                                              "lambda_min": -4.0, **clip}
    assert fields(run.resolve(steps=4, sampler="ddim")) == {"sampler": "ddim", "steps": 4, "eta": 0.0, **clip}
    unclipped = run.resolve(spacing="karras", clip_x0="none")
    assert fields(unclipped) == {"sampler": "dpm++", "steps": 8, "spacing": "karras", "lambda_min": -4.0}
    assert unclipped.clip_x0 == "none"
    with pytest.raises(TypeError, match="etta"):
        run.resolve(etta=0.1)


def test_check_names_the_key_against_the_schedules_length():
    SampleOptions(steps=20, levels=[19, 3.5, 0]).check(20)
    for options, words in [(dict(steps=21), "steps = 21: must be <= the diffusion steps (20)"),
                           (dict(levels=[3, 5]), "levels must be strictly decreasing"),
                           (dict(levels=[20, 0]), "levels must lie in [0, 19]"),
                           (dict(fast_betas=[0.1, 1.0]), "fast_betas must be a non-empty list"),
                           (dict(fast_betas=[]), "fast_betas")]:
        with pytest.raises(ValueError) as info:
            SampleOptions(**options).check(20)
        assert words in str(info.value)
