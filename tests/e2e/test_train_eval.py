"""[train] eval_every: FID / IS of EMA samples in metrics.jsonl and TensorBoard, the best-FID weights in
RUN_DIR/best/, and a history that survives kill -9 and resume (each step once)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import audiodiff
from audiodiff import checkpoint as ckpt
from audiodiff.recipe import RecipeError, recipe_from_dict
from helpers.recipes import TINY_DIFFWAVE, tiny_recipe_dict, write_recipe
from helpers.runs import read_events
from helpers.sound_classes import LENGTH, RATE
from helpers.cli import run_cli
from helpers.processes import kill_9_when, train_args, train_cmd


def eval_recipe(data: Path, classifier: Path, **train) -> dict:
    raw = tiny_recipe_dict(data, model=dict(TINY_DIFFWAVE), **train)
    raw["data"].update(dataset="speechcommands", sample_rate=RATE, clip_length=LENGTH, cache=False)
    raw["train"].update(eval_classifier=str(classifier), eval_n=6, tensorboard=True, preview_every=0)
    raw["sample"] = {"sampler": "ddim", "steps": 4}
    return raw


def history(run: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]


def test_eval_every_logs_scores_and_keeps_the_best(sound_classifier, tmp_path):
    data, classifier = sound_classifier
    run = tmp_path / "run"
    recipe = recipe_from_dict(eval_recipe(data, classifier, eval_every=2, max_steps=6, checkpoint_every=2))
    audiodiff.train(recipe, run, device="cpu", show_progress=False)
    h = history(run)
    assert [r["step"] for r in h] == [2, 4, 6]
    for r in h:
        assert r["n"] == 6 and all(math.isfinite(r[k]) for k in ("fid", "is", "mis", "am", "ndb"))
        assert r["fid"] > 0 and 1 <= r["is"] <= 10

    events = read_events(run / "tb")
    assert [e.step for e in events.Scalars("eval/fid")] == [2, 4, 6]
    assert [round(e.value, 4) for e in events.Scalars("eval/is")] == [round(r["is"], 4) for r in h]
    # best/: the lowest-FID weights, a run that loads and samples
    best = min(h, key=lambda r: r["fid"])
    config = ckpt.load_config(run / "best")
    assert config["eval"]["step"] == best["step"] and config["eval"]["fid"] == pytest.approx(best["fid"])
    pipe = audiodiff.load(run / "best", device="cpu")
    assert pipe.sample(n=1, seed=0).shape == (1, LENGTH)


def test_eval_every_needs_a_classifier(tmp_path):
    raw = eval_recipe(tmp_path, Path("x"), eval_every=2)
    raw["train"]["eval_classifier"] = ""
    with pytest.raises(RecipeError, match="eval_classifier"):
        recipe_from_dict(raw, source="r.toml")


def test_unreadable_reference_stops_the_run_before_its_first_step(sound_classifier, tmp_path):
    """The classifier's reference set is read when the run starts, not at the first evaluation: a moved data
    folder costs no training steps (it used to end the run at step eval_every, with nothing checkpointed)."""
    data, classifier = sound_classifier
    moved = tmp_path / "classifier"
    moved.mkdir()
    for name in ("config.json", "model.safetensors"):
        (moved / name).write_bytes((classifier / name).read_bytes())
    config = json.loads((moved / "config.json").read_text())
    config["recipe"]["data"]["root"] = str(tmp_path / "gone")
    (moved / "config.json").write_text(json.dumps(config))
    run = tmp_path / "run"
    recipe = recipe_from_dict(eval_recipe(data, moved, eval_every=50, max_steps=100, checkpoint_every=10))
    with pytest.raises(Exception, match="gone"):
        audiodiff.train(recipe, run, device="cpu", show_progress=False)
    assert not (run / "model.safetensors").exists() and not (run / "metrics.jsonl").exists()


def test_killed_run_resumes_without_losing_or_doubling_history(sound_classifier, tmp_path):
    data, classifier = sound_classifier
    steps = 200
    recipe_dir = write_recipe(tmp_path / "recipe", eval_recipe(data, classifier, eval_every=1, checkpoint_every=3,
                                                               max_steps=steps, log_every=50))
    run = tmp_path / "run"
    cmd = train_cmd(recipe_dir, run)

    def evaluated_past_the_first_checkpoint() -> bool:
        """Killed once it has evaluated past its first checkpoint (step 3): lines 4, 5 … are then lost work."""
        return (run / ckpt.STATE).is_file() and (run / "metrics.jsonl").is_file() and \
            len((run / "metrics.jsonl").read_text().splitlines()) >= 4
    kill_9_when(cmd, tmp_path / "killed.log", evaluated_past_the_first_checkpoint, timeout=240)
    killed_at = ckpt.load_state(run)["step"]
    before = history(run)
    assert len(before) > killed_at >= 3     # evaluations after the checkpoint: they are done again
    proc = run_cli(*train_args(recipe_dir, run, "--max-steps", str(killed_at + 4)))   # the same, in this process
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = history(run)
    assert [r["step"] for r in after] == list(range(1, killed_at + 5))
    assert after[:killed_at] == before[:killed_at]   # the history up to the checkpoint is kept as it was
    assert ckpt.load_config(run / "best")["eval"]["fid"] == pytest.approx(min(r["fid"] for r in after))
