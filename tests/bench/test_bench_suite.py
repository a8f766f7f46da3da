"""The regression suite (benchmarks/suite.py): its smallest path runs, its result carries the envelope, `compare`
calls a row worse only when the spread allows it, and `commits` runs two commits' packages."""

from __future__ import annotations

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


def _result(**rows: dict) -> dict:
    return {"benchmark": "suite", "rows": rows}


def _row(median: float, spread: float = 0.02, **extra) -> dict:
    return {"unit": "s/step", "median": median, "q1": median * (1 - spread), "q3": median * (1 + spread), **extra}


def test_compare_calls_a_row_worse_only_past_its_spread(smallest):
    measured = json.loads(smallest.read_text())
    same = {x["row"]: x for x in suite.compare(measured, measured)}
    assert {x["verdict"] for x in same.values()} == {"same"} and same["diffwave_step"]["ratio"] == 1
    old = _result(step=_row(1.0), overhead=_row(0.9, higher_is_better=True), error=_row(0.14))
    verdicts = {x["row"]: (x["verdict"], round(x["ratio"], 6)) for x in suite.compare(old, _result(
        step=_row(2.0), overhead=_row(0.45, higher_is_better=True), error=_row(0.07)))}
    assert verdicts == {"step": ("worse", 2.0), "overhead": ("worse", 0.5), "error": ("better", 0.5)}
    wide = {x["row"]: x["verdict"] for x in suite.compare(_result(step=_row(1.0, 0.3)), _result(step=_row(1.2, 0.3)))}
    assert wide == {"step": "same"}                     # 20 % slower, but inside a ±30 % spread: not called
    broken = _result(step={"error": "ImportError: gone"})
    assert suite.compare(old, broken) == []


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
