"""`audiodiff distill` end to end on tiny trained runs (progressive distillation, issue 11, point 4): a student run
that samples with its distilled steps, closer to the teacher's 2N-step chain than the teacher at N steps; kill -9
mid-distillation and the same command resumes to the uninterrupted weights; a bad --steps as one line; mel and
vocoder runs distil; and benchmarks/studies/vocoder_few_step.py scores teacher and student.  (The target's math is
checked in tests/training/test_distill.py.)"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import audiodiff as ad
from audiodiff import checkpoint as ckpt
from audiodiff.cli import app
from audiodiff.nets import DiffWave
from audiodiff.sampling.spacing import nested_levels
from helpers.cli import assert_one_line_error, run_cli
from helpers.distill import train_teacher, v_teacher
from helpers.processes import kill_9_when
from helpers.runs import assert_close_dicts, read_events, weights


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A v-prediction run trained 60 steps (helpers/distill.py), once for this module."""
    return v_teacher(tmp_path_factory.mktemp("teacher"))


def distill_cmd(run: Path, out: Path, *extra: str) -> list[str]:
    """`python cli.py distill RUN --steps 2 --from-steps 8 --out OUT` on the CPU, tiny rounds, no progress bar."""
    return [sys.executable, "cli.py", "distill", str(run), "--steps", "2", "--from-steps", "8", "--out", str(out),
            "--iters-per-round", "10", "--lr", "1e-3", "--no-progress", "--device", "cpu", *extra]


class CountCalls:
    """Counts DiffWave forward calls (every copy the pipelines make, bf16 included) while patched in."""

    def __init__(self, monkeypatch):
        self.n = 0
        forward = DiffWave.forward

        def counted(net, *args, **kwargs):
            self.n += 1
            return forward(net, *args, **kwargs)

        monkeypatch.setattr(DiffWave, "forward", counted)


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


def test_the_student_is_closer_to_the_teachers_two_n_step_chain_than_the_teacher_at_n_steps(teacher, tmp_path):
    student = ad.distill(teacher, steps=2, from_steps=4, out=tmp_path / "s", iters_per_round=40, lr=3e-3,
                         batch_size=4, device="cpu", show_progress=False)
    pipe = ad.load(teacher, device="cpu", precision="fp32")
    reference = pipe.diffusion.sample(pipe.model, (8, 1, 256), sampler="ddim", levels=nested_levels(20, 4),
                                      generator=torch.Generator().manual_seed(7))
    before, after = chain_error(teacher, 2, reference), chain_error(student, 2, reference)
    assert before > 0 and after < 0.5 * before, (before, after)


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


def test_a_bad_steps_is_a_one_line_error(teacher, tmp_path):
    assert_one_line_error(run_cli("distill", str(teacher), "--steps", "3", "--from-steps", "8", "--out",
                                  str(tmp_path / "s")), "--steps 3", "halved")
    assert not (tmp_path / "s").exists()


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
