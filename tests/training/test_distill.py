"""Progressive distillation (issue 11, point 4): the target's math, and what `distill` refuses (`audiodiff distill`
end to end on tiny runs is in tests/e2e/test_distill_e2e.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import audiodiff as ad
from audiodiff import checkpoint as ckpt
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.sampling import ddim, placed_plan
from audiodiff.schedule import NoiseSchedule
from audiodiff.sampling.spacing import nested_levels
from audiodiff.training import TrainingError
from helpers.distill import v_teacher

COSINE = NoiseSchedule.cosine(1000)


def analytic_teacher(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth, nonlinear stand-in for a network: output depends on x and the (fractional) step t."""
    tt = t.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return 0.7 * torch.tanh(1.3 * x) * torch.cos(tt / 400) + 0.2 * torch.sin(tt / 150) - 0.1 * x


def test_nested_levels_halve_by_taking_every_other_level():
    for n in (1, 2, 4, 8, 32):
        assert nested_levels(1000, 2 * n)[::2] == nested_levels(1000, n)
    assert nested_levels(1000, 4) == [999.0, 749.0, 499.0, 249.0]
    assert nested_levels(20, 8)[-1] == 1.5
    with pytest.raises(ValueError):
        nested_levels(20, 40)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_one_student_ddim_step_lands_where_two_teacher_steps_land(prediction):
    """Float64, every student step of a 4-step student of an 8-step teacher, through the samplers' own DDIM rule."""
    diffusion = GaussianDiffusion(COSINE, prediction=prediction)
    teacher_plan = placed_plan(COSINE, None, None, levels=nested_levels(1000, 8))
    student_plan = placed_plan(COSINE, None, None, levels=nested_levels(1000, 4))
    teacher_step, student_step = ddim(teacher_plan, None), ddim(student_plan, None)
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        x = torch.randn(3, 2, 64, generator=g, dtype=torch.float64)
        # the teacher: two DDIM steps, exactly as the sampling loop takes them
        y = x
        for j in (2 * i, 2 * i + 1):
            x0, eps = diffusion.predict(analytic_teacher, y, teacher_plan.t_model[j].expand(3),
                                        teacher_plan.alpha_bar[j])
            y = teacher_step(j, y, x0, eps)
        # the student: one DDIM step with the distillation target as its output
        ab, ab_mid, ab_next = (teacher_plan.alpha_bar[2 * i], teacher_plan.alpha_bar[2 * i + 1],
                               teacher_plan.alpha_bar_prev[2 * i + 1])
        target = diffusion.distillation_target(analytic_teacher, x, teacher_plan.t_model[2 * i].expand(3), ab,
                                               teacher_plan.t_model[2 * i + 1].expand(3), ab_mid, ab_next)
        assert student_plan.alpha_bar[i] == ab and student_plan.alpha_bar_prev[i] == ab_next
        x0, eps = diffusion.predict(lambda *_: target, x, student_plan.t_model[i].expand(3), ab)
        z = student_step(i, x, x0, eps)
        torch.testing.assert_close(z, y, rtol=0, atol=1e-5)
        assert (z - x).abs().max() > 1e-2   # the step moved somewhere


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_a_perfect_student_chain_reproduces_the_teacher_chain(prediction):
    """The whole N-step chain of a student that outputs the target equals the teacher's 2N-step chain
    (`sampling.sample` with the nested levels, float32)."""
    diffusion = GaussianDiffusion(COSINE, prediction=prediction)
    teacher_plan = placed_plan(COSINE, None, None, levels=nested_levels(1000, 8))
    t_plan = teacher_plan.t_model.tolist()

    def student(x, t):
        k = t_plan.index(float(t[0]))
        ab = teacher_plan.alpha_bar[k]
        return diffusion.distillation_target(analytic_teacher, x, t, ab, teacher_plan.t_model[k + 1].expand(len(t)),
                                             teacher_plan.alpha_bar[k + 1], teacher_plan.alpha_bar_prev[k + 1])

    want = diffusion.sample(analytic_teacher, (2, 1, 128), sampler="ddim", levels=nested_levels(1000, 8),
                            generator=torch.Generator().manual_seed(3))
    got = diffusion.sample(student, (2, 1, 128), sampler="ddim", levels=nested_levels(1000, 4),
                           generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)   # eps: x̂0 = (x − s·ε̂)/a is large at the top


def test_distillation_weights_are_the_papers_loss_in_x0_terms():
    """w·‖out error‖² = (1 + SNR)·‖x̂0 error‖² ("snr+1") and max(SNR, 1)·‖x̂0 error‖² ("truncated-snr")."""
    ab = COSINE.alphas_cumprod[torch.tensor([10, 300, 700])]
    snr = ab / (1 - ab)
    x_t = torch.randn(3, 1, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x0, x0_hat = torch.randn_like(x_t), torch.randn_like(x_t)
    abv = ab.reshape(-1, 1, 1)
    for prediction in ("eps", "v", "x0"):
        d = GaussianDiffusion(COSINE, prediction=prediction)
        out_err = (d.output_for(x0_hat, x_t, abv) - d.output_for(x0, x_t, abv)).pow(2).flatten(1).sum(1)
        x0_err = (x0_hat - x0).pow(2).flatten(1).sum(1)
        for weighting, w_x0 in (("snr+1", snr + 1), ("truncated-snr", snr.clamp(min=1))):
            w = d.distillation_weight(ab, weighting).double()
            torch.testing.assert_close(w * out_err, w_x0 * x0_err, rtol=1e-5, atol=0)


# ----------------------------------------------------------------- what a run refuses to distil
@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A v-prediction run trained 60 steps (helpers/distill.py), once for this module."""
    return v_teacher(tmp_path_factory.mktemp("teacher"))


def test_distill_refuses_what_it_cannot_distil(teacher, tmp_path):
    def refused(match, run=teacher, out=tmp_path / "s", **kw):
        with pytest.raises((TrainingError, FileNotFoundError, ValueError), match=match):
            ad.distill(run, out=out, device="cpu", show_progress=False, **{"steps": 2, "from_steps": 8, **kw})

    refused("not a run directory", run=tmp_path / "nowhere")
    refused("--steps 6", steps=6)
    refused("--steps 8", steps=8)
    refused("--from-steps", from_steps=64)                          # more than T = 20
    refused("is the run being distilled", out=teacher)
    other = tmp_path / "other"
    shutil.copytree(teacher, other)
    refused("holds a different run", out=other)
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    config = json.loads((teacher / ckpt.CONFIG).read_text())
    (classifier / ckpt.CONFIG).write_text(json.dumps({**config, "model": {"type": "classifier"}}))
    refused("classifier run", run=classifier)
    assert not (tmp_path / "s").exists()


def test_the_cli_defaults_are_the_apis():
    import inspect

    from audiodiff.cli import distill_cmd
    from audiodiff.training import distillation

    cli = inspect.signature(distill_cmd.distill).parameters
    api = inspect.signature(distillation.distill).parameters
    assert cli["from_steps"].default.default == api["from_steps"].default == distillation.FROM_STEPS
    assert cli["iters_per_round"].default.default == api["iters_per_round"].default == distillation.ITERS_PER_ROUND
    assert cli["lr"].default.default == api["lr"].default == distillation.LEARNING_RATE
    for name in ("steps", "weighting", "ema_decay"):
        assert cli[name].default.default == api[name].default, name
