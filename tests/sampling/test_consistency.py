"""The README's table: every sampler × target × task runs, or fails early naming the combination."""

import pytest
import torch

from audiodiff import GaussianDiffusion, NoiseSchedule
from audiodiff.sampling import SAMPLERS, classifier_free_guidance
from audiodiff.tasks import bandwidth_extension, denoise, inpaint
from helpers.oracle import GaussianOracle

SCHED = NoiseSchedule.linear(20, 1e-3, 0.3)
SHAPE = (4, 2, 8)


class LabelledOracle:
    """The oracle ignoring labels, with num_classes so guidance can wrap it."""
    num_classes = 2

    def __init__(self, prediction):
        self.oracle = GaussianOracle(SCHED, prediction)

    def __call__(self, x, t, labels=None):
        return self.oracle(x, t)


def run_task(task, sampler, prediction):
    d = GaussianDiffusion(SCHED, prediction=prediction)
    model = GaussianOracle(SCHED, prediction)
    g = torch.Generator().manual_seed(0)
    audio = torch.zeros(SHAPE)
    if task == "generate":
        return d.sample(model, SHAPE, sampler=sampler, generator=g)
    if task == "guided":
        guided = classifier_free_guidance(LabelledOracle(prediction), torch.zeros(SHAPE[0], dtype=torch.long), 2.0)
        return d.sample(guided, SHAPE, sampler=sampler, generator=g)
    if task == "denoise":
        return denoise(d, model, audio, 0.3, sampler=sampler, generator=g)
    known = torch.ones(SHAPE, dtype=torch.bool)
    known[..., 3:5] = False
    if task == "inpaint":
        return inpaint(d, model, audio, known, sampler=sampler, generator=g)
    if task == "inpaint-resample":
        return inpaint(d, model, audio, known, sampler=sampler, resample=2, generator=g)
    return bandwidth_extension(d, model, audio, 0.5, sampler=sampler, generator=g)


# (task, sampler) pairs that are refused, with the words the error must contain
REFUSED = {("denoise", "fast"): "fast", ("inpaint-resample", "fast"): "resample",
           ("inpaint-resample", "dpm++"): "resample"}
TASKS = ("generate", "guided", "denoise", "inpaint", "inpaint-resample", "upsample")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_every_combination_runs_or_is_refused_by_name(task, sampler, prediction):
    if (task, sampler) in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[(task, sampler)]):
            run_task(task, sampler, prediction)
    else:
        out = run_task(task, sampler, prediction)
        assert out.shape == SHAPE and torch.isfinite(out).all()
