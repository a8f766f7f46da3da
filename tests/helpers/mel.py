"""Mel-domain test material (tests/core/test_mel_domain.py and its end-to-end half): 8 kHz tones, mel features
fitted on them, and a raw recipe of each audio domain (waveform, mel, vocoder) with a tiny network."""

from __future__ import annotations

import torch

from audiodiff.features import MelFeatures

RATE, CLIP = 8000, 512
FEATURES = {"n_fft": 128, "hop_length": 32, "n_mels": 16, "griffin_lim_iters": 8}
# a 1-D U-Net over the 16 mel bins (other sizes than helpers.recipes.TINY_UNET), and a DiffWave for the other domains
MEL_UNET = {"type": "unet1d", "base_channels": 8, "channel_mults": [1, 2], "down_factors": [2],
            "blocks_per_level": 1, "attention_heads": 2}
TINY_VOCODER = {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2,
                "embed_dim": 16, "sinusoid_dim": 16}


def tones(count: int = 4, length: int = CLIP) -> list[torch.Tensor]:
    t = torch.arange(length) / RATE
    return [(0.5 / (i + 1) * torch.sin(2 * torch.pi * 220 * (i + 1) * t))[None] for i in range(count)]


def features() -> MelFeatures:
    return MelFeatures(RATE, **FEATURES).fit_stats(tones())


def raw_recipe(domain: str, model: dict, **data) -> dict:
    return {"name": f"tiny-{domain}", "data": {"root": "unused", "sample_rate": RATE, "clip_length": CLIP,
                                                "domain": domain, **data},
            "features": dict(FEATURES), "model": dict(model),
            "diffusion": {"schedule": "linear", "num_steps": 10, "beta_start": 1e-3, "beta_end": 0.2},
            "sample": {"sampler": "ddim", "steps": 3}}
