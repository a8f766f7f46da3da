"""TensorBoard's mel preview and `sample --plot` draw the same 80 dB range (issue 12: the preview's floor was
8·ln 10 below the top, 160 dB for the magnitude mels it draws)."""

from __future__ import annotations

import math

import torch

from audiodiff.features import PREVIEW_RANGE_DB, preview_features, preview_range
from audiodiff.training import mel_image


def test_tensorboard_preview_floor_is_80_db_below_the_top():
    rate, n = 8000, 4096
    t = torch.arange(n) / rate
    wav = (0.5 * torch.sin(2 * math.pi * 440 * t) + 1e-6 * torch.randn(n, generator=torch.Generator().manual_seed(0)))
    feats = preview_features(rate, n)
    log_mel = feats.log_mel(wav[None])
    lo, hi = preview_range(log_mel, feats)
    assert feats.power == 1.0 and math.isclose(20 * (hi - lo) / math.log(10), PREVIEW_RANGE_DB, rel_tol=1e-6)
    img = mel_image(wav[None], rate)
    # the share of black pixels is that of the bins more than 80 dB down (at 160 dB almost none would be)
    below = (log_mel <= lo).float().mean().item()
    assert below > 0.2
    assert abs((img == 0).float().mean().item() - below) < 0.02
