"""SpectralMasker: a predictive speech denoiser that masks the noisy recording's short-time spectrum.

    noisy wave [B, 1, L] ──STFT (n_fft, hop_length, Hann)──► X [B, F, T]   (F = n_fft / 2 + 1 bins)
        ──|X|^0.3 (power-law compression)──► 1×1 conv to `channels`
        ──stacks × layers dilated depthwise-separable conv blocks over frames (dilation 1, 2, 4, …; bins as
          channels; global layer norm, PReLU, residual: Conv-TasNet's separator block)
        ──1×1 conv to F, sigmoid──► mask M ∈ (0, 1) [B, F, T]
        ──inverse STFT of M · X (the noisy phase kept)──► clean estimate [B, 1, L]

With `fold = true` (bandwidth extension) it also hears the input's spectrum mirrored about a quarter of the rate
(the input times (−1)^n: the band below fs/4 copied, mirrored, into the band above it, the classical "spectral
folding" excitation) and learns a second gain for that copy, so the output is M · X + G · X_folded: the band the
narrow input lacks is the input's own fine structure (onsets, voicing, fricative noise) shaped by a learned
envelope.  The mask alone could not add a band that is empty in X.

It answers in one call (no diffusion chain): `objective = "regression"` tells the trainer to fit its output to
the clean speech with a spectral loss (training/objectives.py).  Why a mask on the spectrum: a mask is bounded,
so the network cannot invent loud errors, and noise that is stationary within a bin is removed by a gain the
network learns in a few thousand steps, which a 2-core CPU makes in minutes.  The receptive field of the frame
convolutions is stacks · (kernel_size − 1) · (2^layers − 1) + 1 frames (about 4 s at the defaults), so the
network hears the noise between words.  Any input length works.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..audio import pad_for_stft
from ..spectral_loss import compressed_magnitude
from .layers import Count



class FrameBlock(nn.Module):
    """1×1 conv up to `hidden` → PReLU → norm → depthwise conv (dilation) → PReLU → norm → 1×1 conv back, plus the
    input.  x: [B, C, T] → [B, C, T]."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, hidden, 1), nn.PReLU(), nn.GroupNorm(1, hidden),
            nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2,
                      groups=hidden),
            nn.PReLU(), nn.GroupNorm(1, hidden), nn.Conv1d(hidden, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SpectralMasker(nn.Module):
    """Noisy wave [B, 1, L] → denoised wave [B, 1, L] through a learned magnitude mask on its STFT.

    n_fft / hop_length: the STFT (512 / 128 at 16 kHz: 32 ms frames, 8 ms hop); channels: the width between
    blocks; hidden: the width inside each block; layers: blocks per stack (dilations 1 … 2^(layers−1));
    stacks: repeats of the dilation cycle; kernel_size: odd, of the depthwise frame convolution; fold: also
    shape the input's spectrum mirrored about fs/4 (bandwidth extension from half the rate)."""

    objective = "regression"

    def __init__(self, n_fft: Count = 512, hop_length: Count = 128, channels: Count = 128, hidden: Count = 384,
                 layers: Count = 8, stacks: Count = 2, kernel_size: Count = 3, fold: bool = False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (the frame convolution is centred), got {kernel_size}")
        if hop_length > n_fft:
            raise ValueError(f"hop_length {hop_length} must not exceed n_fft {n_fft}")
        self.n_fft, self.hop_length, self.fold = int(n_fft), int(hop_length), bool(fold)
        bins = self.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.encode = nn.Conv1d(bins, channels, 1)
        self.blocks = nn.Sequential(*(FrameBlock(channels, hidden, kernel_size, 2 ** i)
                                      for _ in range(stacks) for i in range(layers)))
        self.decode = nn.Conv1d(channels, bins * (2 if self.fold else 1), 1)

    def stft(self, wave: Tensor) -> Tensor:
        """wave [B, L] float32 → complex spectrum [B, F, T] (centred frames, zero-padded ends)."""
        return torch.stft(wave, self.n_fft, self.hop_length, window=self.window.float(), center=True, pad_mode="constant",
                          return_complex=True)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """Complex spectrum [B, F, T] → wave [B, length]."""
        return torch.istft(spec, self.n_fft, self.hop_length, window=self.window.float(), center=True, length=length)

    def mask(self, spec: Tensor) -> Tensor:
        """The gains in (0, 1) for every bin and frame of spec [B, F, T]: [B, F, T], or [B, 2F, T] with fold (the
        gains of spec, then of its folded copy)."""
        features = compressed_magnitude(spec.abs())
        h = self.blocks(self.encode(features.to(self.encode.weight.dtype)))
        return torch.sigmoid(self.decode(h)).float()

    @staticmethod
    def folded(wave: Tensor) -> Tensor:
        """wave [B, L] times (−1)^n: its spectrum mirrored about a quarter of the sample rate (f → fs/2 − f)."""
        sign = 1 - 2 * (torch.arange(wave.shape[-1], device=wave.device) % 2)
        return wave * sign.to(wave.dtype)

    def forward(self, noisy: Tensor) -> Tensor:
        """noisy [B, 1, L] (or [B, L]) → clean estimate [B, 1, L], float32 whatever the autocast."""
        wave = noisy.reshape(noisy.shape[0], -1).float()
        length = wave.shape[-1]
        wave = pad_for_stft(wave, self.n_fft)
        with torch.autocast(wave.device.type, enabled=False):
            spec = self.stft(wave)
            mirror = self.stft(self.folded(wave)) if self.fold else None
        m = self.mask(spec)
        with torch.autocast(wave.device.type, enabled=False):
            if mirror is None:
                out = self.istft(m * spec, wave.shape[-1])
            else:
                bins = spec.shape[1]
                out = self.istft(m[:, :bins] * spec + m[:, bins:] * mirror, wave.shape[-1])
        return out[:, None, :length]
