"""The tiny mel vocoder the vocoder and output tests train: its recipe and the one clip it overfits."""

from __future__ import annotations

import math

import torch

RATE, N_FFT, HOP, N_MELS = 8000, 128, 32, 16
CLIP = 512                                  # 64 ms at 8 kHz: 16 frames of 32 samples


def training_clip() -> torch.Tensor:
    """A gliding harmonic tone (300 → 900 Hz) with 6 Hz tremolo, 64 ms at 8 kHz, peak 0.8: [CLIP] float32."""
    t = torch.arange(CLIP, dtype=torch.float64) / RATE
    phase = 2 * math.pi * torch.cumsum((300 + 600 * t / t[-1]) / RATE, 0)
    w = sum(0.4 / k * torch.sin(k * phase + k) for k in range(1, 5))
    w = w * (0.6 + 0.4 * torch.sin(2 * math.pi * 6 * t))
    return (0.8 * w / w.abs().max()).float()


def vocoder_recipe() -> dict:
    """A vocoder-domain recipe dict: a 6-layer DiffWave on 16-bin mels, x0 targets, the fast sampler."""
    return {"name": "tiny-vocoder",
            "data": {"root": "unused", "sample_rate": RATE, "clip_length": CLIP, "domain": "vocoder"},
            "features": {"n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS, "griffin_lim_iters": 64},
            "model": {"type": "diffwave", "residual_layers": 6, "residual_channels": 16, "dilation_cycle": 3,
                      "embed_dim": 32, "sinusoid_dim": 16},
            # DiffWave BASE's T = 50 schedule; x0 targets memorise a single clip far faster than ε on CPU
            "diffusion": {"schedule": "linear", "num_steps": 50, "beta_start": 1e-4, "beta_end": 0.05,
                          "prediction": "x0"},
            "sample": {"sampler": "fast"}}
