"""Gap filling (audio inpainting) scored inside the gap: SNR, log-spectral distance, random gap places, mean ± CI.

Every function takes mono audio as a numpy array or torch tensor `[L]` (float, any scale; full scale is 1.0) and a
gap as (start, length) in samples: the gap is `[start, start + length)`.  Outside the gap a fill is expected to
equal the reference; the metrics look at the gap only (LSD at the frames that overlap it).

    gap_snr    10·log10(Σ ref² / Σ (ref − fill)²) over the gap's samples (dB).  A silent fill gives exactly 0 dB,
               a perfect one +inf.  Undefined (NaN) when the reference is digital silence there and so is the
               error; −inf when the reference is silent and the fill is not.
    gap_lsd    log-spectral distance (dB) over the STFT frames that overlap the gap: 512-sample Hann frames on a
               grid of hop 128 anchored at sample 0 (zeros past the signal's ends), power spectra normalised so a
               full-scale sinusoid at a bin centre reads 0 dB, floored at −100 dB; per frame
               sqrt(mean over the 257 bins of (10·log10 P_ref − 10·log10 P_fill)²); the mean over those frames
               (the spectra are audiodiff/eval/spectra.framed_power_db's).
               Frames reach up to 511 samples beyond the gap into the context, where the two signals agree: a
               short gap's LSD is diluted by context, a long gap's mostly is not.
    random_gaps  seeded gap starts keeping `margin` samples of context each side.

Cells of the benchmark (mean with a 95 % interval over the finite values) come from metrics.mean_ci.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .spectra import FRAME, HOP, as_mono, lsd


def _pair(reference: Any, filled: Any, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    ref, fill = as_mono(reference, "reference"), as_mono(filled, "filled")
    if ref.shape != fill.shape:
        raise ValueError(f"reference {ref.shape} and filled {fill.shape} differ in length")
    if length < 1 or start < 0 or start + length > ref.size:
        raise ValueError(f"gap [{start}, {start + length}) is not inside the {ref.size} samples")
    return ref, fill


def gap_snr(reference: Any, filled: Any, start: int, length: int) -> float:
    """SNR (dB) of `filled` against `reference` (both [L]) over the gap [start, start + length) only."""
    ref, fill = _pair(reference, filled, start, length)
    r = ref[start:start + length]
    signal, error = float(np.sum(r * r)), float(np.sum((r - fill[start:start + length]) ** 2))
    if error == 0.0:
        return math.nan if signal == 0.0 else math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / error)


def gap_frames(start: int, length: int, frame: int = FRAME, hop: int = HOP) -> np.ndarray:
    """Starts (samples; negative before the signal) of the frames on the grid k·hop that overlap
    [start, start + length): int64 [F], F ≈ (length + frame) / hop."""
    first = -((frame - 1 - start) // hop)   # ceil((start − frame + 1) / hop)
    last = (start + length - 1) // hop
    return np.arange(first, last + 1, dtype=np.int64) * hop


def gap_lsd(reference: Any, filled: Any, start: int, length: int, sample_rate: int | None = None,
            frame: int = FRAME, hop: int = HOP) -> float:
    """Log-spectral distance (dB) of `filled` against `reference` (both [L]) over the frames overlapping the gap
    (module docstring).  `sample_rate` is recorded for the caller's sake only: frames are counted in samples
    (512 / 128 = 32 / 8 ms at 16 kHz)."""
    ref, fill = _pair(reference, filled, start, length)
    return lsd(ref, fill, frame=frame, hop=hop, starts=gap_frames(start, length, frame, hop))


def random_gaps(n_samples: int, length: int, count: int, rng: np.random.Generator | int | None,
                margin: int = 0) -> np.ndarray:
    """`count` gap starts (int64 [count]) drawn uniformly so each gap [s, s + length) keeps `margin` samples of
    context before and after it inside `n_samples`; gaps may overlap each other.  ValueError when the signal is
    too short for length + 2·margin."""
    if length < 1 or margin < 0 or count < 0:
        raise ValueError(f"need length >= 1, margin >= 0, count >= 0 (got {length}, {margin}, {count})")
    high = n_samples - margin - length   # the last allowed start
    if high < margin:
        raise ValueError(f"{n_samples} samples cannot hold a gap of {length} with {margin} samples of context "
                         f"each side (needs {length + 2 * margin})")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return rng.integers(margin, high + 1, size=count, dtype=np.int64)
