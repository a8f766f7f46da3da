"""Training pairs for bandwidth extension: wide-band clips made narrow on the fly, as a telephone or an old
recording made them.

Each clean clip at the run's rate is resampled down to `narrow_rate` and back (the same band-limited sinc the
pipeline uses on a real narrow recording, so training and use see one input band), then high-passed at a cutoff
drawn in [0, highpass_max] Hz (telephone channels cut below 300 Hz, with the phase turn of an IIR filter; 0 leaves
the low end), and both are brought to the level a supervised network hears (mixing.level_normalise).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..audio import resample
from ..install import torchaudio
from .data_config import DataConfig
from .mixing import level_normalise


def narrow_band(wave: Tensor, rate: int, narrow_rate: int) -> Tensor:
    """wave [..., L] at `rate` → the same length at `rate`, holding only what a `narrow_rate` recording keeps (the
    round trip gives ceil(ceil(L·n/r)·r/n) ≥ L samples: cut back to L)."""
    return resample(resample(wave, rate, narrow_rate), narrow_rate, rate)[..., :wave.shape[-1]]


class BandLimiter:
    """clean [B, 1, L] at `rate` → (clean · g, narrow · g): narrow_band at `narrow_rate`, then a second-order
    high-pass at a cutoff drawn uniformly in [0, highpass_max] Hz per clip (below 20 Hz: none); g brings the
    narrow clip to mixing.INPUT_RMS."""

    def __init__(self, rate: int, narrow_rate: int, highpass_max: float = 300.0):
        if not 0 < narrow_rate < rate:
            raise ValueError(f"narrow_rate {narrow_rate} Hz must be below the clips' rate {rate} Hz")
        if not 0 <= highpass_max < narrow_rate / 2:
            raise ValueError(f"highpass_max {highpass_max} Hz must be in [0, {narrow_rate / 2:g}) Hz")
        self.rate, self.narrow_rate, self.highpass_max = int(rate), int(narrow_rate), float(highpass_max)

    def __call__(self, clean: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """clean [B, 1, L] → (clean · g, narrow · g); `generator` (CPU) draws the cutoffs."""
        narrow = narrow_band(clean.float(), self.rate, self.narrow_rate)
        cutoffs = self.highpass_max * torch.rand(clean.shape[0], generator=generator)
        rows = []
        for row, cutoff in zip(narrow, cutoffs.tolist()):
            if cutoff >= 20:
                row = torchaudio.functional.highpass_biquad(row, self.rate, cutoff)
            rows.append(row)
        narrow, gain = level_normalise(torch.stack(rows).to(clean.dtype))
        return clean * gain, narrow


def band_limiter_for(data: DataConfig) -> BandLimiter:
    """The BandLimiter of a bandwidth recipe's [data] table."""
    return BandLimiter(data.sample_rate, data.narrow_rate, data.highpass_max)
