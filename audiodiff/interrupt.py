"""Stopping a training run cleanly on SIGINT (Ctrl-C), SIGTERM (schedulers: Slurm, Kubernetes) or SIGHUP
(a closed terminal).

While the training loop runs, the first of these signals only raises a flag; the trainer finishes the
step it is in, writes a checkpoint and raises `Interrupted`, which the CLI turns into one line
("stopped at step N; run the same command to resume") and the exit status 128 + signal number: 130 for
SIGINT, 143 for SIGTERM, 129 for SIGHUP.  Under torchrun the flag travels with the per-step all-reduce
the trainer already does, so every rank stops after the same step.

Outside the loop (building the dataset, say) there is no step to finish, so a signal raises
`Interrupted` at once; so does a second signal while the first one's checkpoint is being written (the
previous checkpoint stays whole: see checkpoint.py).  A signal that was ignored when training began
(SIGHUP under `nohup`) stays ignored.  Child processes forked while the handlers are in place (DataLoader
workers) ignore these signals: the main process decides when to stop and shuts them down.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(BaseException):
    """Training stopped on a signal.  `step`: the step of the checkpoint just written, or None when the
    signal came before a step could be finished (nothing new was written).  A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way swallows it."""

    def __init__(self, signum: int, step: int | None = None):
        super().__init__(signum, step)
        self.signum, self.step = signum, step

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        if self.step is None:
            return f"interrupted by {name} before the next step finished: nothing new was saved; run the " \
                   f"same command to resume"
        return f"stopped at step {self.step} ({name}); run the same command to resume"


class StopFlag:
    """A context manager that installs the handlers (main thread only; elsewhere it does nothing) and
    restores the previous ones on exit.

    `deferring` True: a signal sets `signum` and returns (the loop polls `requested`); False, or a
    second signal: raise Interrupted(signum) where the program is."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferring = False
        self._pid = os.getpid()
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._pid:      # a forked worker: the main process stops it
            return
        if self.signum is not None or not self.deferring:
            raise Interrupted(signum)
        self.signum = signum

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                if signal.getsignal(s) is not signal.SIG_IGN:   # `nohup` (SIGHUP ignored) keeps working
                    self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
        self.deferring = False
