"""benchmarks/studies/check_run.py: a recipe made for another corpus trains a few steps on a folder of audio, and
its previews' statistics come back against the data's."""

from __future__ import annotations

import json

import pytest

from benchmarks.studies import check_run
from helpers.recipes import tiny_recipe_dict, write_recipe


def _gtzan_like(tmp_path):
    """A tiny recipe that, like recipes/gtzan, names a corpus that is not here (dataset, root, split)."""
    raw = tiny_recipe_dict(tmp_path / "nowhere", warmup_steps=100)
    raw["data"].update(dataset="gtzan", split="train")
    raw["sample"] = {"sampler": "ddim", "steps": 10}
    return write_recipe(tmp_path / "recipe", raw)


def test_check_run_trains_on_the_folder_and_reports_each_preview(tmp_path, wav_folder):
    out, report = tmp_path / "run", tmp_path / "check.json"
    result = check_run.main([str(_gtzan_like(tmp_path)), "--root", str(wav_folder), "--out", str(out),
                             "--steps", "4", "--preview-every", "2", "--preview-n", "2", "--sample-steps", "3",
                             "--json", str(report),
                             "--no-progress"])
    assert [r["step"] for r in result["previews"]] == [2, 4]
    first, last = result["previews"]
    assert first["data_std"] == last["data_std"] > 0             # the same data clips each time
    assert all(r["loss"] is not None and r["std"] >= 0 and r["band_gap_db"] >= 0 for r in result["previews"])
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"]["data"]["dataset"] == "folder" and config["recipe"]["data"]["root"] == str(wav_folder)
    assert result["changes"]["train.warmup_steps"] == 1          # the recipe's 100 capped at a quarter of 4
    assert config["sample"]["steps"] == 3 and config["sample"]["sampler"] == "ddim"   # cheap previews
    assert json.loads(report.read_text())["previews"] == result["previews"]


def test_check_run_names_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit, match="error: --root .*no such folder"):
        check_run.main([str(_gtzan_like(tmp_path)), "--root", str(tmp_path / "absent"), "--out",
                        str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
