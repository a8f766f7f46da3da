"""Audio corpora on disk for data tests: WAV files, a [data] table, a Speech Commands tree in its real layout,
tar archives of a folder, and `load_folder` (a folder decoded by the library's own decode path)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from audiodiff.data import SC09_WORDS, DatasetError, list_folder, prepare_clips
from audiodiff.data.cache import report_unreadable
from audiodiff.recipe import DataConfig


def tone(n: int, rate: int, freq: float = 440.0, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    """A sine of n samples: [n] float32, or [n, channels] with the same wave in each channel."""
    x = (amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write(path: Path, n: int = 400, rate: int = 16000, freq: float = 440.0, subtype: str = "PCM_16",
          channels: int = 1, amp: float = 0.5) -> Path:
    """A tone() as an audio file at path (its parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(n, rate, freq, amp, channels), rate, subtype=subtype)
    return path


def cfg(root: Path, dataset: str = "folder", **kw) -> DataConfig:
    """A [data] table for root (16 kHz, 1000-sample clips unless given)."""
    kw.setdefault("sample_rate", 16000)
    kw.setdefault("clip_length", 1000)
    return DataConfig(dataset=dataset, root=str(root), **kw)


SC_WORDS = ("zero", "one", "two", "nine", "yes", "marvin")       # four digits, two other words


def make_speechcommands(root: Path, rate: int = 16000, n: int = 1600) -> dict[str, list[str]]:
    """root/<word>/<speaker>_nohash_<k>.wav for SC_WORDS, _background_noise_, the two official lists."""
    files = []
    for w, word in enumerate(SC_WORDS):
        for s in range(3):
            rel = f"{word}/spk{s}{w:02d}ab_nohash_0.wav"
            write(root / rel, n=n - 100 * s, rate=rate, freq=200.0 + 50 * w)
            files.append(rel)
    write(root / "_background_noise_" / "white_noise.wav", n=3 * n, rate=rate)
    valid = ["zero/spk100ab_nohash_0.wav", "one/spk101ab_nohash_0.wav", "yes/spk104ab_nohash_0.wav"]
    test = ["zero/spk200ab_nohash_0.wav", "nine/spk203ab_nohash_0.wav", "marvin/spk205ab_nohash_0.wav"]
    (root / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    digits = [f for f in files if f.split("/")[0] in SC09_WORDS]
    return {"train": sorted(set(digits) - set(valid) - set(test)),
            "valid": [f for f in valid if f.split("/")[0] in SC09_WORDS],
            "test": [f for f in test if f.split("/")[0] in SC09_WORDS]}


def tar_of(folder: Path, mode: str = "w:gz", arc_prefix: str = ".") -> bytes:
    """The bytes of a tar archive of everything under folder, stored under arc_prefix/."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for p in sorted(folder.rglob("*")):
            tf.add(p, arcname=f"{arc_prefix}/{p.relative_to(folder).as_posix()}", recursive=False)
    return buf.getvalue()


def plain_tar(folder: Path) -> tuple[bytes, int]:
    """An uncompressed tar of folder and the offset just past its first few members (a member boundary)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i, p in enumerate(sorted(folder.rglob("*"))):
            tf.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
            if i == 3:
                boundary = buf.tell()
    return buf.getvalue(), boundary


def load_folder(root: str | Path, sample_rate: int, show_progress: bool = True) -> list[Tensor]:
    """Decode every audio file under root into memory (mono, resampled) through the library's folder lister and
    decoder, uncached: waves [L] float32; unreadable ones are skipped and named (one warning)."""
    sources = list_folder(Path(root))
    kept, waves, _, bad, _ = prepare_clips(sources, sample_rate, None, show_progress=show_progress)
    report_unreadable(bad, len(sources.sources))
    if not kept:
        raise DatasetError(f"none of the {len(sources.sources)} audio files under {root} could be decoded")
    return [torch.from_numpy(w) for w in waves]
