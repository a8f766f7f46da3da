"""The CLI run as a user runs it (in this process, or `python cli.py …` in a child), and what its errors must
look like."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from helpers.recipes import REPO


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 120, process: bool = False) -> subprocess.CompletedProcess:
    """`audiodiff ARGS` from `cwd`, as a CompletedProcess (returncode, stdout, stderr).

    In this process by default, through the CLI's own entry point (`audiodiff.cli.main`, what `cli.py` and the
    console script call): an interpreter start costs seconds, and most checks are of what the command does and
    says.  `process=True` runs `python cli.py ARGS` in a child on one CPU thread instead, for what only a real
    process shows (its exit status from the interpreter, imports of a fresh interpreter, the script itself)."""
    if process:
        env = {k: v for k, v in os.environ.items() if k != "AUDIODIFF_DEBUG"}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100", PYTHONWARNINGS="ignore")
        script = "cli.py" if cwd == REPO else str(REPO / "cli.py")
        return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    return _in_process(list(args), cwd)


def _in_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI's entry point with argv, cwd, environment, streams, warnings, the audiodiff logger, torch's thread
    count and RNG as a child would have them, all restored afterwards."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    from audiodiff.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = (sys.argv, os.getcwd(), dict(os.environ), torch.get_num_threads(), torch.get_rng_state())
    logger = logging.getLogger("audiodiff")
    saved_log = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers.clear()          # the CLI sets up its own, as in a fresh process
    code = 0
    try:
        os.environ.pop("AUDIODIFF_DEBUG", None)
        os.environ["COLUMNS"] = "100"
        sys.argv = ["audiodiff", *args]
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
        os.environ.clear()
        os.environ.update(saved[2])
        torch.set_num_threads(saved[3])
        torch.set_rng_state(saved[4])
        logger.handlers[:] = saved_log[0]
        logger.setLevel(saved_log[1])
        logger.propagate = saved_log[2]
    return subprocess.CompletedProcess(["audiodiff", *args], code, out.getvalue(), err.getvalue())


def main_captured(argv: list[str], capsys) -> tuple[int, str, str]:
    """`audiodiff ARGV` through the entry point (main) in this process, its output read from pytest's capsys and
    the logger left as the test set it (e.g. audiodiff_log) → (exit code, stdout, stderr)."""
    import pytest

    from audiodiff.cli import main

    old = sys.argv
    sys.argv = ["audiodiff", *argv]
    try:
        with pytest.raises(SystemExit) as stop:
            main()
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def script_exit(main, argv: list[str]) -> subprocess.CompletedProcess:
    """A benchmark script's `main(argv)` in this process, ended as `python -m benchmarks.X` would end it: a
    SystemExit message goes to stderr with status 1 → a CompletedProcess (for assert_one_line_error)."""
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as stop:
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
                code = 1
            else:
                code = stop.code or 0
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


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
