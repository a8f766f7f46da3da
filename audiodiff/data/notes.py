"""The quickstart's corpus: synthetic plucked notes, written as WAV files on first use (`[data] dataset = "notes"`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import librosa
import numpy as np

from ..audio import save_wav

# C major scale, C4..C5, as MIDI note numbers: the quickstart's generated notes.
QUICKSTART_NOTES = [60, 62, 64, 65, 67, 69, 71, 72]


def generate_notes(root: str | Path, notes: Sequence[int], sample_rate: int, clip_length: int, num_clips: int,
                   seed: int = 0) -> Path:
    """Write `num_clips` plucked-note WAVs (MIDI `notes`, cycled) into root unless already complete.

    Each clip: a fundamental with weaker 2nd and 3rd harmonics, a 5 ms attack and exponential decay,
    random phase and level.  The fundamental is always the strongest partial.
    """
    root = Path(root)
    marker = root / ".complete"
    stamp = f"{list(notes)} {sample_rate} {clip_length} {num_clips} {seed}"
    if marker.is_file() and marker.read_text() == stamp:
        return root
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("note_*.wav"):
        old.unlink()
    rng = np.random.default_rng(seed)
    t = np.arange(clip_length) / sample_rate
    attack = np.clip(t / 0.005, 0, 1)
    for i in range(num_clips):
        midi = int(notes[i % len(notes)])
        f0 = float(librosa.midi_to_hz(midi))
        decay = np.exp(-t / rng.uniform(0.15, 0.4) / (clip_length / sample_rate))
        phases = rng.uniform(0, 2 * np.pi, 3)
        wave = sum(a * np.sin(2 * np.pi * k * f0 * t + p) for k, a, p in zip((1, 2, 3), (1.0, 0.35, 0.15), phases))
        wave = wave * attack * decay
        wave *= rng.uniform(0.5, 0.9) / np.abs(wave).max()
        save_wav(root / f"note_{i:04d}_midi{midi}.wav", wave.astype(np.float32), sample_rate)
    marker.write_text(stamp)
    return root


