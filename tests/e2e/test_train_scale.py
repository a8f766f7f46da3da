"""Training at scale and fault tolerance, on CPU with tiny models: DDP over 2 gloo processes (torchrun),
gradient accumulation, LR schedules, torch.compile wiring, TensorBoard scalars and previews, kill -9 and
resume, a crash while a checkpoint is written, divergence, and bad [train] keys through the CLI."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import audiodiff
from audiodiff import checkpoint as ckpt
from audiodiff.recipe import RecipeError, load_recipe
from audiodiff.training import Trainer, TrainingError, mel_image
from helpers.cli import run_cli
from helpers.processes import child_env, child_script, kill_9_when, train_args, train_cmd
from helpers.recipes import REPO, TINY_DIFFWAVE, make_recipe, tiny_recipe_dict, write_recipe
from helpers.runs import assert_close_dicts, read_events, state_tensors, weights


train_mod = importlib.import_module("audiodiff.training.trainer")


# ----------------------------------------------------------------- DDP: 2 gloo processes under torchrun
DDP_HELPER = r'''
"""Runs `audiodiff train …` (the real CLI) under torchrun; records this rank's parameters and the files
it wrote into OUT/rank<RANK>.pt.  Usage: helper.py OUT train RECIPE --out RUN …"""
import os, sys
import torch
from audiodiff import checkpoint as ckpt
from audiodiff.training import Trainer

out = sys.argv[1]
writes = []
real_write = ckpt.atomic_write_many
def spy(items):
    writes.extend(str(p) for p, _ in items)
    return real_write(items)
ckpt.atomic_write_many = spy
trainers = []
real_fit = Trainer.fit
def fit(self):
    trainers.append(self)
    return real_fit(self)
Trainer.fit = fit

from helpers.child_cli import run_main
code = run_main(sys.argv[2:])
t = trainers[0]
torch.save({"model": t.model.state_dict(), "ema": t.ema.module.state_dict(), "step": t.step,
            "world": t.world_size, "rank": t.rank, "writes": writes},
           os.path.join(out, "rank%s.pt" % os.environ["RANK"]))
sys.exit(code)
'''


def test_ddp_two_processes_stay_in_sync(wav_folder, tmp_path):
    raw = tiny_recipe_dict(wav_folder, batch_size=4, grad_accum=2, checkpoint_every=2, log_every=2,
                           lr_schedule="cosine", max_steps=5)
    recipe_dir = write_recipe(tmp_path / "recipe", raw)
    helper = child_script(tmp_path / "ddp_helper.py", DDP_HELPER)
    out, run = tmp_path / "ranks", tmp_path / "run"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(helper), str(out), "train", str(recipe_dir), "--out", str(run), "--no-progress",
                           "--max-steps", "4"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["world"], r0["rank"], r1["rank"], r0["step"], r1["step"]) == (2, 0, 1, 4, 4)
    # DDP kept the replicas identical, and they trained (the output projection starts at zero)
    assert_close_dicts(r0["model"], r1["model"], "rank 0 vs rank 1 model", atol=0)
    assert_close_dicts(r0["ema"], r1["ema"], "rank 0 vs rank 1 EMA", atol=0)
    assert r0["model"]["output_projection.weight"].abs().max() > 0
    # only rank 0 wrote files; the run directory is a one-process run's, holding the unwrapped module
    assert r1["writes"] == []
    assert {Path(p).name for p in r0["writes"]} == {ckpt.CONFIG, ckpt.WEIGHTS, ckpt.STATE}
    assert_close_dicts(r0["model"], ckpt.load_state(run)["model"], "checkpoint vs rank 0", atol=0)
    assert_close_dicts(r0["ema"], weights(run), "model.safetensors vs rank 0 EMA", atol=0)
    state = ckpt.load_state(run)
    assert state["step"] == 4 and len(state["ranks"]) == 2
    assert not torch.equal(state["ranks"][0]["noise_rng"], state["ranks"][1]["noise_rng"])   # per-rank noise
    assert (run / "tb").is_dir()
    logs = proc.stderr
    assert logs.count("training tiny") == 1 and "× 2 processes" in logs          # rank-0-only logging
    assert "step 4/4" in logs and logs.count("step 4/4") == 1
    # the DDP run resumes in one process (and in turn on any number of processes)
    resumed = Trainer(load_recipe(recipe_dir), run, device="cpu", max_steps=5, show_progress=False)
    assert resumed.step == 4 and resumed.world_size == 1
    resumed.fit()
    assert ckpt.load_state(run)["step"] == 5


# ----------------------------------------------------------------- kill -9, then the same command again
def test_kill_9_then_resume_matches_uninterrupted(wav_folder, tmp_path):
    steps = 60
    raw = tiny_recipe_dict(wav_folder, checkpoint_every=2, log_every=10, max_steps=steps, lr_schedule="cosine",
                           warmup_steps=5)
    recipe_dir = write_recipe(tmp_path / "recipe", raw)
    run = tmp_path / "run"
    cmd = train_cmd(recipe_dir, run)
    kill_9_when(cmd, tmp_path / "killed.log", (run / ckpt.STATE).is_file)
    killed_at = ckpt.load_state(run)["step"]
    assert 2 <= killed_at < steps and killed_at % 2 == 0
    # the same command again resumes from the checkpoint and finishes
    proc = run_cli(*train_args(recipe_dir, run))      # the same command, in this process
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming {run} from step {killed_at}" in proc.stderr
    assert not [p for p in run.iterdir() if p.name.endswith(ckpt.TEMP_SUFFIX)]
    # … with the same weights as a run that was never interrupted
    reference = tmp_path / "reference"
    Trainer(load_recipe(recipe_dir), reference, device="cpu", show_progress=False).fit()
    assert ckpt.load_state(run)["step"] == ckpt.load_state(reference)["step"] == steps
    assert_close_dicts(weights(reference), weights(run), "model.safetensors")
    assert_close_dicts(state_tensors(reference), state_tensors(run), "training_state")


# ----------------------------------------------------------------- a crash while a checkpoint is written
def _half_then_fail(real):
    def broken(obj, path, *args, **kwargs):
        real(obj, path, *args, **kwargs)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(28, "No space left on device")
    return broken


@pytest.mark.parametrize("target", ["torch.save", "safetensors.save_file"])
def test_crash_while_writing_checkpoint_keeps_previous(wav_folder, tmp_path, monkeypatch, target):
    recipe = make_recipe(wav_folder, checkpoint_every=2)
    run = tmp_path / "run"
    trainer = Trainer(recipe, run, device="cpu", max_steps=6, show_progress=False)
    real_save = Trainer.save_checkpoint

    def crash_on_second(self):
        if self.step == 4:   # the second checkpoint: half a file, then an error
            if target == "torch.save":
                monkeypatch.setattr(torch, "save", _half_then_fail(torch.save))
            else:
                monkeypatch.setattr(ckpt, "save_file", _half_then_fail(ckpt.save_file))
        real_save(self)

    monkeypatch.setattr(Trainer, "save_checkpoint", crash_on_second)
    with pytest.raises(TrainingError, match=r"No space left on device\): the checkpoint of step 2 is kept"):
        trainer.fit()
    monkeypatch.undo()
    # the step-2 checkpoint is whole: the model loads and samples, the training state and config agree
    assert not [p for p in run.iterdir() if p.name.endswith(ckpt.TEMP_SUFFIX)]
    pipe = audiodiff.load(run, device="cpu")
    assert torch.isfinite(pipe.sample(n=1, steps=2, seed=0)).all()
    with safe_open(str(run / ckpt.WEIGHTS), "pt") as f:
        assert f.metadata()["step"] == "2"
    assert ckpt.load_state(run)["step"] == 2
    assert json.loads((run / ckpt.CONFIG).read_text())["step"] == 2
    resumed = Trainer(recipe, run, device="cpu", max_steps=6, show_progress=False)
    assert resumed.step == 2
    resumed.fit()
    assert ckpt.load_state(run)["step"] == 6


def test_stale_temp_files_are_removed_on_resume(wav_folder, tmp_path, audiodiff_log):
    recipe = make_recipe(wav_folder)
    run = tmp_path / "run"
    Trainer(recipe, run, device="cpu", max_steps=1, show_progress=False).fit()
    stale = run / f".{ckpt.STATE}.abc123{ckpt.TEMP_SUFFIX}"
    stale.write_bytes(b"half a checkpoint")
    Trainer(recipe, run, device="cpu", max_steps=2, show_progress=False).fit()
    assert not stale.exists()
    assert any("removed 1 temp file" in r.getMessage() for r in audiodiff_log.records)


# ----------------------------------------------------------------- divergence names the last good checkpoint
class NaNFrom(torch.nn.Module):
    """A tiny DiffWave whose output turns NaN from call `first_bad` on."""

    def __init__(self, first_bad: int):
        super().__init__()
        self.net = audiodiff.DiffWave(**{k: v for k, v in TINY_DIFFWAVE.items() if k != "type"})
        self.first_bad, self.calls = first_bad, 0

    def forward(self, x, t):
        self.calls += 1
        out = self.net(x, t)
        return out + float("nan") if self.calls >= self.first_bad else out


@pytest.mark.parametrize("first_bad, last_good", [(4, 2), (1, None)])
def test_divergence_names_last_good_checkpoint(wav_folder, tmp_path, monkeypatch, audiodiff_log, first_bad,
                                               last_good):
    monkeypatch.setattr(train_mod, "build_network", lambda cfg: NaNFrom(first_bad))
    monkeypatch.setattr(train_mod, "MAX_BAD_STEPS", 2)
    run = tmp_path / "run"
    trainer = Trainer(make_recipe(wav_folder, checkpoint_every=2), run, device="cpu", max_steps=50,
                      show_progress=False)
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    message = str(info.value)
    assert str(run) in message
    # Steps first_bad and first_bad + 1 are skipped, then the run stops.  With first_bad = 4 the step-4
    # checkpoint is still written: skipped steps leave the weights alone, so it holds step 3's good weights.
    if last_good is None:
        assert "no checkpoint" in message and trainer.step == 2
    else:
        assert trainer.step == 5 and trainer.last_checkpoint_step == 4
        assert "at step 4" in message
        assert ckpt.load_state(run)["step"] == 4
        assert all(torch.isfinite(v).all() for v in weights(run).values())
    assert trainer.skipped_total == 2
    skipped = [r.getMessage() for r in audiodiff_log.records if "non-finite loss, step skipped" in r.getMessage()]
    assert len(skipped) == 2


# ----------------------------------------------------------------- grad_accum, lr_schedule, compile
def test_grad_accum_trains_the_same_model(wav_folder, tmp_path):
    runs = {}
    for accum in (1, 2):
        run = tmp_path / f"accum{accum}"
        # fp32: bf16 autocast (the default on CPUs with AMX) rounds two half-batches differently from one batch
        recipe = make_recipe(wav_folder, batch_size=4, grad_accum=accum, precision="fp32")
        Trainer(recipe, run, device="cpu", max_steps=3, show_progress=False).fit()
        runs[accum] = run
    assert_close_dicts(weights(runs[1]), weights(runs[2]), "grad_accum 1 vs 2", atol=1e-5)
    with pytest.raises(RecipeError, match="grad_accum"):
        make_recipe(wav_folder, batch_size=4, grad_accum=3)


def test_lr_schedules(wav_folder, tmp_path):
    lr = 1e-3
    cosine = Trainer(make_recipe(wav_folder, lr_schedule="cosine", warmup_steps=4, max_steps=24, min_lr_ratio=0.1),
                     tmp_path / "c", device="cpu", max_steps=3, show_progress=False)
    f = cosine.lr_factor
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]                   # linear warm-up
    values = [f(s) for s in range(3, 24)]
    assert all(a > b for a, b in zip(values, values[1:]))                       # then decreasing …
    assert math.isclose(f(23), 0.1) and math.isclose(f(1000), 0.1)             # … to the floor at max_steps
    assert math.isclose(f(13), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 10 / 20)))
    cosine.fit()                                                                # 3 of 24 steps (--max-steps 3)
    assert math.isclose(cosine.optimizer.param_groups[0]["lr"], lr * f(3))
    constant = Trainer(make_recipe(wav_folder, warmup_steps=2), tmp_path / "k", device="cpu", show_progress=False)
    assert [constant.lr_factor(s) for s in (0, 1, 2, 100)] == [0.5, 1.0, 1.0, 1.0]


def test_compile_wraps_the_network(wav_folder, tmp_path, monkeypatch):
    compiled = []

    def fake_compile(module, **kwargs):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    trainer = Trainer(make_recipe(wav_folder, compile=True), tmp_path / "run", device="cpu", max_steps=2,
                      show_progress=False)
    assert compiled == [trainer.model]
    trainer.fit()
    Trainer(make_recipe(wav_folder), tmp_path / "off", device="cpu", max_steps=1, show_progress=False)
    assert len(compiled) == 1                                                   # off by default


# ----------------------------------------------------------------- TensorBoard scalars and previews
def test_tensorboard_scalars_and_previews(wav_folder, tmp_path):
    import io

    import soundfile as sf

    recipe = make_recipe(wav_folder, preview_every=2, preview_n=2, log_every=2)
    run = tmp_path / "run"
    Trainer(recipe, run, device="cpu", max_steps=4, show_progress=False).fit()
    acc = read_events(run / "tb")
    tags = acc.Tags()
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/steps_per_s", "train/skipped_steps"):
        assert [e.step for e in acc.Scalars(tag)] == [2, 4], tag
    bins = [t for t in tags["scalars"] if t.startswith("loss_by_t/")]
    assert bins and all(0 <= int(t.split("/")[1].split("_")[0]) < 10 for t in bins)
    assert all(math.isfinite(e.value) and e.value > 0 for t in bins for e in acc.Scalars(t))
    assert sorted(tags["audio"]) == ["preview/audio_0", "preview/audio_1"]
    assert [e.step for e in acc.Images("preview/mel")] == [2, 4]
    # the step-4 preview is what `audiodiff sample` makes from the saved model with its defaults
    expected = audiodiff.load(run, device="cpu").sample(n=2, seed=0)
    for i in range(2):
        event = acc.Audio(f"preview/audio_{i}")[-1]
        assert event.step == 4 and event.sample_rate == recipe.data.sample_rate
        clip, rate = sf.read(io.BytesIO(event.encoded_audio_string), dtype="float32")
        torch.testing.assert_close(torch.from_numpy(clip), expected[i], rtol=0, atol=2 / 32768)
    # previews do not perturb training
    quiet = tmp_path / "quiet"
    Trainer(make_recipe(wav_folder, tensorboard=False, log_every=2), quiet, device="cpu", max_steps=4,
            show_progress=False).fit()
    assert not (quiet / "tb").exists()
    assert_close_dicts(weights(run), weights(quiet), "previews on vs off", atol=0)


def test_previews_log_sample_statistics_against_the_data(wav_folder, tmp_path):
    from audiodiff.eval.wavestats import wave_stats

    recipe = make_recipe(wav_folder, preview_every=2, preview_n=2, log_every=2)
    run = tmp_path / "run"
    trainer = Trainer(recipe, run, device="cpu", max_steps=2, show_progress=False)
    trainer.fit()
    acc = read_events(run / "tb")
    stats = {t.split("/", 1)[1]: acc.Scalars(t)[-1].value for t in acc.Tags()["scalars"]
             if t.startswith("preview_stats/")}
    assert {"mean", "std", "clipped", "rms_db", "data_std", "band_gap_db"} <= set(stats)
    data = torch.stack([trainer.data.dataset[i]["audio"].reshape(-1) for i in range(2)])
    assert math.isclose(stats["data_std"], wave_stats(data)["std"], rel_tol=1e-4)
    sample = audiodiff.load(run, device="cpu").sample(n=2, seed=0)
    assert math.isclose(stats["std"], wave_stats(sample)["std"], rel_tol=1e-3)
    assert stats["band_gap_db"] >= 0


def test_mel_image_is_a_normalised_image():
    wav = torch.sin(torch.arange(2048) / 8000 * 2 * math.pi * 440).repeat(3, 1) * 0.5
    img = mel_image(wav, 8000)
    assert img.ndim == 3 and img.shape[0] == 1 and img.shape[2] > 3 * img.shape[1] / 4
    assert img.min() >= 0 and img.max() <= 1 and img.max() == 1
    assert mel_image(torch.zeros(1, 16), 1000).shape[0] == 1         # tiny clips do not crash


# ----------------------------------------------------------------- bad [train] keys: one line, before any work
@pytest.mark.parametrize("key, value, words", [
    ("grad_accum", 0, ("grad_accum", ">= 1")),
    ("lr_schedule", "linear", ("lr_schedule", "constant, cosine")),
    ("compile", "yes", ("compile", "true or false")),
    ("min_lr_ratio", 1.5, ("min_lr_ratio", "<= 1")),
    ("preview_every", -1, ("preview_every", ">= 0")),
    ("preview_n", 0, ("preview_n", ">= 1")),
    ("tensorboard", 1, ("tensorboard", "true or false")),
    ("grad_acum", 2, ("grad_acum", "allowed", "grad_accum")),
])
def test_bad_train_keys_are_refused(wav_folder, key, value, words):
    with pytest.raises(RecipeError) as info:
        make_recipe(wav_folder, **{key: value})
    assert all(w in str(info.value) for w in words), str(info.value)


def test_bad_train_key_through_cli(wav_folder, tmp_path):
    raw = tiny_recipe_dict(wav_folder, lr_schedule="linear")
    recipe_dir = write_recipe(tmp_path / "recipe", raw)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe_dir), "--out", str(run))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "[train] lr_schedule" in lines[0] and "constant, cosine" in lines[0]
    assert not run.exists()                                                     # no work started
