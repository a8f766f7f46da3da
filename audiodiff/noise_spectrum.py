"""The spectrum of a recording's noise, estimated from the recording itself, and the filter that whitens it.

The training-free denoiser (tasks.denoise) treats its input as x_t: the clean signal plus *white* Gaussian noise.
Recorded noise is coloured (city and wind fall by 15–21 dB an octave), so one noise level is wrong in every band.
`denoise(noise="coloured")` therefore works in the whitened domain: it estimates the noise's power in every STFT
bin from the quietest frames (`noise_spectrum`), filters the recording by √(mean power / power) so the noise becomes
white at the same total power (`NoiseSpectrum.whitening_gains`, `filter_bins`), denoises that at the white level,
and filters the result back.  A
denoiser that judges each bin by its SNR sees every bin at its true SNR; only the speech's colour changes.

Frames: Hann windows of 32 ms (the next power of two: 512 at 16 kHz), hop a quarter of that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .audio import pad_for_stft

# What the training-free denoiser assumes of the noise: "white" (one σ) or "coloured" (its spectrum, estimated here).
# A run's [sample] denoise_noise picks one: coloured suits speech (its pauses show the noise alone), white suits
# music with no pauses, where the quietest frames still hold the music.
NOISE_KINDS = ("white", "coloured")
QUIET_SHARE = 0.1       # the share of frames, least energy first, whose mean power is the noise's
GAIN_LIMIT_DB = 20.0    # the whitening filter stays within ±this of unity: an empty band is not raised to the floor
PSD_FLOOR = 1e-12


def frame_size(rate: int) -> tuple[int, int]:
    """(n_fft, hop) for `rate`: 32 ms rounded up to a power of two, 75 % overlap."""
    n_fft = 1 << math.ceil(math.log2(0.032 * rate))
    return n_fft, n_fft // 4


def stft(wave: Tensor, n_fft: int, hop: int) -> Tensor:
    """wave [L] → complex spectrum [F, T] (Hann, centred frames, reflected ends), in float64.  A wave shorter than
    half a frame (too short to reflect) is zero-padded to that first."""
    window = torch.hann_window(n_fft, dtype=torch.float64, device=wave.device)
    wave = pad_for_stft(wave.double(), n_fft)
    return torch.stft(wave, n_fft, hop, window=window, center=True, return_complex=True)


def istft(spec: Tensor, n_fft: int, hop: int, length: int) -> Tensor:
    """Complex spectrum [F, T] → wave [length] (float64)."""
    window = torch.hann_window(n_fft, dtype=torch.float64, device=spec.device)
    return torch.istft(spec, n_fft, hop, window=window, center=True, length=length)


def quiet_frame_psd(power: Tensor, share: float = QUIET_SHARE) -> Tensor:
    """power [F, T] (|Y|² per bin and frame) → [F]: the mean over the `share` of frames with the least energy
    (at least one).  Speech leaves pauses between words; stationary noise fills them."""
    quiet = torch.argsort(power.sum(0), stable=True)[:max(1, round(share * power.shape[1]))]
    return power[:, quiet].mean(1).clamp_min(PSD_FLOOR)


@dataclass
class NoiseSpectrum:
    """A recording's noise: its power per bin `psd` [F] (E|N(k)|², the frames' scale) at frames (n_fft, hop)."""
    psd: Tensor
    n_fft: int
    hop: int

    @property
    def white_sigma(self) -> float:
        """σ per sample of white noise with the same total power (E|N(k)|² = σ²·Σw² for white noise)."""
        window = torch.hann_window(self.n_fft, dtype=torch.float64)
        return float((self.psd.mean() / window.pow(2).sum()).sqrt())

    def whitening_gains(self, limit_db: float = GAIN_LIMIT_DB) -> Tensor:
        """[F]: √(mean power / power), within ±limit_db: the filter after which the noise is white."""
        gains = (self.psd.mean() / self.psd).sqrt()
        bound = 10 ** (limit_db / 20)
        return gains.clamp(1 / bound, bound)


def noise_spectrum(wave: Tensor, rate: int, share: float = QUIET_SHARE) -> NoiseSpectrum:
    """The noise of recording wave [L] at `rate`, from its quietest frames (quiet_frame_psd)."""
    n_fft, hop = frame_size(rate)
    return NoiseSpectrum(quiet_frame_psd(stft(wave, n_fft, hop).abs().pow(2), share), n_fft, hop)


def filter_bins(wave: Tensor, gains: Tensor, n_fft: int, hop: int) -> Tensor:
    """wave [L] with every STFT bin k scaled by gains[k] (overlap-add; gains [F]) → [L] in wave's dtype."""
    out = istft(stft(wave, n_fft, hop) * gains.to(torch.float64)[:, None], n_fft, hop, wave.shape[-1])
    return out.to(wave.dtype)
