"""Matching a denoiser's or vocoder's outputs with their references: `audiodiff eval OUTPUTS --clean CLEAN
[--noisy NOISY]` (scored by audiodiff/eval/speech.py).

Each file under OUTPUTS is matched by its path relative to OUTPUTS with the file of the same relative path
under CLEAN (and NOISY); files without a partner are named and left out.  Output and noisy input are resampled
to the clean file's rate (audiodiff.audio.load_audio) and all are cut to the shortest length.  Without CLEAN
every audio file under OUTPUTS is read at its own rate (for non-intrusive metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..data import find_audio_files


@dataclass(frozen=True)
class Pair:
    """An output file and its partners (None when not given)."""
    name: str                   # the path relative to OUTPUTS (and to CLEAN / NOISY)
    output: Path
    clean: Path | None = None
    noisy: Path | None = None

    def read(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
        """(output, clean, noisy, rate): mono float32 [L] each at the clean file's rate (the output's own rate
        without clean), cut to the same length.  Raises AudioReadError naming an unreadable file."""
        reference, rate = (None, None) if self.clean is None else _read(self.clean)
        output, rate = _read(self.output, rate)
        noisy = None if self.noisy is None else _read(self.noisy, rate)[0]
        waves = [w for w in (output, reference, noisy) if w is not None]
        n = min(len(w) for w in waves)
        return output[:n], None if reference is None else reference[:n], None if noisy is None else noisy[:n], rate


def _read(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    wave, sr = load_audio(path, rate)
    return wave.numpy(), sr


def match_pairs(outputs: str | Path, clean: str | Path | None = None,
                noisy: str | Path | None = None) -> tuple[list[Pair], list[str]]:
    """(pairs, unmatched): one Pair per file under outputs with every partner; one line per file without."""
    outputs = Path(outputs)
    for name, folder in (("SAMPLES", outputs), ("--clean", clean), ("--noisy", noisy)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name} {folder}: no such folder")
    if noisy is not None and clean is None:
        raise ValueError("--noisy needs --clean: the references the noisy inputs are scored against")
    files = find_audio_files(outputs)
    if not files:
        raise ValueError(f"no audio files (.wav, .flac, .ogg, …) under {outputs}")
    pairs, unmatched = [], []
    for path in files:
        rel = path.relative_to(outputs)
        partners = {k: Path(folder) / rel for k, folder in (("clean", clean), ("noisy", noisy)) if folder is not None}
        missing = [str(p) for p in partners.values() if not p.is_file()]
        if missing:
            unmatched.append(f"{rel.as_posix()}: no {' or '.join(missing)}")
        else:
            pairs.append(Pair(rel.as_posix(), path, **partners))
    if not pairs:
        raise ValueError(f"no output under {outputs} has a partner of the same name under {clean}"
                         + (f" and {noisy}" if noisy is not None else "") + f" (first: {unmatched[0]})")
    return pairs, unmatched
