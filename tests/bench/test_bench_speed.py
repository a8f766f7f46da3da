"""benchmarks/speed.py at smoke sizes: each measurement runs, and its result carries the shared envelope."""

from __future__ import annotations

import json

import pytest

from benchmarks import speed


def test_diffwave_and_vocoder_run_under_the_envelope(tmp_path):
    result = speed.main(["diffwave", "--layers", "2", "--channels", "8", "--cycle", "2", "--batch-size", "1",
                         "--length", "256", "--iters", "1", "--warmup", "1", "--sample-steps", "1",
                         "--json", str(tmp_path / "d.json")])
    saved = json.loads((tmp_path / "d.json").read_text())
    assert saved["benchmark"] == "speed" and saved["measure"] == "diffwave" and len(saved["commit"]) == 40
    assert saved["command"].startswith("python") and "-m benchmarks.speed diffwave" in saved["command"]
    assert result["train"]["clips_per_s"] > 0 and result["sample"]["seconds_per_step"] > 0
    vocoder = speed.main(["vocoder", "--seconds", "0.02", "--schedules", "fast", "--json", str(tmp_path / "v.json")])
    fast = vocoder["schedules"]["fast"]
    assert fast["steps"] == 6 and fast["q1"] <= fast["seconds"] <= fast["q3"] and fast["rtf"] > 0


def test_peer_runs_both_sides_alternately(tmp_path):
    pytest.importorskip("diffwave")
    result = speed.main(["peer", "--tiny", "--nets", "vocoder", "--modes", "fp32", "--repeats", "2",
                         "--json", str(tmp_path / "p.json")])
    row = result["rows"][0]
    assert row["params"] > 0 and set(row["train"]) == {speed.PEER, "audiodiff"}
    assert all(len(side["all_seconds"]) == 2 for side in row["train"].values())
    assert row["sample"]["full"]["audiodiff"]["steps"] == 50 and row["ratios"]["train"] > 0
    assert json.loads((tmp_path / "p.json").read_text())["rows"][0]["mode"] == "fp32"
