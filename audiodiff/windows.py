"""Long recordings in overlapping windows, cross-faded: memory bounded by the window, not the file.

denoise / inpaint / upsample run the network on the whole input at once, and its memory grows with the
length (a U-Net's self-attention with its square), so a 10-minute file would need tens of GB to TB.
`map_windows` runs a task on windows of `window` samples instead (the run's clip_length by default: the
length the network was trained on) and joins them by weighted overlap-add:

    out[i] = Σ_k w_k(i) · y_k(i) / Σ_k w_k(i)

where y_k is window k's result and w_k its taper: a raised cosine sin²(π/2 · (j + ½)/overlap) over the
first and last `overlap` samples, 1 between.  The weights are positive and change smoothly, so every
output sample is a convex combination of the windows' results that drifts from one window's to the
next's over at least `overlap` samples: no click where windows meet.  Windows are spread evenly over
the file, each exactly `window` long, with at least `overlap` samples in common with its neighbour.

An input no longer than one window is passed to the task whole, exactly as before windowing existed.
Memory: the output [B, C, L] and the weight sum [L], plus the task's own memory for one window.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
from torch import Tensor

from .progress import make_progress

DEFAULT_OVERLAP = 0.25   # share of a window cross-faded with each neighbour


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """First sample of each window: evenly spread, covering [0, length), neighbours sharing >= overlap."""
    if window < 1 or not 0 <= overlap <= window // 2:
        raise ValueError(f"need window >= 1 and 0 <= overlap <= window / 2, got window {window}, overlap {overlap}")
    if length <= window:
        return [0]
    count = math.ceil((length - overlap) / (window - overlap))
    span = length - window
    return [round(k * span / (count - 1)) for k in range(count)]


def taper(window: int, overlap: int) -> Tensor:
    """[window] weights, float64: raised-cosine ramps over `overlap` samples at both ends, 1 between."""
    w = torch.ones(window, dtype=torch.float64)
    if overlap:
        ramp = torch.sin(math.pi / 2 * (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap) ** 2
        w[:overlap] = ramp
        w[-overlap:] = torch.minimum(w[-overlap:], ramp.flip(0))
    return w


def map_windows(task: Callable[[slice], Tensor], shape: tuple[int, ...], window: int, overlap: int | None = None,
                progress: bool = False, description: str = "windows", sample_rate: int | None = None) -> Tensor:
    """Run task(slice) on windows along the last axis of an input of `shape` [..., L]; join the results.

    task(sl) must return the result for input[..., sl], shaped [..., sl.stop − sl.start].  overlap
    defaults to DEFAULT_OVERLAP of the window.  progress draws a rich bar over the windows (with the
    audio time done when sample_rate is given)."""
    length = shape[-1]
    window = int(window)
    overlap = int(window * DEFAULT_OVERLAP) if overlap is None else int(overlap)
    starts = window_starts(length, window, overlap)
    if len(starts) == 1:
        return task(slice(0, length))
    weights = taper(window, overlap)
    out: Tensor | None = None
    total = torch.zeros(length, dtype=torch.float64)
    with make_progress() if progress else contextlib.nullcontext() as bar:
        job = bar.add_task(description, total=len(starts), info="") if progress else None
        for start in starts:
            y = task(slice(start, start + window))
            if out is None:
                out = torch.zeros(*shape[:-1], length, dtype=y.dtype, device=y.device)
            out[..., start:start + window] += y * weights.to(device=y.device, dtype=y.dtype)
            total[start:start + window] += weights
            if job is not None:
                done = start + window
                info = f"{done / sample_rate:.1f} s / {length / sample_rate:.1f} s" if sample_rate else ""
                bar.update(job, advance=1, info=info)
    assert out is not None
    return out / total.to(device=out.device, dtype=out.dtype)
