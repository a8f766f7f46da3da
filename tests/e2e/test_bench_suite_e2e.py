"""The end-to-end tests of tests/bench/test_bench_suite.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/bench/test_bench_suite.py's docstring."""

from __future__ import annotations

import json
import subprocess

from benchmarks import suite


def test_commits_runs_each_commits_package(tmp_path, capsys):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=suite.ROOT).stdout.strip()
    assert suite.main(["commits", "HEAD", "HEAD", "--size", "smallest", "--rows", "sampler_error", "--threads", "1",
                       "--json", str(tmp_path / "x.json")]) == 0
    new = json.loads(next(tmp_path.glob("suite-new-*.json")).read_text())
    assert new["commit"] == head and "worktree" not in str(suite.ROOT)
    assert new["audiodiff"] != str(suite.ROOT / "audiodiff")        # the worktree's package ran, not this one
    assert "sampler_error" in capsys.readouterr().out
