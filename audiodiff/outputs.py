"""`audiodiff sample`'s output folder: never mix this run's sample_NNN files with an earlier run's.

A folder that already holds sample_NNN.wav / .png / .npy files is refused unless --force; with --force
every file is replaced as it is written (atomically, see audiodiff/atomic.py) and, once all are written,
the sample_NNN files this run did not write (an earlier, larger --n, or an earlier --plot / --save-mel)
are removed, so the folder holds exactly this run's output.  Only names matching sample_<digits>.<wav|
png|npy> are ever removed; a symlink among them is unlinked, its target left alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from .atomic import OutputError, check_output_folder, remove_files

SAMPLE_NAME = re.compile(r"sample_\d+\.(wav|png|npy)")


def sample_files(folder: Path) -> list[Path]:
    """The sample_NNN.{wav,png,npy} entries of `folder` (files or links), sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if SAMPLE_NAME.fullmatch(p.name) and not p.is_dir())


def check_sample_folder(folder: Path, force: bool) -> None:
    """Raise OutputError when `folder` cannot be a folder, or holds sample files and force is False."""
    check_output_folder(folder)
    existing = sample_files(folder)
    if existing and not force:
        raise OutputError(f"{folder} already holds {len(existing)} sample_* file(s) from an earlier run; pass "
                          f"--force to replace them (the ones this run does not write are removed), or choose "
                          f"another --out")


def remove_stale_samples(folder: Path, written: Iterable[Path]) -> list[Path]:
    """Delete the sample files in `folder` that are not in `written`; returns them."""
    keep = {Path(p).name for p in written}
    return remove_files(p for p in sample_files(folder) if p.name not in keep)
