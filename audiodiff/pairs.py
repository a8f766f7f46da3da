"""Scoring a denoiser on pairs: `audiodiff eval OUTPUTS --clean CLEAN [--noisy NOISY]`.

Each file under OUTPUTS is matched by its path relative to OUTPUTS with the file of the same relative path
under CLEAN (and NOISY); files without a partner are named and left out.  Both are resampled to the clean
file's rate and cut to the shorter length.  Per pair: SI-SDR of the output against the clean reference
(metrics.si_sdr) and, with NOISY, the noisy input's SI-SDR and the improvement (SI-SDRi = output − input).
The result holds the means over pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .audio import AudioReadError, load_audio
from .data import find_audio_files
from .metrics import si_sdr

log = logging.getLogger("audiodiff")


def _read(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    wave, sr = load_audio(path, rate)
    return wave.numpy(), sr


def score_pairs(outputs: str | Path, clean: str | Path, noisy: str | Path | None = None) -> dict[str, Any]:
    """{"si_sdr", "si_sdr_input", "si_sdri" (with noisy), "n_pairs", "unmatched": [...]} in dB."""
    outputs, clean = Path(outputs), Path(clean)
    for name, folder in (("SAMPLES", outputs), ("--clean", clean), ("--noisy", noisy)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name} {folder}: no such folder")
    out_scores, in_scores, problems = [], [], []
    for path in find_audio_files(outputs):
        rel = path.relative_to(outputs)
        partners = [clean / rel] + ([Path(noisy) / rel] if noisy is not None else [])
        missing = [str(p) for p in partners if not p.is_file()]
        if missing:
            problems.append(f"{rel}: no {' or '.join(missing)}")
            continue
        try:
            ref, rate = _read(partners[0])
            est, _ = _read(path, rate)
            inp = _read(partners[1], rate)[0] if noisy is not None else None
        except AudioReadError as exc:
            problems.append(str(exc))
            continue
        n = min(len(ref), len(est), *([len(inp)] if inp is not None else []))
        out_scores.append(si_sdr(ref[:n], est[:n]))
        if inp is not None:
            in_scores.append(si_sdr(ref[:n], inp[:n]))
    if not out_scores:
        first = f" (first: {problems[0]})" if problems else ""
        raise ValueError(f"no output under {outputs} has a readable partner of the same name under {clean}"
                         + (f" and {noisy}" if noisy is not None else "") + first)
    if problems:
        log.warning("left out %d file(s) without a readable partner: %s", len(problems), "; ".join(problems[:10]))
    result: dict[str, Any] = {"si_sdr": float(np.mean(out_scores)), "n_pairs": len(out_scores),
                              "unmatched": problems}
    if in_scores:
        result["si_sdr_input"] = float(np.mean(in_scores))
        result["si_sdri"] = float(np.mean(np.subtract(out_scores, in_scores)))
    return result
