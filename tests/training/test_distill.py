"""Progressive distillation (issue 11, point 4): the target's math, and `audiodiff distill` end to end on tiny runs."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import audiodiff as ad
from audiodiff import checkpoint as ckpt
from audiodiff.cli import app
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.nets import DiffWave
from audiodiff.recipe import recipe_from_dict
from audiodiff.sampling import ddim, placed_plan
from audiodiff.schedule import NoiseSchedule
from audiodiff.sampling.spacing import nested_levels
from audiodiff.training import Trainer, TrainingError
from helpers.audio import write_tone_wavs
from helpers.cli import assert_one_line_error, run_cli
from helpers.processes import kill_9_when
from helpers.recipes import tiny_recipe_dict
from helpers.runs import assert_close_dicts, read_events, weights

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


# ----------------------------------------------------------------- end to end, on tiny trained runs
def distill_cmd(run: Path, out: Path, *extra: str) -> list[str]:
    """`python cli.py distill RUN --steps 2 --from-steps 8 --out OUT` on the CPU, tiny rounds, no progress bar."""
    return [sys.executable, "cli.py", "distill", str(run), "--steps", "2", "--from-steps", "8", "--out", str(out),
            "--iters-per-round", "10", "--lr", "1e-3", "--no-progress", "--device", "cpu", *extra]


def train_teacher(root: Path, prediction: str = "v", steps: int = 60, **recipe) -> Path:
    """root/run: the tiny DiffWave (T = 20) trained `steps` steps on four tones, predicting `prediction`."""
    write_tone_wavs(root / "audio")
    raw = tiny_recipe_dict(root / "audio", max_steps=steps, checkpoint_every=steps, log_every=steps)
    raw["diffusion"]["prediction"] = prediction
    for table, values in recipe.items():
        raw.setdefault(table, {}).update(values)
    Trainer(recipe_from_dict(raw), root / "run", show_progress=False).fit()
    return root / "run"


# ~5k parameters: the 2.6k-parameter tiny DiffWave learns a v-prediction student's correction too slowly
SMALL_DIFFWAVE = {"type": "diffwave", "residual_layers": 3, "residual_channels": 16, "dilation_cycle": 3,
                  "embed_dim": 16, "sinusoid_dim": 16}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A v-prediction run (the paper's natural case), trained 60 steps."""
    return train_teacher(tmp_path_factory.mktemp("teacher"), model=SMALL_DIFFWAVE)


class CountCalls:
    """Counts DiffWave forward calls (every copy the pipelines make, bf16 included) while patched in."""

    def __init__(self, monkeypatch):
        self.n = 0
        forward = DiffWave.forward

        def counted(net, *args, **kwargs):
            self.n += 1
            return forward(net, *args, **kwargs)

        monkeypatch.setattr(DiffWave, "forward", counted)


@pytest.mark.slow
def test_cli_distill_makes_a_run_that_samples_with_its_distilled_steps(teacher, tmp_path, monkeypatch):
    out = tmp_path / "student"
    proc = run_cli(*distill_cmd(teacher, out)[2:])          # `audiodiff distill …` in this process
    assert proc.returncode == 0, proc.stderr
    assert "2-step student ready" in proc.stdout
    config = ckpt.load_config(out)
    assert config["sample"]["sampler"] == "ddim" and config["sample"]["steps"] == 2
    assert config["sample"]["levels"] == nested_levels(20, 2) == [19.0, 9.0]
    assert config["distill"]["round"] == 1 and config["step"] == 20
    assert config["distill"]["teacher_step"] == 60 and (out / ckpt.WEIGHTS).is_file()
    scalars = read_events(out / "tb").Tags()["scalars"]
    assert "distill/round" in scalars and "train/loss" in scalars

    calls = CountCalls(monkeypatch)
    clips = ad.load(out, device="cpu").sample(n=2, seed=0)
    assert calls.n == 2 and clips.shape == (2, 256) and torch.isfinite(clips).all()

    calls.n = 0
    result = CliRunner().invoke(app, ["sample", "--model", str(out), "--n", "2", "--out", str(tmp_path / "wavs"),
                                      "--seed", "0", "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert calls.n == 2 and len(list((tmp_path / "wavs").glob("sample_*.wav"))) == 2


def chain_error(run: Path, student_steps: int, reference: torch.Tensor) -> float:
    """Mean squared distance of the run's DDIM chain on the nested student_steps levels to `reference`."""
    pipe = ad.load(run, device="cpu", precision="fp32")
    x = pipe.diffusion.sample(pipe.model, tuple(reference.shape), sampler="ddim",
                              levels=nested_levels(20, student_steps), generator=torch.Generator().manual_seed(7))
    return float((x - reference).pow(2).mean())


@pytest.mark.slow
def test_the_student_is_closer_to_the_teachers_two_n_step_chain_than_the_teacher_at_n_steps(teacher, tmp_path):
    student = ad.distill(teacher, steps=2, from_steps=4, out=tmp_path / "s", iters_per_round=40, lr=3e-3,
                         batch_size=4, device="cpu", show_progress=False)
    pipe = ad.load(teacher, device="cpu", precision="fp32")
    reference = pipe.diffusion.sample(pipe.model, (8, 1, 256), sampler="ddim", levels=nested_levels(20, 4),
                                      generator=torch.Generator().manual_seed(7))
    before, after = chain_error(teacher, 2, reference), chain_error(student, 2, reference)
    assert before > 0 and after < 0.5 * before, (before, after)


@pytest.mark.slow
def test_kill_9_mid_distillation_then_the_same_command_resumes_to_the_uninterrupted_weights(teacher, tmp_path):
    out = tmp_path / "killed"
    cmd = distill_cmd(teacher, out, "--iters-per-round", "60", "--checkpoint-every", "10")

    def in_round_two() -> bool:   # a checkpoint of the second round is on disk
        try:
            return ckpt.load_config(out).get("step", 0) > 60
        except (FileNotFoundError, ValueError):
            return False

    kill_9_when(cmd, tmp_path / "log", in_round_two)
    assert ckpt.load_config(out)["step"] < 120
    resumed = run_cli(*cmd[2:])          # the same command (after `python cli.py`), in this process
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    config = ckpt.load_config(out)
    assert config["step"] == 120 and config["distill"]["round"] == 1 and config["sample"]["steps"] == 2
    whole = ad.distill(teacher, steps=2, from_steps=8, out=tmp_path / "whole", iters_per_round=60, lr=1e-3,
                       checkpoint_every=10, device="cpu", show_progress=False)
    assert_close_dicts(weights(out), weights(whole), "resumed vs uninterrupted", atol=0)


@pytest.mark.slow
def test_a_bad_steps_is_a_one_line_error(teacher, tmp_path):
    assert_one_line_error(run_cli("distill", str(teacher), "--steps", "3", "--from-steps", "8", "--out",
                                  str(tmp_path / "s")), "--steps 3", "halved")
    assert not (tmp_path / "s").exists()


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


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["vocoder", "mel"])
def test_mel_and_vocoder_runs_distil(domain, tmp_path, monkeypatch):
    model = {"in_channels": 16} if domain == "mel" else {}   # a mel run's channels are the mel bins
    run = train_teacher(tmp_path, prediction="v", steps=10, data={"domain": domain}, model=model,
                        features={"n_fft": 128, "hop_length": 32, "n_mels": 16})
    student = ad.distill(run, steps=1, from_steps=4, out=tmp_path / "s", iters_per_round=5, lr=1e-3,
                         device="cpu", show_progress=False)
    config = ckpt.load_config(student)
    assert config["domain"] == domain and config["features"] == ckpt.load_config(run)["features"]
    pipe = ad.load(student, device="cpu")
    calls = CountCalls(monkeypatch)
    if domain == "vocoder":
        audio = pipe.resynthesize(torch.sin(torch.arange(256) / 3.0) * 0.5, seed=0)
    else:
        audio = pipe.sample_mel(n=1, seed=0)
    assert calls.n == 1 and torch.isfinite(torch.as_tensor(audio)).all()


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


@pytest.mark.slow
def test_vocoder_few_step_benchmark_scores_teacher_and_student(tmp_path, monkeypatch):
    """benchmarks/studies/vocoder_few_step.py: each configuration's network calls per clip are what it says, and the
    log-mel distance to the input is measured (finite, and 0 only for a copy, which no vocoder here makes)."""
    import soundfile as sf

    run = train_teacher(tmp_path, prediction="v", steps=10, data={"domain": "vocoder"},
                        features={"n_fft": 128, "hop_length": 32, "n_mels": 16})
    student = ad.distill(run, steps=1, from_steps=2, out=tmp_path / "s", iters_per_round=3, device="cpu",
                         show_progress=False)
    clips = tmp_path / "clips"
    clips.mkdir()
    t = torch.arange(600) / 8000.0
    for i, freq in enumerate((300.0, 450.0, 600.0)):
        sf.write(clips / f"c{i}.wav", (0.5 * torch.sin(2 * torch.pi * freq * t)).numpy(), 8000)
    (clips / "list.txt").write_text("c0.wav\nc2.wav\n")

    from benchmarks.studies.vocoder_few_step import main as vocoder_few_step

    out = vocoder_few_step([str(run), "--student", str(student), "--data", str(clips), "--list", "list.txt", "--n", "5",
                      "--batch", "1", "--json", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text())["results"] == out["results"]
    assert out["clips"] == 2 and out["samples_per_clip"] == 576 and out["files"][0].endswith("c0.wav")
    rows = {r["config"]: r for r in out["results"]}
    num_steps = ckpt.load_config(run)["diffusion"]["num_steps"]
    assert rows["teacher, ddpm every step"]["calls_per_clip"] == num_steps
    assert rows["teacher, ddim 1 steps"]["calls_per_clip"] == 1
    assert rows[f"student {student}"]["calls_per_clip"] == 1
    assert all(r["log_mel_distance"] > 0 and math.isfinite(r["log_mel_distance"]) for r in out["results"])
