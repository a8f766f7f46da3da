"""Ten synthetic sound classes in the Speech Commands layout, standing in for spoken digits in the eval tests,
and a tiny classifier recipe trained on them in seconds.

Class k is a short note whose pitch (log-spaced 250 … 2500 Hz), harmonic weight and decay depend on k, at a
random onset, level and slight detune, over faint noise: easy for a small CNN, yet every clip differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audiodiff.data import SC09_WORDS
from helpers.recipes import write_recipe

RATE = 8000
LENGTH = 2000           # 0.25 s clips
SPLITS = {"train": 24, "valid": 4, "test": 16}   # clips per class

TINY_CLASSIFIER = {"type": "classifier", "num_classes": 10, "mel_bins": 16, "fft_size": 128, "hop_size": 32,
                   "channels": [8, 16], "blocks": 1, "cardinality": 4, "dropout": 0.0}


def sound(k: int, rng: np.random.Generator, rate: int = RATE, length: int = LENGTH) -> np.ndarray:
    """One clip of class k (0 … 9), float32 [length]."""
    f0 = 250.0 * 10 ** (k / 9) * (1 + rng.uniform(-0.02, 0.02))
    t = np.arange(length) / rate
    onset = rng.integers(0, length // 4)
    env = np.where(t >= onset / rate, np.exp(-(t - onset / rate) * (6 + 2 * (k % 3))), 0.0)
    tone = np.sin(2 * np.pi * f0 * t) + (k % 2) * 0.5 * np.sin(2 * np.pi * 2 * f0 * t)
    x = env * tone * rng.uniform(0.2, 0.6) + rng.normal(0, 0.003, length)
    return x.astype(np.float32)


def white_noise(rng: np.random.Generator, length: int = LENGTH, level: float = 0.1) -> np.ndarray:
    return (rng.normal(0, level, length)).astype(np.float32)


def write_sound_classes(root: Path, seed: int = 0) -> Path:
    """root/<zero … nine>/<split>_<i>.wav with validation_list.txt / testing_list.txt; returns root."""
    rng = np.random.default_rng(seed)
    lists = {"valid": [], "test": []}
    for k, word in enumerate(SC09_WORDS):
        (root / word).mkdir(parents=True, exist_ok=True)
        for split, count in SPLITS.items():
            for i in range(count):
                rel = f"{word}/{split}_{i}_nohash_0.wav"
                sf.write(str(root / rel), sound(k, rng), RATE, subtype="PCM_16")
                if split in lists:
                    lists[split].append(rel)
    (root / "validation_list.txt").write_text("\n".join(lists["valid"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    return root


def classifier_recipe(data_root: Path, folder: Path, **train) -> Path:
    raw = {"name": "tiny-classifier",
           "data": {"dataset": "speechcommands", "root": str(data_root), "sample_rate": RATE,
                    "clip_length": LENGTH, "cache": False},
           "model": dict(TINY_CLASSIFIER),
           "train": {"batch_size": 32, "learning_rate": 1e-2, "max_steps": 120, "warmup_steps": 10,
                     "checkpoint_every": 60, "log_every": 20, "ema_decay": 0.9, "seed": 0, "device": "cpu",
                     "eval_every": 60, "preview_every": 0, "tensorboard": False, **train}}
    return write_recipe(folder, raw)


def write_folder(folder: Path, clips: list[np.ndarray], rate: int = RATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(clips):
        sf.write(str(folder / f"clip_{i:03d}.wav"), x, rate, subtype="PCM_16")
    return folder
