"""Datasets of fixed-length waveform clips [1, clip_length], float32 in [−1, 1].

`folder`: every audio file under a directory (recursive).  `notes`: the quickstart's synthetic plucked
notes, generated as WAV files on first use so they can be listened to and reused.
Randomness (crop offsets, batch order) is a pure function of (seed, epoch, index), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterator, Sequence

import librosa
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from .audio import AUDIO_EXTENSIONS, AudioReadError, crop_or_pad, load_audio, save_wav
from .progress import progress

log = logging.getLogger("audiodiff")


class DatasetError(ValueError):
    """A dataset that cannot be used: missing, empty, nothing decodable."""


def find_audio_files(root: Path) -> list[Path]:
    """Audio files under `root`, recursively, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


class ClipDataset(Dataset):
    """Decoded mono waveforms held in memory, served as random crops / zero-padded clips [1, L]."""

    def __init__(self, waves: Sequence[Tensor], clip_length: int, seed: int = 0, random_crop: bool = True):
        if not waves:
            raise DatasetError("the dataset holds no audio")
        self.waves = list(waves)
        self.clip_length = clip_length
        self.seed = seed
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, key: int | tuple[int, int]) -> Tensor:
        """key: an index, or (index, epoch) so each epoch crops differently yet reproducibly."""
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
        return crop_or_pad(self.waves[index], self.clip_length, generator=g, random=self.random_crop)[None]


def load_folder(root: str | Path, sample_rate: int, show_progress: bool = True) -> list[Tensor]:
    """Decode every audio file under root (mono, resampled); unreadable ones are skipped and named."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"audio folder {root} does not exist: put .wav/.flac/.ogg files there or set "
                           f"[data] root in the recipe")
    files = find_audio_files(root)
    if not files:
        raise DatasetError(f"no audio files (.wav, .flac, .ogg, …) under {root}")
    waves, bad = [], []
    for f in progress(files, total=len(files), description="decoding audio", enabled=show_progress):
        try:
            waves.append(load_audio(f, sample_rate)[0])
        except AudioReadError as exc:
            bad.append(str(exc))
    if bad:
        shown = "; ".join(bad[:10]) + (f"; … and {len(bad) - 10} more" if len(bad) > 10 else "")
        log.warning("skipped %d unreadable file(s) of %d: %s", len(bad), len(files), shown)
    if not waves:
        raise DatasetError(f"none of the {len(files)} audio files under {root} could be decoded")
    return waves


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


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (index, epoch) keys from a fresh permutation each epoch (seeded by seed + epoch).

    Step s is batch s mod n of epoch s // n, so starting at `start_step` resumes exactly.  With
    `world_size` > 1 each rank takes its own slice of every global batch.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int = 0, start_step: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.n = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = max(1, dataset_size // batch_size)

    def __len__(self) -> int:  # endless; DataLoader only needs it for progress display
        return 2 ** 62

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            epoch, pos = divmod(step, self.batches_per_epoch)
            if pos == 0 or step == self.start_step:
                g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
                perm = torch.randperm(self.n, generator=g)
                if self.n < self.batch_size:  # tiny datasets: repeat to fill a batch
                    perm = perm.repeat(math.ceil(self.batch_size / self.n))[: self.batch_size]
            batch = perm[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()
            per_rank = len(batch) // self.world_size
            yield [(i, epoch) for i in batch[self.rank * per_rank:(self.rank + 1) * per_rank]]
            step += 1


def build_dataset(data_cfg, seed: int = 0, show_progress: bool = True) -> ClipDataset:
    """A recipe's [data] table → ClipDataset (generating the quickstart notes when asked)."""
    root = Path(data_cfg.root)
    if data_cfg.dataset == "notes":
        generate_notes(root, data_cfg.notes, data_cfg.sample_rate, data_cfg.clip_length, data_cfg.num_clips,
                       seed=seed)
    waves = load_folder(root, data_cfg.sample_rate, show_progress=show_progress)
    return ClipDataset(waves, data_cfg.clip_length, seed=seed)
