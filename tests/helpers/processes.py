"""Child processes for end-to-end training tests: the environment they run in, the `train` command, and
starting one, waiting until it shows something, then signalling it (kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from helpers.recipes import REPO

TESTS = REPO / "tests"


def child_env() -> dict[str, str]:
    """This environment for a child on one CPU thread: no debug mode, no torchrun variables, the checkout
    on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIODIFF_DEBUG", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100", PYTHONWARNINGS="ignore",
               PYTHONPATH=str(REPO))
    return env


def child_script(path: Path, source: str) -> Path:
    """Write `source` as a Python script at path that can import tests/helpers (run it with child_env())."""
    path.write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n" + source)
    return path


def train_args(recipe_dir: Path, run: Path, *extra: str) -> list[str]:
    """`train RECIPE --out RUN` on the CPU, without a progress bar: the CLI's arguments (helpers.cli.run_cli)."""
    return ["train", str(recipe_dir), "--out", str(run), "--no-progress", "--device", "cpu", *extra]


def train_cmd(recipe_dir: Path, run: Path, *extra: str) -> list[str]:
    """`python cli.py train RECIPE --out RUN` on the CPU, without a progress bar (run it from REPO)."""
    return [sys.executable, "cli.py", *train_args(recipe_dir, run, *extra)]


def run_child(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run cmd from REPO in child_env() to the end, capturing its output as text."""
    return subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout)


def default_stop_signals() -> None:
    """In the child before exec: SIGINT / SIGHUP as a terminal's foreground job has them.  A suite started in the
    background by a non-interactive shell inherits SIGINT ignored, and the trainer rightly leaves ignored signals
    alone (`nohup`), so a signal test would then see a run that never stops."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def start_and_wait_for(cmd: list[str], log: Path, marker: str, timeout: float = 120,
                       cwd: Path = REPO) -> subprocess.Popen:
    """Start cmd with stderr into `log`; return once `marker` appears there (the process still running)."""
    err = open(log, "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, stderr=err,
                            preexec_fn=default_stop_signals)
    err.close()
    deadline = time.monotonic() + timeout
    while marker not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{marker!r} never appeared (rc {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.01)
    return proc


def kill_9_when(cmd: list[str], log: Path, ready: Callable[[], bool], timeout: float = 120) -> None:
    """Start cmd (stderr into `log`), poll `ready()` every 5 ms, then SIGKILL the process the moment it holds,
    and check it died of the signal.  It must still be running then: a run too short to be killed fails."""
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline and not ready():
                time.sleep(0.005)
            assert proc.poll() is None, "the run ended before it could be killed: raise `steps`"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
