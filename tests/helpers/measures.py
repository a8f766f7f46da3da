"""What tests measure the library's outputs with: spectrogram distances and a PNG's size.  (They lived in
audiodiff/features.py, which used none of them.)"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import torch
from torch import Tensor

from audiodiff.features import MelFeatures


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """‖|S| − |Ŝ|‖_F / ‖|S|‖_F for two (linear, non-negative) spectrograms of the same shape."""
    reference, estimate = reference.double(), estimate.double()
    return float(torch.linalg.vector_norm(reference - estimate) / torch.linalg.vector_norm(reference).clamp_min(1e-12))


def mel_distance(features: MelFeatures, reference: Tensor, estimate: Tensor, range_db: float | None = 60.0) -> float:
    """Mean absolute difference of two waveforms' log-mel spectrograms (natural-log units, un-normalised).

    With range_db, both are floored at the reference's peak minus range_db (as a spectrogram display's
    dynamic range), so bins far below the signal (where any residual noise, however quiet, dominates the
    log) do not swamp the measure; None compares down to the features' own log floor."""
    n = min(reference.shape[-1], estimate.shape[-1])
    a, b = features.log_mel(reference[..., :n]), features.log_mel(estimate[..., :n])
    if range_db is not None:
        floor = a.max() - range_db / (20.0 if features.power == 1.0 else 10.0) * math.log(10.0)
        a, b = a.clamp_min(floor), b.clamp_min(floor)
    return float((a - b).abs().mean())


def read_png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", data[16:24])
