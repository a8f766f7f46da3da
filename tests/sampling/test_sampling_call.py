"""The typed sampler call (audiodiff/sampling/call.py): the [sample] settings resolve once to a frozen SamplerCall
that the loop takes; the tasks use a run's [sample] settings under their own declared sampler; Pipeline.for_config
is the one factory."""

import dataclasses
import warnings
from collections.abc import Mapping

import pytest
import torch

import audiodiff
from audiodiff import tasks
from audiodiff.pipeline import GeneratingPipeline, Pipeline, VocoderPipeline, WaveformPipeline
from audiodiff.sampling import SAMPLERS, SampleOptions, SamplerCall, registry, sample
from helpers.oracle import OracleNet

SCHED = audiodiff.NoiseSchedule.linear(100, 1e-4, 0.1)
RATE = 8000


class Counting(torch.nn.Module):
    """A network that counts its calls."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x, t, **cond):
        self.calls += 1
        return self.net(x, t, **cond)


def oracle_pipe(sample: dict) -> WaveformPipeline:
    """A waveform pipeline over the white-Gaussian oracle, counting network calls, with [sample] = `sample`
    (fp32, so the chains call this very module)."""
    config = {"sample_rate": RATE, "clip_length": 64, "sample": sample}
    return Pipeline.for_config(Counting(OracleNet(SCHED)), audiodiff.GaussianDiffusion(SCHED), config,
                               precision="fp32")


class CountingSamplers(Mapping):
    """registry.SAMPLERS, counting how often a name is looked up (get_sampler asks `name in SAMPLERS` first)."""

    def __init__(self, records):
        self.records, self.lookups = records, 0

    def __contains__(self, name):
        self.lookups += 1
        return name in self.records

    def __getitem__(self, name):
        return self.records[name]

    def values(self):
        return self.records.values()

    def __iter__(self):
        return iter(self.records)

    def __len__(self):
        return len(self.records)


# ----------------------------------------------------------------- the call object
def test_a_call_is_frozen_and_checked_when_made():
    call = SamplerCall.of("ddim", 4, eta=0.5, spacing="karras", levels=None, clip_x0="dynamic")
    assert call.sampler is SAMPLERS["ddim"] and call.steps == 4 and call.name == "ddim"
    assert dict(call.plan_options) == {"spacing": "karras"} and dict(call.step_options) == {"eta": 0.5}
    assert (call.clip_x0, call.dynamic_percentile) == ("dynamic", 0.995)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.steps = 8
    with pytest.raises(TypeError):
        call.step_options["eta"] = 1.0                                   # read-only
    assert SamplerCall.of("ddpm", levels=[9, 3, 0]).plan_options["levels"] == (9, 3, 0)   # lists become tuples
    assert call.with_steps(2).steps == 2 and call.steps == 4
    for kwargs, error, words in [(dict(sampler="ddpm", eta=0.1), ValueError, "eta applies to sampler 'ddim' only"),
                                 (dict(sampler="ddim", etta=0.1), TypeError, "etta"),
                                 (dict(sampler="euler"), ValueError, "unknown sampler 'euler'"),
                                 (dict(sampler="ddim", steps=0), ValueError, "steps"),
                                 (dict(sampler="ddim", clip_x0="soft"), ValueError, "clip_x0"),
                                 (dict(sampler="ddim", clip_x0="dynamic", dynamic_percentile=0), ValueError,
                                  "dynamic_percentile")]:
        with pytest.raises(error, match=words):
            SamplerCall.of(**kwargs)
    with pytest.raises(TypeError, match="sampler record"):
        SamplerCall("ddim")
    with pytest.raises(ValueError, match="not a plan option"):
        SamplerCall(SAMPLERS["ddim"], plan_options={"eta": 0.5})


def test_the_loop_takes_only_a_call():
    d = audiodiff.GaussianDiffusion(SCHED)
    oracle = OracleNet(SCHED)
    g = torch.Generator().manual_seed(0)
    x = sample(d, oracle, (2, 1, 8), SamplerCall.of("ddim", 3), generator=g)
    same = d.sample(oracle, (2, 1, 8), sampler="ddim", steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, same)
    with pytest.raises(TypeError, match="SamplerCall"):
        sample(d, oracle, (2, 1, 8), "ddim")                             # a name is not a call
    with pytest.raises(TypeError, match="eta: sampler settings go in the SamplerCall"):
        sample(d, oracle, (2, 1, 8), SamplerCall.of("ddim", 3), eta=0.3)  # not passed on to the model as conditioning


def test_pipeline_sampling_and_tasks_look_the_sampler_up_once(monkeypatch):
    pipe = oracle_pipe({"sampler": "ddim", "steps": 3})
    counting = CountingSamplers(registry.SAMPLERS)
    monkeypatch.setattr(registry, "SAMPLERS", counting)
    pipe.sample(n=2, seed=0)
    assert counting.lookups == 1
    counting.lookups = 0
    pipe.denoise(torch.randn(2, 200, generator=torch.Generator().manual_seed(1)) * 0.3, sigma=0.3, seed=0)
    assert counting.lookups == 1                                         # two clips, four windows: one lookup


# ----------------------------------------------------------------- the tasks and the run's [sample]
def test_the_tasks_use_the_runs_sample_settings():
    pipe = oracle_pipe({"sampler": "ddpm", "steps": 7})
    audio = torch.randn(64, generator=torch.Generator().manual_seed(2)) * 0.2
    pipe.denoise(audio, sigma=0.5, seed=0)
    assert pipe.model.calls == 7
    pipe.model.calls = 0
    mask = torch.zeros(64, dtype=torch.bool)
    mask[20:40] = True
    pipe.inpaint(audio, mask, seed=0)
    assert pipe.model.calls == 7
    pipe.model.calls = 0
    pipe.upsample(audio[::2].contiguous(), RATE // 2, seed=0)
    assert pipe.model.calls == 7
    pipe.model.calls = 0
    pipe.denoise(audio, sigma=0.5, seed=0, steps=3)                     # given over the run's
    assert pipe.model.calls == 3


def test_each_task_runs_its_own_sampler_with_the_runs_other_settings():
    run = SampleOptions(sampler="fast", steps=5, eta=0.4, variance="beta", clip_x0="clip")
    assert [tasks.task_call(t, run=run).name for t in tasks.TASK_SAMPLERS] == list(tasks.TASK_SAMPLERS.values())
    denoise = tasks.task_call("denoise", run=run)
    assert (denoise.name, denoise.steps, denoise.clip_x0) == ("ddim", 5, "clip")
    assert dict(denoise.step_options) == {"eta": 0.4}
    assert dict(tasks.task_call("inpaint", run=run).step_options) == {"variance": "beta"}
    assert tasks.task_call("denoise", "ddpm", 3, run=run, variance="posterior") == SamplerCall.of(
        "ddpm", 3, variance="posterior", clip_x0="clip")
    assert tasks.task_call("denoise") == SamplerCall.of("ddim", eta=0.0)   # no run: the defaults
    with pytest.raises(ValueError, match="unknown task"):
        tasks.task_call("sing")
    # a run whose [sample] sampler cannot start part-way, nor resample: the tasks run anyway
    pipe = oracle_pipe({"sampler": "fast", "steps": 0})
    audio = torch.randn(64, generator=torch.Generator().manual_seed(3)) * 0.2
    assert torch.isfinite(pipe.denoise(audio, sigma=0.3, seed=0)).all()
    mask = torch.zeros(64, dtype=torch.bool)
    mask[10:30] = True
    assert torch.isfinite(pipe.inpaint(audio, mask, seed=0, resample_jumps=2)).all()


def test_denoise_steps_set_the_part_way_chain_and_nothing_else():
    """[sample] denoise_steps: a chain from the recording's level needs fewer steps than one from pure noise."""
    run = SampleOptions(sampler="ddim", steps=8, denoise_steps=2)
    assert tasks.task_call("denoise", run=run).steps == 2
    assert tasks.task_call("denoise", None, 5, run=run).steps == 5             # given over the run's
    assert tasks.task_call("inpaint", run=run).steps == 8 and run.resolve().steps == 8
    assert tasks.task_call("denoise", run=SampleOptions(sampler="ddim", steps=8)).steps == 8   # 0: steps
    pipe = oracle_pipe({"sampler": "ddim", "steps": 8, "denoise_steps": 2})
    pipe.denoise(torch.randn(64, generator=torch.Generator().manual_seed(5)) * 0.2, sigma=0.5, seed=0)
    assert pipe.model.calls == 2
    with pytest.raises(ValueError, match="denoise_steps = 300: must be <= the diffusion steps"):
        SampleOptions(denoise_steps=300).check(100)


@pytest.mark.parametrize("setting", [dict(levels=[90, 50, 10, 0]), dict(spacing="karras", lambda_min=-3.0),
                                     dict(spacing="leading")])
def test_denoising_leaves_out_run_placement_that_cannot_start_part_way(setting):
    """A run's levels and λ clip are made for chains from pure noise and 'leading' starts below a given level:
    denoising (which starts at the noise's level) leaves them out and keeps the rest."""
    run = SampleOptions(sampler="ddim", steps=4, **setting)
    call = tasks.task_call("denoise", run=run)
    assert call.steps == 4 and not {"levels", "lambda_min"} & set(call.plan_options)
    assert call.plan_options.get("spacing", "karras") == "karras"
    pipe = oracle_pipe({"sampler": "ddim", "steps": 4, **setting})
    audio = torch.randn(64, generator=torch.Generator().manual_seed(4)) * 0.2
    pipe.denoise(audio, sigma=0.5, seed=0)
    assert pipe.model.calls == 4
    assert run.resolve() != call                                        # generation keeps them


# ----------------------------------------------------------------- the one factory
def test_for_config_is_the_factory_and_pipeline_still_builds_with_a_warning():
    d, config = audiodiff.GaussianDiffusion(SCHED), {"sample_rate": RATE, "clip_length": 64}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe = Pipeline.for_config(OracleNet(SCHED), d, config)
        assert type(pipe) is WaveformPipeline
        assert type(GeneratingPipeline.for_config(OracleNet(SCHED), d, config)) is WaveformPipeline
        assert type(WaveformPipeline(OracleNet(SCHED), d, config)) is WaveformPipeline
    with pytest.raises(ValueError, match="VocoderPipeline cannot hold a 'waveform' run"):
        VocoderPipeline.for_config(OracleNet(SCHED), d, config)
    with pytest.warns(DeprecationWarning, match="Pipeline.for_config"):
        old = Pipeline(OracleNet(SCHED), d, config)
    assert type(old) is WaveformPipeline
