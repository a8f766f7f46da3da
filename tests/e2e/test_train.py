"""Trainer on CPU with tiny models: run-directory files, load/sample/export, exact resume, divergence."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import audiodiff
from audiodiff import checkpoint as ckpt
from audiodiff.recipe import load_recipe, recipe_from_dict
from audiodiff.training import Trainer, TrainingError
from helpers.audio import write_tone_wavs
from helpers.recipes import CLIP_LENGTH, SAMPLE_RATE, TINY_DIFFWAVE, TINY_UNET, make_recipe, tiny_recipe_dict
from helpers.runs import assert_close_dicts, state_tensors


train_mod = importlib.import_module("audiodiff.training.trainer")  # the module whose globals the tests patch


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One tiny DiffWave run (4 steps), shared by the load / sample / export tests."""

    root = tmp_path_factory.mktemp("trained")
    write_tone_wavs(root / "audio")
    run = root / "run"
    audiodiff.train(make_recipe(root / "audio"), run, device="cpu", max_steps=4, show_progress=False)
    return run


# ----------------------------------------------------------------- a run directory
def test_train_writes_run_dir_with_finite_loss(tiny_recipe_dir, tmp_path, audiodiff_log):
    recipe = load_recipe(tiny_recipe_dir)
    run = tmp_path / "run"
    trainer = Trainer(recipe, run, device="cpu", max_steps=4, show_progress=False)
    assert trainer.fit() == run
    for name in (ckpt.CONFIG, ckpt.WEIGHTS, ckpt.STATE):
        assert (run / name).is_file(), name
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    config = json.loads((run / ckpt.CONFIG).read_text())
    assert config["step"] == 4
    assert config["sample_rate"] == SAMPLE_RATE and config["clip_length"] == CLIP_LENGTH
    assert config["model"] == TINY_DIFFWAVE
    assert config["diffusion"]["num_steps"] == 20
    assert ckpt.load_state(run)["step"] == 4
    with safe_open(str(run / ckpt.WEIGHTS), "pt") as f:
        assert f.metadata()["step"] == "4"
    losses = [float(m) for r in audiodiff_log.records for m in re.findall(r"loss (\S+)", r.getMessage())]
    assert len(losses) == 4 and all(math.isfinite(v) and v > 0 for v in losses)
    assert trainer.skipped_total == 0
    # the weights moved away from the zero-initialised output projection
    weights = load_file(str(run / ckpt.WEIGHTS))
    assert weights["output_projection.weight"].abs().max() > 0


def test_train_step_returns_finite_loss(tiny_recipe_dir, tmp_path):
    trainer = Trainer(load_recipe(tiny_recipe_dir), tmp_path / "run", device="cpu", show_progress=False)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    loss = trainer.train_step(torch.randn(2, 1, CLIP_LENGTH).clamp(-1, 1))
    assert isinstance(loss, float) and math.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_trained_to_max_steps_is_a_no_op(trained_run, tmp_path):
    recipe = recipe_from_dict(json.loads((trained_run / ckpt.CONFIG).read_text())["recipe"])
    mtime = (trained_run / ckpt.WEIGHTS).stat().st_mtime_ns
    trainer = Trainer(recipe, trained_run, device="cpu", max_steps=4, show_progress=False)
    assert trainer.step == 4
    trainer.fit()
    assert (trained_run / ckpt.WEIGHTS).stat().st_mtime_ns == mtime


# ----------------------------------------------------------------- load / sample / export
def test_load_and_sample(trained_run):
    pipe = audiodiff.load(trained_run, device="cpu")
    assert pipe.sample_rate == SAMPLE_RATE and pipe.clip_length == CLIP_LENGTH
    wav = pipe.sample(n=2, steps=5, seed=0)
    assert wav.dtype == torch.float32 and wav.shape == (2, CLIP_LENGTH)
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1.0
    assert wav.std() > 0
    assert torch.equal(wav, pipe.sample(n=2, steps=5, seed=0))
    assert not torch.equal(wav, pipe.sample(n=2, steps=5, seed=1))
    assert pipe.sample(n=1, steps=3, seed=0, sampler="ddim").shape == (1, CLIP_LENGTH)
    assert pipe.sample(n=1, seed=0, length=100).shape == (1, 100)           # defaults: all 20 steps
    with pytest.raises(ValueError):
        pipe.sample(n=0)


def test_save_pretrained_round_trip(trained_run, tmp_path):
    pipe = audiodiff.load(trained_run, device="cpu")
    export = pipe.save_pretrained(tmp_path / "export")
    assert sorted(p.name for p in export.iterdir()) == [ckpt.CONFIG, ckpt.WEIGHTS]
    again = audiodiff.load(export, device="cpu")
    assert again.sample_rate == pipe.sample_rate
    assert torch.equal(pipe.sample(n=2, steps=5, seed=3), again.sample(n=2, steps=5, seed=3))
    a, b = pipe.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_load_errors(tmp_path, trained_run):
    with pytest.raises(FileNotFoundError):
        audiodiff.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        audiodiff.load(tmp_path / "empty")
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / ckpt.CONFIG).write_text((trained_run / ckpt.CONFIG).read_text())
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        audiodiff.load(no_weights)
    # weights that do not match the config's model
    config = json.loads((trained_run / ckpt.CONFIG).read_text())
    config["model"]["residual_channels"] = 4
    (no_weights / ckpt.CONFIG).write_text(json.dumps(config))
    (no_weights / ckpt.WEIGHTS).write_bytes((trained_run / ckpt.WEIGHTS).read_bytes())
    with pytest.raises((ValueError, RuntimeError)):
        audiodiff.load(no_weights)


# ----------------------------------------------------------------- exact resume
@pytest.mark.parametrize("model", [TINY_DIFFWAVE, TINY_UNET], ids=["diffwave", "unet1d-dropout"])
def test_resume_matches_uninterrupted(wav_folder, tmp_path, model):
    recipe = make_recipe(wav_folder, model=model, warmup_steps=4, checkpoint_every=3)
    run_a, run_b = tmp_path / "A", tmp_path / "B"
    Trainer(recipe, run_a, device="cpu", max_steps=6, show_progress=False).fit()

    Trainer(recipe, run_b, device="cpu", max_steps=3, show_progress=False).fit()
    assert ckpt.load_state(run_b)["step"] == 3
    resumed = Trainer(recipe, run_b, device="cpu", max_steps=6, show_progress=False)
    assert resumed.step == 3
    resumed.fit()

    assert ckpt.load_state(run_b)["step"] == ckpt.load_state(run_a)["step"] == 6
    assert_close_dicts(load_file(str(run_a / ckpt.WEIGHTS)), load_file(str(run_b / ckpt.WEIGHTS)),
                       "model.safetensors")
    assert_close_dicts(state_tensors(run_a), state_tensors(run_b), "training_state")
    assert ckpt.load_state(run_a)["scheduler"]["last_epoch"] == ckpt.load_state(run_b)["scheduler"]["last_epoch"]


def test_checkpoint_every_writes_intermediate_state(wav_folder, tmp_path, monkeypatch):
    saved_steps = []
    original = Trainer.save_checkpoint

    def spy(self):
        saved_steps.append(self.step)
        original(self)

    monkeypatch.setattr(Trainer, "save_checkpoint", spy)
    Trainer(make_recipe(wav_folder, checkpoint_every=2), tmp_path / "run", device="cpu", max_steps=5,
            show_progress=False).fit()
    assert saved_steps == [2, 4, 5]


def test_run_dir_with_other_model_refused(wav_folder, tmp_path):
    run = tmp_path / "run"
    Trainer(make_recipe(wav_folder), run, device="cpu", max_steps=1, show_progress=False).fit()
    other = make_recipe(wav_folder, model={**TINY_DIFFWAVE, "residual_channels": 4})
    with pytest.raises(TrainingError) as info:
        Trainer(other, run, device="cpu", max_steps=2, show_progress=False)
    assert str(run) in str(info.value) and "model" in str(info.value)
    # a different clip length is refused too; the same recipe resumes
    raw = tiny_recipe_dict(wav_folder)
    raw["data"]["clip_length"] = 128
    with pytest.raises(TrainingError, match="clip_length"):
        Trainer(recipe_from_dict(raw), run, device="cpu", show_progress=False)
    assert Trainer(make_recipe(wav_folder), run, device="cpu", show_progress=False).step == 1


def test_bad_max_steps(tiny_recipe_dir, tmp_path):
    with pytest.raises(TrainingError):
        Trainer(load_recipe(tiny_recipe_dir), tmp_path / "r", device="cpu", max_steps=0, show_progress=False)


# ----------------------------------------------------------------- non-finite losses
class NaNAfter(torch.nn.Module):
    """A tiny DiffWave whose output is NaN on calls listed in `bad_calls` (all calls when None)."""

    def __init__(self, bad_calls=None):
        super().__init__()
        self.net = audiodiff.DiffWave(**{k: v for k, v in TINY_DIFFWAVE.items() if k != "type"})
        self.bad_calls = bad_calls
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        out = self.net(x, t)
        if self.bad_calls is None or self.calls in self.bad_calls:
            out = out + float("nan")
        return out


def test_diverging_run_stops_naming_run_dir(wav_folder, tmp_path, monkeypatch, audiodiff_log):
    monkeypatch.setattr(train_mod, "build_network", lambda cfg: NaNAfter())
    monkeypatch.setattr(train_mod, "MAX_BAD_STEPS", 3)
    run = tmp_path / "diverged"
    trainer = Trainer(make_recipe(wav_folder), run, device="cpu", max_steps=50, show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    assert str(run) in str(info.value)
    assert trainer.step == 3 and trainer.skipped_total == 3
    skipped = [r for r in audiodiff_log.records if "non-finite loss" in r.getMessage()]
    assert len(skipped) == 3
    # skipped steps never touched the weights
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_isolated_nan_steps_are_skipped(wav_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "build_network", lambda cfg: NaNAfter(bad_calls={2, 3, 5}))
    monkeypatch.setattr(train_mod, "MAX_BAD_STEPS", 3)
    trainer = Trainer(make_recipe(wav_folder), tmp_path / "run", device="cpu", max_steps=6, show_progress=False)
    trainer.fit()
    assert trainer.step == 6 and trainer.skipped_total == 3
    state = ckpt.load_state(tmp_path / "run")
    assert state["skipped"] == 3
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert all(torch.isfinite(v).all() for v in load_file(str(tmp_path / "run" / ckpt.WEIGHTS)).values())
