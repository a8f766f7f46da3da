"""Classical gap fills, the baselines a diffusion inpainter has to beat: silence, a linear crossfade of the
neighbouring audio, and Janssen's autoregressive interpolation.

Every fill takes mono audio `[L]` (numpy float; a torch tensor is converted) and a gap [start, start + length) in
samples, and returns a new float array `[L]` (the input's float dtype) equal to the input outside the gap.

Janssen, Veldhuis & Vries (1986), "Adaptive interpolation of discrete-time signals that can be modeled as
autoregressive processes", IEEE Trans. ASSP 34(2), as `ar_fill` does it on one gap:

    y  = the audio from `context` seconds before the gap to `context` after it, the gap set to zero
    repeat `iterations` times:
      a  = AR(p) prediction-error filter [1, a₁ … a_p] of y by the autocorrelation method (biased autocorrelation
           of the whole window, gap included with its current fill; Levinson via scipy.linalg.solve_toeplitz)
      y_gap = argmin ‖a ∗ y‖² over the gap's samples (the full convolution, zeros outside the window): the normal
           equations B y_gap = −A_gapᵀ (a ∗ y_known) with B[i, j] = Σ_k a_k a_{k+|i−j|}, a symmetric positive
           definite Toeplitz matrix, solved by Levinson as well (O(length²) a solve)

The order is p = min(order, 3·length + 2, window / 3): Janssen's 3m + 2 for m missing samples, capped (the audio
inpainting toolbox of Adler et al. 2012 caps it at a third of the frame likewise).  A tiny diagonal load (r₀ ×
(1 + 1e-9)) keeps the Yule-Walker system solvable on pure tones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import fftconvolve

DEFAULT_CONTEXT_S = 0.256   # seconds of audio each side of the gap that the AR model sees
DEFAULT_ORDER = 512
DEFAULT_ITERATIONS = 10
DIAGONAL_LOAD = 1e-9


def _prepare(audio: Any, start: int, length: int) -> tuple[np.ndarray, np.dtype]:
    """A float64 copy of audio [L] and the dtype to return; ValueError for a gap outside it."""
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().numpy()
    a = np.asarray(audio)
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float32)
    x = a.astype(np.float64)   # a copy
    if x.ndim != 1:
        raise ValueError(f"audio must be mono [L], got shape {x.shape}")
    if length < 1 or start < 0 or start + length > x.size:
        raise ValueError(f"gap [{start}, {start + length}) is not inside the {x.size} samples")
    return x, dtype


def silence_fill(audio: Any, start: int, length: int, sample_rate: int | None = None) -> np.ndarray:
    """The gap set to zero (what a dropout sounds like): [L] → [L]."""
    x, dtype = _prepare(audio, start, length)
    x[start:start + length] = 0.0
    return x.astype(dtype)


def linear_crossfade_fill(audio: Any, start: int, length: int, sample_rate: int | None = None) -> np.ndarray:
    """The `length` samples before the gap, continued forward into it, cross-faded linearly into the `length`
    samples after the gap, continued backward into it (audiodiff.data.dropouts.crossfade_fill, the fill a gapfill
    run starts from, which documents the edge cases).  [L] → [L]."""
    import torch

    from audiodiff.data.dropouts import crossfade_fill

    x, dtype = _prepare(audio, start, length)
    gap = np.zeros(x.size, dtype=bool)
    gap[start:start + length] = True
    return crossfade_fill(torch.from_numpy(x), torch.from_numpy(gap)).numpy().astype(dtype)


def ar_coefficients(y: np.ndarray, order: int) -> np.ndarray | None:
    """The prediction-error filter [1, a₁ … a_p] (float64 [p + 1]) of y [N] by the autocorrelation method;
    None when y is silent."""
    n_fft = 1 << int(np.ceil(np.log2(y.size + order + 1)))
    spectrum = np.fft.rfft(y, n_fft)
    r = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, n_fft)[:order + 1]
    if not r[0] > 0.0:
        return None
    r[0] *= 1.0 + DIAGONAL_LOAD
    a = solve_toeplitz(r[:order], -r[1:order + 1], check_finite=False)
    return np.concatenate([[1.0], a])


def fill_given_ar(y: np.ndarray, gap_start: int, gap_length: int, a: np.ndarray) -> np.ndarray:
    """The gap's samples (float64 [gap_length]) minimising ‖a ∗ y‖² with the rest of y [N] fixed."""
    p = a.size - 1
    known = y.copy()
    known[gap_start:gap_start + gap_length] = 0.0
    e0 = fftconvolve(known, a)                                   # [N + p]: the known part's prediction error
    rhs = np.correlate(e0[gap_start:gap_start + gap_length + p], a, mode="valid")   # A_gapᵀ e0, [gap_length]
    b = np.correlate(a, a, mode="full")[p:]                      # Σ_k a_k a_{k+m}, m = 0 … p
    column = np.zeros(gap_length)
    column[:min(p + 1, gap_length)] = b[:gap_length]
    return -solve_toeplitz(column, rhs, check_finite=False)


def janssen(y: np.ndarray, gap_start: int, gap_length: int, order: int,
            iterations: int = DEFAULT_ITERATIONS) -> np.ndarray:
    """Janssen's iteration on one window y [N] (float64) with the gap [gap_start, gap_start + gap_length):
    returns y [N] with the gap filled (module docstring)."""
    y = y.astype(np.float64)   # a copy
    y[gap_start:gap_start + gap_length] = 0.0
    order = max(1, min(order, y.size - 1))
    for _ in range(iterations):
        a = ar_coefficients(y, order)
        if a is None:           # nothing to model: the gap stays silent
            break
        y[gap_start:gap_start + gap_length] = fill_given_ar(y, gap_start, gap_length, a)
    return y


def ar_fill(audio: Any, start: int, length: int, sample_rate: int, context_s: float = DEFAULT_CONTEXT_S,
            order: int = DEFAULT_ORDER, iterations: int = DEFAULT_ITERATIONS) -> np.ndarray:
    """Janssen's AR interpolation of the gap from `context_s` seconds of audio each side (fewer at the signal's
    ends), order min(order, 3·length + 2, window / 3), `iterations` rounds: [L] → [L]."""
    x, dtype = _prepare(audio, start, length)
    context = int(round(context_s * sample_rate))
    lo, hi = max(0, start - context), min(x.size, start + length + context)
    window = x[lo:hi]
    p = min(order, 3 * length + 2, max(1, window.size // 3))
    x[lo:hi] = janssen(window, start - lo, length, p, iterations)
    return x.astype(dtype)
