"""Writing output files safely: atomically, never through a planted symlink, never leaving temp files.

`atomic_write(path, write)` creates a fresh temp file beside `path` with `tempfile.mkstemp` (a random
name opened with O_CREAT | O_EXCL, so a symlink or file planted at any guessable temp name is never
followed or reused), hands `write` a binary file object on that descriptor (the temp file is never
reopened by name), fsyncs it and renames it over `path` with `os.replace`.  A rename replaces a symlink
at `path` by the new file and leaves the link's target untouched.  When anything fails (a full disk, a
write error) the temp file is removed and the old `path`, if any, is left as it was.

Every OSError (disk full, permission denied, `path` a directory, a parent that is a file) becomes an
OutputError, a ValueError whose one-line message names the file: the CLI prints it as `error: ...`.
`atomic_write_many(items)` writes several files as one unit (a run's checkpoint: checkpoint.py): every temp file
written and fsynced before the first rename, so a failure in any leaves all the old files whole.
`check_output_file` / `check_output_folder` judge a path before a long computation starts; the CLI asks
check_output_file to refuse an existing file unless --force (cli/common.check_out_file).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

TEMP_SUFFIX = ".tmp"


class OutputError(ValueError):
    """An output file that cannot be written; the message names it and says what to do."""


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{exc.strerror or 'no space left'} (the disk or its quota is full; free space or pick another --out)"
    return exc.strerror or str(exc)


def _existing_parent_problem(path: Path) -> str | None:
    """Why path's folder cannot hold a file (a parent that is a file), or None."""
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"its parent {parent} is a file, not a folder"
            return None
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_file(path: str | os.PathLike, force: bool = True, option: str = "--out") -> Path:
    """Raise OutputError unless `path` can become a file: not a directory, no parent that is a file,
    and (force=False) nothing there yet, a symlink included (`option`: the command-line option named in
    the message)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory; give a file name, e.g. {path / 'out.wav'}")
    problem = _existing_parent_problem(path)
    if problem:
        raise OutputError(f"cannot write {path}: {problem}")
    if not force and (path.exists() or path.is_symlink()):
        raise OutputError(f"{path} already exists; pass --force to replace it, or choose another {option}")
    return path


def check_output_folder(path: str | os.PathLike) -> Path:
    """Raise OutputError unless `path` is, or can become, a folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file; give a folder for the outputs")
    problem = _existing_parent_problem(path / "x")
    if problem:
        raise OutputError(f"cannot create the folder {path}: {problem}")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call write(f) on a fresh temp file beside `path`, then rename it over `path`; returns `path`.

    Readers see the old file or the new one, never half of one.  Raises OutputError (temp file removed)
    when the file cannot be written."""
    path = Path(path)
    check_output_file(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes it private (0600); outputs are for sharing
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return path


def remove_files(paths: Iterable[Path]) -> list[Path]:
    """Delete each path (one already gone is fine: another process may have removed it); returns them."""
    paths = list(paths)
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    return paths


def atomic_write_many(items: Sequence[tuple[Path, Callable[[str], None]]]) -> None:
    """Write every (path, write) to a temp file beside it, fsync them all, then rename each over its path.

    Nothing is replaced until every file has been written, so an exception in any `write` leaves all the
    old files as they were (and no temp files).
    """
    temps: list[tuple[str, Path]] = []
    try:
        for path, write in items:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
            os.close(fd)
            temps.append((tmp, path))
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in temps}:
            _fsync_dir(folder)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the renames themselves durable (where the OS allows opening a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
