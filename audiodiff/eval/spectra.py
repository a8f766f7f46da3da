"""Framed log-power spectra and the log-spectral distance (LSD) between two signals, over a frequency band.

    framed_power_db  Hann-windowed frames (periodic Hann, `frame` samples) of x at `starts` (default: every hop from
                     sample 0 while the frame fits inside x; with `starts`, frames may reach past the ends, which
                     read zeros) → rfft power in dB, normalised so a full-scale sinusoid at a bin centre reads 0 dB:
                     P = (2·|X(k)| / Σ window)², 10·log10 max(P, 10^(floor_db / 10)), floor_db = −100 dB.
                     [frames, frame // 2 + 1].
    lsd              log-spectral distance in dB: per frame sqrt(mean over the band's bins of (P_ref − P_est)²)
                     on framed_power_db's dB spectra, then the mean over frames.  0 for identical signals; a
                     signal against a copy g dB quieter reads g dB when no bin of the band sits at the floor.
                     The band [lo, hi) picks the bins whose centre k·sample_rate/frame lies in it (the Nyquist bin
                     joins when hi ≥ sample_rate / 2), so (0, 4000) and (4000, 8000) split 16 kHz audio's bins.

audiodiff/eval/gaps.py scores gap fills with the same spectra (frames overlapping the gap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FRAME = 512          # frame length (samples): 32 ms at 16 kHz
HOP = 128            # hop (samples): 8 ms at 16 kHz
FLOOR_DB = -100.0    # power floor (dB relative to a full-scale sinusoid)


def as_mono(x: Any, name: str) -> np.ndarray:
    """numpy / torch [L] → float64 numpy [L]; ValueError naming `name` for any other shape."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be mono audio [L], got shape {a.shape}")
    return a


def framed_power_db(x: np.ndarray, frame: int = FRAME, hop: int = HOP, starts: np.ndarray | None = None,
                    floor_db: float = FLOOR_DB) -> np.ndarray:
    """x [L] → dB power spectra [F, frame // 2 + 1] of the frames at `starts` (samples, int [F], ascending; zeros
    past x's ends), by default every `hop` from 0 while a frame fits (one zero-padded frame when L < frame).
    Normalised so a full-scale sinusoid at a bin centre reads 0 dB; floored at floor_db."""
    x = as_mono(x, "x")
    if starts is None:
        starts = np.arange(0, max(x.size - frame, 0) + 1, hop, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    lo, hi = int(starts[0]), int(starts[-1]) + frame
    region = np.zeros(hi - lo)                       # x over [lo, hi), zeros outside [0, L)
    a, b = max(lo, 0), min(hi, x.size)
    region[a - lo:b - lo] = x[a:b]
    window = np.hanning(frame + 1)[:frame]           # periodic Hann
    idx = (starts - lo)[:, None] + np.arange(frame)[None, :]
    spectra = np.fft.rfft(region[idx] * window, axis=-1)
    power = (2.0 * np.abs(spectra) / window.sum()) ** 2   # a full-scale sinusoid at a bin centre → 1 (0 dB)
    return 10.0 * np.log10(np.maximum(power, 10.0 ** (floor_db / 10.0)))


def band_bins(sample_rate: int, frame: int, band: tuple[float, float] | None) -> np.ndarray:
    """Boolean mask [frame // 2 + 1] of the rfft bins whose centre lies in band = [lo, hi) Hz (the Nyquist bin
    included when hi ≥ sample_rate / 2); None → every bin.  ValueError for a band holding no bin."""
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    if band is None:
        return np.ones(freqs.size, dtype=bool)
    lo, hi = band
    mask = (freqs >= lo) & ((freqs < hi) | (hi >= sample_rate / 2))
    if not mask.any():
        raise ValueError(f"band {lo:g}-{hi:g} Hz holds no bin of a {frame}-sample frame at {sample_rate} Hz "
                         f"(bins every {sample_rate / frame:g} Hz)")
    return mask


def lsd(reference: Any, estimate: Any, sample_rate: int | None = None, band: tuple[float, float] | None = None,
        frame: int = FRAME, hop: int = HOP, floor_db: float = FLOOR_DB, starts: np.ndarray | None = None) -> float:
    """Log-spectral distance (dB) of estimate [L] against reference [L] (same length) over `band` (Hz, [lo, hi);
    None = 0 … sample_rate / 2; a band needs sample_rate):

        LSD = mean over frames t of sqrt( mean over bins k in the band of (P_ref(t, k) − P_est(t, k))² )

    with P = framed_power_db(·, frame, hop, starts, floor_db): by default frames every hop from sample 0 that fit in
    the signal; `starts` picks others (gaps.gap_lsd: the frames overlapping a gap)."""
    ref, est = as_mono(reference, "reference"), as_mono(estimate, "estimate")
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ in length")
    if ref.size == 0:
        raise ValueError("reference and estimate hold no samples")
    diff = framed_power_db(ref, frame, hop, starts, floor_db) - framed_power_db(est, frame, hop, starts, floor_db)
    if band is not None:
        if sample_rate is None:
            raise ValueError("a band needs the sample rate")
        diff = diff[:, band_bins(sample_rate, frame, band)]
    return float(np.mean(np.sqrt(np.mean(diff * diff, axis=-1))))
