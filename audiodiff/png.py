"""Spectrogram pictures: a mel [n_mels, frames] → an RGB image → an 8-bit PNG, with the standard library only
(zlib + struct), for `sample --plot`, `sample --save-mel`, report pages and TensorBoard previews.

What a picture shows (the level range of a waveform's preview) is the mel features' business
(audiodiff/features.py: preview_image, preview_range); this module only paints and encodes.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
from torch import Tensor

from .atomic import atomic_write

# A perceptually ordered dark-to-bright colour map ("magma"-like anchors, interpolated linearly).
_COLOURS = np.array([[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100],
                     [251, 135, 97], [254, 194, 135], [252, 253, 191]], dtype=np.float64)


def mel_image(mel: Tensor | np.ndarray, lo: float | None = None, hi: float | None = None,
              min_height: int = 160, min_width: int = 256) -> np.ndarray:
    """A mel spectrogram [n_mels, frames] → RGB uint8 [H, W, 3], low frequencies at the bottom.

    Values are mapped from [lo, hi] (default: the array's own range) onto the colour map; each bin and
    frame becomes a block of pixels so small spectrograms stay legible."""
    m = np.asarray(mel.detach().float().cpu() if isinstance(mel, Tensor) else mel, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"a mel image needs a [n_mels, frames] array, got shape {m.shape}")
    m = np.nan_to_num(m)
    lo = float(m.min()) if lo is None else lo
    hi = float(m.max()) if hi is None else hi
    v = np.clip((m - lo) / max(hi - lo, 1e-9), 0.0, 1.0)[::-1]
    pos = v * (len(_COLOURS) - 1)
    i = np.minimum(pos.astype(int), len(_COLOURS) - 2)
    w = (pos - i)[..., None]
    rgb = (_COLOURS[i] * (1 - w) + _COLOURS[i + 1] * w).round().astype(np.uint8)
    ry = max(1, math.ceil(min_height / m.shape[0]))
    rx = max(1, math.ceil(min_width / m.shape[1]))
    return np.repeat(np.repeat(rgb, ry, axis=0), rx, axis=1)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB uint8 array [H, W, 3] as the bytes of an 8-bit PNG (standard library only: zlib + struct)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a PNG needs an RGB array [H, W, 3], got shape {rgb.shape}")
    h, w, _ = rgb.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)   # filter type 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 array [H, W, 3] as an 8-bit PNG file (see png_bytes), atomically and never through a
    symlink (audiodiff/atomic.py)."""
    png = png_bytes(rgb)
    return atomic_write(path, lambda f: f.write(png))


def save_mel_png(path: str | Path, mel: Tensor | np.ndarray, lo: float | None = -1.0, hi: float | None = 1.0) -> Path:
    """A normalised mel [n_mels, frames] as a PNG (colours span [lo, hi]; None = the mel's own range)."""
    return write_png(path, mel_image(mel, lo, hi))
