"""An exclusive lock on a run directory, so that two trainers never write the same run.

Two `audiodiff train` processes on one --out would overwrite each other's checkpoints (the step counter
jumping back and forth) and each would delete the other's checkpoint temp files as "stale".  The trainer
therefore holds `RUN_DIR/.lock` with an advisory `fcntl.flock` for as long as it runs.  The OS drops the
lock when the process exits in any way (kill -9 included), so a lock is never left stale and nothing has
to be cleaned up by hand; the file itself stays (deleting a lock file while another process may be
opening it would let two processes lock two different files).  The holder writes its PID into the file
so that the refused process can name it.

Advisory means only audiodiff's trainers take it: reading a run (`audiodiff sample`, `ad.load`) needs no
lock, because every checkpoint file is replaced atomically.  On systems without `fcntl` (Windows) the
lock is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"


class RunLock:
    """`acquire()` takes the lock on run_dir (creating the folder) or reports who holds it; `release()`
    (or the process ending) gives it back."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> int | None:
        """Take the lock without waiting.  Returns None when it is ours now, else the holder's PID (0 when
        the holder has not written it yet)."""
        if fcntl is None or self._fd is not None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a symlink planted at .lock is refused (ELOOP) rather than followed and truncated.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            return holder
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)           # closing the descriptor drops the flock
            self._fd = None


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0
