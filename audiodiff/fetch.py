"""One HTTP(S) transfer into a `.part` file, resuming what an earlier, interrupted transfer left there.

A `.part` file that already holds bytes is continued with a Range request (`Range: bytes=N-`).  A server
that honours it answers 206 with `Content-Range: bytes N-…/TOTAL` and only the rest is appended; one
that ignores ranges answers 200 with the whole file, and the `.part` file is started again; one that
says 416 (range not satisfiable: the `.part` is as long as the file, or longer) restarts it too.  The
caller compares the bytes on disk with the length the server announced, so a connection that closes
early (which `http.client` reports as a short read, not an error) is never taken for a whole file.

Only the caller (data.download_file) decides about retries, checksums and renaming the `.part` file.
"""

from __future__ import annotations

import math
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from .progress import progress

CHUNK = 1 << 20


def open_url(url: str, headers: dict[str, str] | None = None):
    """urlopen with optional request headers and a 60 s timeout per read."""
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60)


def fetch_into(url: str, part: Path, opener: Callable, show_progress: bool = True,
               description: str = "downloading") -> tuple[int, int | None]:
    """Complete `part` from url.  Returns (bytes now in part, total the server announced or None).

    Raises OSError (urllib's URLError / HTTPError, timeouts, a reset connection, a full disk); the bytes
    written before it (or before Ctrl-C) stay in `part`, for the next call to resume, and a `part` that
    would be left empty is removed."""
    offset = _part_size(part)
    try:
        resp = opener(url, {"Range": f"bytes={offset}-"}) if offset else opener(url)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        part.unlink()                            # nothing left to fetch, or a stale part: start again
        offset, resp = 0, opener(url)
    with resp:
        headers = getattr(resp, "headers", None) or {}
        status = getattr(resp, "status", None) or 200
        length = _int(headers.get("Content-Length"))
        start, total = _content_range(headers.get("Content-Range")) if status == 206 else (None, None)
        if offset and status == 206 and start == offset:
            mode = "ab"
            total = total if total is not None else (offset + length if length is not None else None)
        else:                                     # a full answer (200): the part is replaced
            offset, mode, total = 0, "wb", length
        received = offset
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
        try:
            with os.fdopen(os.open(part, flags, 0o644), mode) as out:
                todo = math.ceil((total - offset) / CHUNK) if total is not None else None
                for chunk in progress(_chunks(resp), total=todo, description=f"{description} (MiB)",
                                      enabled=show_progress):
                    out.write(chunk)
                    received += len(chunk)
        except BaseException:             # a network error, a full disk, Ctrl-C
            _remove_if_empty(part)
            raise
    return received, total


def _remove_if_empty(part: Path) -> None:
    """An interrupted transfer's part file, removed when it holds no byte for a resume to use."""
    try:
        if os.lstat(part).st_size == 0:
            part.unlink()
    except OSError:
        pass


def _part_size(part: Path) -> int:
    """Bytes in an earlier transfer's part file (a symlink there is removed, never followed)."""
    try:
        st = os.lstat(part)
    except FileNotFoundError:
        return 0
    if not os.path.isfile(part) or os.path.islink(part):
        part.unlink()
        return 0
    return st.st_size


def _chunks(resp, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := resp.read(size):
        yield chunk


def _int(value) -> int | None:
    return int(value) if value is not None and str(value).strip().isdigit() else None


def _content_range(value) -> tuple[int | None, int | None]:
    """'bytes START-END/TOTAL' → (START, TOTAL); TOTAL may be '*' (unknown) → None."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", str(value or ""))
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(3)) if m.group(3) != "*" else None)
