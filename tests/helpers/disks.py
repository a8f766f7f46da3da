"""Small real filesystems for full-disk tests: a tmpfs of a given size (needs root and permission to mount)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def mounted_tmpfs(mount: Path, size: str, skip_reason: str = "needs root and permission to mount a tmpfs"
                  ) -> Iterator[Path]:
    """A tmpfs of `size` (mount's -o size=, e.g. "150k") mounted on the new folder `mount`, unmounted after;
    the test is skipped with skip_reason where this process may not mount one."""
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip(skip_reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
