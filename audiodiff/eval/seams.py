"""Seams of audio made window by window (`sample --seconds`, tasks.continuation): is the step in level or in
spectrum where a new window starts any larger than the steps between neighbouring frames elsewhere in the audio?

Frames of FRAME_S (20 ms, Hann, no overlap) tile the clip.  Between consecutive frames i and i+1:
- level step: |10·log10 E_{i+1} − 10·log10 E_i| dB (frame energies, floored at FLOOR_DB below the clip's loudest);
- spectral step: the log-spectral distance sqrt(mean over bins of (10·log10 P_{i+1} − 10·log10 P_i)²) dB, powers
  floored the same way.
A seam's steps are those of the frame pairs it touches: the frame holding it and the one before, and on to the
frame holding its end when it spans a cross-fade (tasks.continuation's fade).  The clip's own spread is the
PERCENTILE-th percentile of the steps at every other frame pair; a seam is audible here when a step at any of its
pairs exceeds it (an ordinary frame pair does so one time in 100 / (100 − PERCENTILE)).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

FRAME_S = 0.02
FLOOR_DB = 80.0      # levels and spectra floored this far below the clip's loudest frame / bin
PERCENTILE = 95.0


def frame_samples(sample_rate: int) -> int:
    """Samples in one FRAME_S frame at `sample_rate` (two at least)."""
    return max(2, int(round(FRAME_S * sample_rate)))


def frame_steps(wave: torch.Tensor | np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """wave [L] → (level steps [F−1], spectral steps [F−1]) in dB between consecutive 20 ms frames."""
    x = torch.as_tensor(np.asarray(wave, dtype=np.float64)).reshape(-1)
    n = frame_samples(sample_rate)
    frames = x[: x.numel() // n * n].reshape(-1, n)
    if frames.shape[0] < 2:
        raise ValueError(f"need at least two {FRAME_S * 1000:.0f} ms frames, got {x.numel()} samples")
    power = torch.fft.rfft(frames * torch.hann_window(n, dtype=torch.float64), dim=-1).abs().pow(2)
    energy = power.sum(-1)
    level = 10 * torch.log10(energy.clamp_min(float(energy.max()) * 10 ** (-FLOOR_DB / 10) + 1e-30))
    spec = 10 * torch.log10(power.clamp_min(float(power.max()) * 10 ** (-FLOOR_DB / 10) + 1e-30))
    level_steps = (level[1:] - level[:-1]).abs()
    spectral_steps = (spec[1:] - spec[:-1]).pow(2).mean(-1).sqrt()
    return level_steps.numpy(), spectral_steps.numpy()


def seam_pairs(seam: int, sample_rate: int, pairs: int, span: int = 0) -> list[int]:
    """The frame pairs a seam touches: from the pair ending in the frame that holds sample `seam` to the pair
    ending in the frame that holds `seam + span` (a cross-faded seam's length), among the clip's `pairs`."""
    n = frame_samples(sample_rate)
    first, last = int(seam) // n, (int(seam) + max(0, int(span))) // n
    return [f - 1 for f in range(max(first, 1), min(last, pairs) + 1)]


def seam_report(wave: torch.Tensor | np.ndarray, sample_rate: int, seams: Sequence[int],
                span: int = 0) -> dict[str, float]:
    """Steps at the `seams` (sample positions; each covering `span` samples from there, e.g. a cross-fade) against
    the clip's own spread elsewhere: {"seam_level_db", "seam_spectral_db" (the largest at any seam),
    "spread_level_db", "spread_spectral_db" (the PERCENTILE-th percentile of the frame pairs no seam touches),
    "seams" (seams inside the clip's frames), "audible_seams" (seams with a step above the spread at any of their
    pairs)}."""
    level, spectral = frame_steps(wave, sample_rate)
    touched = [ps for ps in (seam_pairs(s, sample_rate, len(level), span) for s in seams) if ps]
    if not touched:
        raise ValueError(f"no seam falls inside the clip's frames (seams {list(seams)[:5]}, "
                         f"{len(level) + 1} frames of {frame_samples(sample_rate)} samples)")
    pairs = sorted({p for ps in touched for p in ps})
    others = np.setdiff1d(np.arange(len(level)), pairs)
    if len(others) < 2:
        raise ValueError("too few frame pairs away from the seams to measure the clip's own spread")
    spread_level = float(np.percentile(level[others], PERCENTILE))
    spread_spectral = float(np.percentile(spectral[others], PERCENTILE))
    audible = sum(any(level[p] > spread_level or spectral[p] > spread_spectral for p in ps) for ps in touched)
    return {"seam_level_db": float(level[pairs].max()), "seam_spectral_db": float(spectral[pairs].max()),
            "spread_level_db": spread_level, "spread_spectral_db": spread_spectral,
            "seams": len(touched), "audible_seams": int(audible)}
