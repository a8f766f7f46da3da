"""The denoisers' test material (tests/data/test_denoiser.py and its end-to-end half; the predictive denoiser's
tests/training/test_spectral_denoiser.py takes the noise folder): the conditioned U-Net, a folder of noise recordings,
and a tiny denoiser recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from helpers.recipes import SAMPLE_RATE, tiny_recipe_dict

TINY_COND_UNET = {"type": "unet1d", "base_channels": 4, "channel_mults": [1, 2], "down_factors": [4],
                  "blocks_per_level": 1, "attention_heads": 2}


def noise_folder(folder: Path, count: int = 3, n: int = 900, rate: int = SAMPLE_RATE) -> Path:
    """folder holding `count` coloured (brown-ish) and hum-like noise files, as recordings would be."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        white = rng.standard_normal(n + 37 * i)
        wave = np.cumsum(white) if i % 2 == 0 else np.sin(2 * np.pi * 50 * np.arange(white.size) / rate) + 0.1 * white
        wave = 0.3 * (wave - wave.mean()) / np.abs(wave - wave.mean()).max()
        sf.write(str(folder / f"noise_{i}.wav"), wave.astype(np.float32), rate, subtype="PCM_16")
    return folder


def denoiser_recipe(wav_folder: Path, noise_root: Path, **data) -> dict:
    """A tiny denoiser recipe dict: TINY_COND_UNET on the clean clips of wav_folder, mixed with the noise files under
    noise_root ([data] overrides as keywords), v targets, 2 DDIM steps."""
    raw = tiny_recipe_dict(wav_folder, model=TINY_COND_UNET, max_steps=3)
    raw["data"].update(domain="denoiser", noise_root=str(noise_root), **data)
    raw["diffusion"]["prediction"] = "v"
    raw["sample"] = {"sampler": "ddim", "steps": 2}
    return raw
