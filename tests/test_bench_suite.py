"""The regression suite (benchmarks/suite.py): its smallest path runs, its result carries the envelope, `compare`
calls a row worse only when the spread allows it, and `commits` runs two commits' packages."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from benchmarks import suite


@pytest.fixture(scope="module")
def smallest(tmp_path_factory):
    path = tmp_path_factory.mktemp("suite") / "a.json"
    assert suite.main(["run", "--size", "smallest", "--rows", "diffwave_step,trainer_overhead,sampler_error",
                       "--threads", "1", "--json", str(path)]) == 0
    return path


def test_the_smallest_suite_writes_rows_under_the_envelope(smallest):
    result = json.loads(smallest.read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=suite.ROOT).stdout.strip()
    assert result["benchmark"] == "suite" and result["commit"] == head and result["size"] == "smallest"
    assert {"cpu", "cores", "threads", "torch"} <= set(result["machine"]) and result["date"]
    assert result["command"].endswith("--json " + str(smallest))
    rows = result["rows"]
    assert list(rows) == ["diffwave_step", "trainer_overhead", "sampler_error"]
    step = rows["diffwave_step"]
    assert step["unit"] == "s/step" and 0 < step["q1"] <= step["median"] <= step["q3"] and len(step["samples"]) == 2
    overhead = rows["trainer_overhead"]
    assert overhead["higher_is_better"] and overhead["median"] > 0 and overhead["trainer"]["median"] > 0
    assert 0.1 < rows["sampler_error"]["median"] < 0.2   # DDIM's 20-step discretisation error (0.14 at 512 × 64)


def _scaled(result: dict, row: str, factor: float) -> dict:
    out = copy.deepcopy(result)
    for key in ("median", "q1", "q3"):
        out["rows"][row][key] *= factor
    return out


def test_compare_calls_a_row_worse_only_past_its_spread(smallest):
    old = json.loads(smallest.read_text())
    same = {x["row"]: x for x in suite.compare(old, old)}
    assert {x["verdict"] for x in same.values()} == {"same"} and same["diffwave_step"]["ratio"] == 1
    slower = {x["row"]: x for x in suite.compare(old, _scaled(old, "diffwave_step", 2.0))}
    assert slower["diffwave_step"]["verdict"] == "worse" and slower["diffwave_step"]["ratio"] == pytest.approx(2)
    faster = {x["row"]: x for x in suite.compare(old, _scaled(old, "diffwave_step", 0.5))}
    assert faster["diffwave_step"]["verdict"] == "better"
    heavier = {x["row"]: x for x in suite.compare(old, _scaled(old, "trainer_overhead", 0.5))}
    assert heavier["trainer_overhead"]["verdict"] == "worse"   # raw / trainer fell: the trainer got slower
    broken = copy.deepcopy(old)
    broken["rows"]["diffwave_step"] = {"error": "ImportError: gone"}
    assert "diffwave_step" not in {x["row"] for x in suite.compare(old, broken)}


def test_compare_prints_both_commits_and_refuses_a_foreign_file(smallest, tmp_path, capsys):
    assert suite.main(["compare", str(smallest), str(smallest)]) == 0
    out = capsys.readouterr().out
    assert out.count("commit ") == 2 and "diffwave_step" in out and "same" in out
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"benchmark": "denoise_real", "rows": {}}))
    assert suite.main(["compare", str(smallest), str(other)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other.json" in err[0] and "not a suite result" in err[0]
    assert suite.main(["run", "--rows", "nope"]) == 1
    assert "choose from" in capsys.readouterr().err


@pytest.mark.slow
def test_commits_runs_each_commits_package(tmp_path, capsys):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=suite.ROOT).stdout.strip()
    assert suite.main(["commits", "HEAD", "HEAD", "--size", "smallest", "--rows", "sampler_error", "--threads", "1",
                       "--json", str(tmp_path / "x.json")]) == 0
    new = json.loads(next(tmp_path.glob("suite-new-*.json")).read_text())
    assert new["commit"] == head and "worktree" not in str(suite.ROOT)
    assert new["audiodiff"] != str(suite.ROOT / "audiodiff")        # the worktree's package ran, not this one
    assert "sampler_error" in capsys.readouterr().out
