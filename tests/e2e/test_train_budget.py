"""A wall-clock training budget ([train] minutes, `train --minutes`): stops at a step boundary past it, saves
as a finished run does, resumes with more minutes, decays the learning rate over it.  No timed assertions:
every check reads what the run wrote."""

from __future__ import annotations

import json
import math

import pytest

from audiodiff import checkpoint as ckpt
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.training import Trainer, TrainingError
from audiodiff.training.budget import resolve_budget
from helpers.recipes import make_recipe, tiny_recipe_dict


BIG = 10 ** 9    # max_steps the budget always reaches first


def _state(run):
    return ckpt.load_state(run)


def test_budget_stops_at_a_step_boundary_past_it_and_saves(wav_folder, tmp_path, audiodiff_log):
    run = tmp_path / "run"
    recipe = make_recipe(wav_folder, max_steps=BIG, lr_schedule="cosine", min_lr_ratio=0.25, warmup_steps=0,
                         checkpoint_every=BIG, log_every=BIG)
    trainer = Trainer(recipe, run, device="cpu", minutes=0.02, show_progress=False)   # 1.2 s
    trainer.fit()
    state, config = _state(run), json.loads((run / ckpt.CONFIG).read_text())
    assert (run / ckpt.WEIGHTS).is_file() and state["step"] == config["step"] == trainer.step > 1
    assert state["budget_seconds"] == pytest.approx(1.2)
    assert state["train_seconds"] >= state["budget_seconds"]          # it stopped past the budget, not before
    assert config["budget_minutes"] == 0.02 and config["trained_minutes"] >= 0.02
    assert config["machine"]["cores"] >= 1 and config["machine"]["threads"] >= 1 and config["machine"]["cpu"]
    # the cosine decay followed the budget's elapsed fraction: the last update ran at the floor
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(recipe.train.learning_rate * 0.25)
    text = " ".join(r.getMessage() for r in audiodiff_log.records)
    assert "stopped at the budget" in text and "not counted in the time budget" in text


def test_budgeted_run_resumes_and_a_second_minutes_adds_to_it(wav_folder, tmp_path, audiodiff_log):
    run = tmp_path / "run"
    recipe = make_recipe(wav_folder, max_steps=BIG, checkpoint_every=BIG, log_every=BIG)
    Trainer(recipe, run, device="cpu", minutes=0.01, show_progress=False).fit()
    first = _state(run)
    mtime = (run / ckpt.WEIGHTS).stat().st_mtime_ns
    # the same command without --minutes: the run keeps its budget, which is spent: nothing to do
    again = Trainer(recipe, run, device="cpu", show_progress=False)
    assert again.budget.seconds == pytest.approx(first["budget_seconds"])
    again.fit()
    assert (run / ckpt.WEIGHTS).stat().st_mtime_ns == mtime
    assert "its time budget" in " ".join(r.getMessage() for r in audiodiff_log.records)
    # --minutes M: M more minutes on top of the time already trained
    more = Trainer(recipe, run, device="cpu", minutes=0.01, show_progress=False)
    assert more.step == first["step"]
    assert more.budget.seconds == pytest.approx(first["train_seconds"] + 0.6)
    more.fit()
    second = _state(run)
    assert second["step"] > first["step"] and second["train_seconds"] >= second["budget_seconds"]
    assert json.loads((run / ckpt.CONFIG).read_text())["step"] == second["step"]


def test_max_steps_and_minutes_whichever_comes_first(wav_folder, tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(make_recipe(wav_folder, max_steps=3), run, device="cpu", minutes=60, show_progress=False)
    trainer.fit()
    assert _state(run)["step"] == 3 and _state(run)["train_seconds"] < 3600


def test_recipe_minutes_budgets_a_new_run(wav_folder, tmp_path):
    recipe = make_recipe(wav_folder, max_steps=BIG, minutes=0.01, checkpoint_every=BIG, log_every=BIG)
    trainer = Trainer(recipe, tmp_path / "run", device="cpu", show_progress=False)
    assert trainer.budget.seconds == pytest.approx(0.6)
    trainer.fit()
    assert 1 <= trainer.step < BIG


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "ten"])
def test_bad_minutes_refused_in_one_line_before_the_run_folder(wav_folder, tmp_path, bad):
    with pytest.raises(TrainingError, match="--minutes must be") as err:
        Trainer(make_recipe(wav_folder), tmp_path / "run", device="cpu", minutes=bad, show_progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", [-1, "ten"])
def test_bad_recipe_minutes_refused(wav_folder, bad):
    with pytest.raises(RecipeError, match="minutes"):
        recipe_from_dict(tiny_recipe_dict(wav_folder, minutes=bad))


def test_resolve_budget_rules():
    assert resolve_budget(None, 0, None, 100.0) is None                    # no budget anywhere
    assert resolve_budget(None, 30, None, 0.0) == 1800                     # the recipe's, for a new run
    assert resolve_budget(None, 30, 600.0, 500.0) == 600                   # a resumed run keeps its own
    assert resolve_budget(10, 30, 600.0, 500.0) == 1100                    # --minutes adds to the time spent


def test_cli_minutes(tiny_recipe_dir, tmp_path, capsys):
    """`audiodiff train --minutes`: a bad value is one line naming the option; a good one budgets the run."""
    from helpers.child_cli import run_main

    run = tmp_path / "run"
    assert run_main(["train", str(tiny_recipe_dir), "--out", str(run), "--minutes", "-5", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--minutes" in err and "\n" not in err and not run.exists()
    assert run_main(["train", str(tiny_recipe_dir), "--out", str(run), "--minutes", "0.01", "--max-steps", str(BIG),
                     "--no-progress"]) == 0
    config = json.loads((run / ckpt.CONFIG).read_text())
    assert config["budget_minutes"] == 0.01 and config["trained_minutes"] >= 0.01
