"""The power-law compressed spectral distance of Braun & Tashev (2021), written once for every loss that uses it:
the supervised regression networks (training/objectives.SpectralRegression) and diffusion runs trained with
[diffusion] loss = "spectral" (GaussianDiffusion, on x̂0).

    d(ŝ, s) = (1 − w)·mean |  |Ŝ|^c − |S|^c  |²  +  w·mean | |Ŝ|^c·e^{jφ̂} − |S|^c·e^{jφ} |²

over every bin and frame of 512-point Hann STFTs (hop 128), c = COMPRESSION: the magnitude term, plus a complex
term (weight w) so that phase errors count.  Their comparison ("A consolidated view of loss functions for
supervised deep learning-based speech enhancement") found this pair best for PESQ among the usual losses; the
compression keeps quiet bins from being ignored next to loud ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

COMPRESSION = 0.3   # |X|^0.3: the power-law compression of speech-enhancement features and losses
N_FFT, HOP_LENGTH = 512, 128
COMPLEX_WEIGHT = 0.3


def compressed_magnitude(magnitude: Tensor, compression: float = COMPRESSION) -> Tensor:
    """|S| (any shape) → |S|^c, floored at 1e-8 first so that silent bins have a finite gradient: the compression
    of every loss here and of the spectral networks' input features."""
    return magnitude.clamp_min(1e-8).pow(compression)


def compressed_spectrum(wave: Tensor, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                        compression: float = COMPRESSION) -> Tensor:
    """wave [B, 1, L] or [B, L] → |S|^c·e^{jφ} [B, F, T] (complex, float32; centred frames, zero-padded ends)."""
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(wave.reshape(wave.shape[0], -1).float(), n_fft, hop_length, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    magnitude = spec.abs().clamp_min(1e-8)
    return spec / magnitude * compressed_magnitude(magnitude, compression)


def compressed_magnitude_loss(estimate: Tensor, target: Tensor, compression: float = COMPRESSION) -> Tensor:
    """Per-example mean squared difference [B] of two compressed magnitude spectrograms [B, F, T] (the loss's
    magnitude term, for a network that answers in magnitudes), in float32 whatever the autocast."""
    with torch.autocast(estimate.device.type, enabled=False):
        diff = compressed_magnitude(estimate.float(), compression) - compressed_magnitude(target.float(), compression)
        return diff.pow(2).mean(dim=(1, 2))


def compressed_spectral_loss(estimate: Tensor, clean: Tensor, complex_weight: float = COMPLEX_WEIGHT,
                             n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                             compression: float = COMPRESSION) -> Tensor:
    """Per-example distance [B] of estimate from clean, both [B, 1, L] (or [B, L]), in float32 whatever the
    autocast."""
    with torch.autocast(estimate.device.type, enabled=False):
        s = compressed_spectrum(estimate, n_fft, hop_length, compression)
        c = compressed_spectrum(clean, n_fft, hop_length, compression)
        magnitude = (s.abs() - c.abs()).pow(2).mean(dim=(1, 2))
        complex_ = (s - c).abs().pow(2).mean(dim=(1, 2))
    return (1 - complex_weight) * magnitude + complex_weight * complex_
