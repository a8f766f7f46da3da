"""The checkout's entry point (`python cli.py …`) in a subprocess, and what its errors must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.recipes import REPO


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python cli.py ARGS` (the checkout's entry point) on one CPU thread, never in debug mode."""
    env = {k: v for k, v in os.environ.items() if k != "AUDIODIFF_DEBUG"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100", PYTHONWARNINGS="ignore")
    script = "cli.py" if cwd == REPO else str(REPO / "cli.py")
    return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The process failed with exactly one stderr line, `error: …`, holding every word; returns that line."""
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def last_line(text: str) -> str:
    """The last non-blank line of text ('' if none)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""
