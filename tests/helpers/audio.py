"""Generated audio: sine tones as arrays and short WAV folders for tiny training runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from helpers.recipes import SAMPLE_RATE


def tone(n: int, rate: int, freq: float = 300.0) -> np.ndarray:
    """n samples [n] float32 of a 0.4-peak sine at freq Hz."""
    return (0.4 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def harmonic_buzz(f0: float, n: int, seed: int, rate: int, top: float) -> np.ndarray:
    """n samples [n] float32 of a buzz on f0 with 1/h harmonics up to `top` Hz (phases set by seed) and a 3 Hz
    tremolo, peak 0.5: energy across the band, for the supervised runs' tiny tests."""
    t = np.arange(n) / rate
    wave = sum(np.sin(2 * np.pi * h * f0 * t + seed * h) / h for h in range(1, int(top / f0) + 1))
    wave *= 1 + 0.3 * np.sin(2 * np.pi * 3 * t)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def write_tone_wavs(folder: Path, count: int = 4, sample_rate: int = SAMPLE_RATE, length: int = 400) -> list[Path]:
    """`count` short sine tones (different pitches and lengths, some shorter than a clip) as 16-bit WAVs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        n = length + 37 * i - (250 if i == count - 1 else 0)   # the last one is shorter than CLIP_LENGTH
        t = np.arange(n) / sample_rate
        wave = 0.5 * np.sin(2 * np.pi * (220.0 * (i + 1)) * t)
        path = folder / f"tone_{i}.wav"
        sf.write(str(path), wave.astype(np.float32), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths
