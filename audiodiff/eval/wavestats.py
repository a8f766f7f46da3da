"""Cheap statistics of a batch of waveforms: level, spread, share at full scale and octave-band energy.

They need no classifier, so `audiodiff eval` reports them beside the metrics and the trainer logs them with its
previews against the training data's: a run going wrong (silence, DC, clipping, missing highs) shows early.
"""

from __future__ import annotations

import numpy as np
import torch

N_BANDS = 7                  # octave bands below sample_rate / 2: [0, sr/128], [sr/128, sr/64], …, [sr/4, sr/2]
FULL_SCALE = 1 - 2 ** -15


def band_edges(sample_rate: int) -> list[tuple[float, float]]:
    nyq = sample_rate / 2
    uppers = [nyq / 2 ** k for k in range(N_BANDS - 1, -1, -1)]
    return list(zip([0.0] + uppers[:-1], uppers))


BAND_FFT = 512


def power_sum(waves: torch.Tensor, n_fft: int = BAND_FFT) -> torch.Tensor:
    """Per-clip mean power spectrum, summed over clips: waves [N, L] → [n_fft // 2 + 1] (float64)."""
    n_fft = min(n_fft, 2 ** int(np.log2(max(waves.shape[-1], 2))))   # clips shorter than one frame: a smaller FFT
    spec = torch.stft(waves.float(), n_fft, hop_length=n_fft // 2, window=torch.hann_window(n_fft),
                      return_complex=True)
    return spec.abs().double().pow(2).mean(dim=2).sum(0)


def band_energy_db(waves: torch.Tensor | None, sample_rate: int, power: torch.Tensor | None = None,
                   count: int | None = None) -> np.ndarray:
    """Mean power in each octave band over clips and frames, dB: waves [N, L] (or a power_sum over
    `count` clips) → [N_BANDS]."""
    if power is None:
        power, count = sum(power_sum(chunk) for chunk in waves.split(64)), len(waves)
    p = (power / count).numpy()
    freqs = np.linspace(0, sample_rate / 2, len(p))
    return np.array([10 * np.log10(p[(freqs >= lo) & (freqs < hi if hi < sample_rate / 2 else freqs <= hi)].sum()
                                   + 1e-20) for lo, hi in band_edges(sample_rate)])


def wave_stats(waves: torch.Tensor) -> dict[str, float]:
    x = waves.double()
    rms = x.pow(2).mean().sqrt().item()
    return {"mean": x.mean().item(), "std": x.std().item(), "clipped": (x.abs() >= FULL_SCALE).double().mean().item(),
            "rms_db": 20 * np.log10(max(rms, 1e-10))}


def compare_to_data(samples: torch.Tensor, data: torch.Tensor, sample_rate: int) -> dict[str, float]:
    """samples, data: [N, L] → the samples' wave_stats, the data's (prefixed data_), and the largest octave-band
    energy gap between them in dB (band_gap_db)."""
    out = dict(wave_stats(samples))
    out.update({f"data_{k}": v for k, v in wave_stats(data).items()})
    gap = np.abs(band_energy_db(samples, sample_rate) - band_energy_db(data, sample_rate))
    out["band_gap_db"] = float(gap.max())
    return out
