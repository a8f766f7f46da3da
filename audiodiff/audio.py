"""Audio I/O and shaping: soundfile for reading/writing, torchaudio for resampling."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from .install import torchaudio
from .atomic import atomic_write

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class AudioReadError(ValueError):
    """A file that could not be decoded as audio (empty, truncated, not audio, NaN samples)."""


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[Tensor, int]:
    """Read a file as mono float32 [L] in [−1, 1], resampled to `sample_rate` when given.

    Integer PCM of any width is scaled by soundfile; float files are clipped to [−1, 1].
    Raises AudioReadError with the file name when the file cannot be used.
    """
    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError…
        raise AudioReadError(f"{path}: cannot decode audio ({exc})") from None
    if data.size == 0:
        raise AudioReadError(f"{path}: contains no samples")
    if not np.isfinite(data).all():
        raise AudioReadError(f"{path}: contains NaN or infinite samples")
    wave = torch.from_numpy(data.mean(axis=1)).clamp_(-1.0, 1.0)
    if sample_rate is not None and rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
        rate = sample_rate
    return wave, rate


def resample(wave: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Band-limited resampling (torchaudio's windowed sinc) along the last axis."""
    if orig_rate == new_rate:
        return wave
    return torchaudio.functional.resample(wave, int(orig_rate), int(new_rate)).clamp_(-1.0, 1.0)


def crop_or_pad(wave: Tensor, length: int, generator: torch.Generator | None = None, random: bool = True) -> Tensor:
    """[L] → [length]: a (random) crop when longer, zero-padding at the end when shorter."""
    n = wave.shape[-1]
    if n > length:
        start = int(torch.randint(0, n - length + 1, (1,), generator=generator)) if random else 0
        return wave[..., start:start + length]
    if n < length:
        return torch.nn.functional.pad(wave, (0, length - n))
    return wave


def _pcm_input(wave: Tensor | np.ndarray) -> np.ndarray:
    """[L] float audio (tensor or array) → float32 numpy [L] clipped to [−1, 1], ready for 16-bit PCM."""
    data = wave.detach().float().cpu().numpy() if isinstance(wave, Tensor) else np.asarray(wave, dtype=np.float32)
    return np.clip(data.reshape(-1), -1.0, 1.0)


def save_wav(path: str | os.PathLike, wave: Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write mono 16-bit PCM WAV atomically (audiodiff/atomic.py); `wave`: [L] float in [−1, 1] (clipped).

    The WAV is encoded in memory first (2 bytes a sample), so a full disk surfaces as one OSError from the
    file write rather than inside libsndfile's callbacks.  Raises OutputError when it cannot be written."""
    data = _pcm_input(wave)
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: refusing to write NaN or infinite samples")
    encoded = _encode_wav(data, sample_rate)
    return atomic_write(path, lambda f: f.write(encoded))


def _encode_wav(data: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, int(sample_rate), subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def wav_bytes(wave: Tensor | np.ndarray, sample_rate: int) -> bytes:
    """The mono 16-bit PCM WAV file `save_wav` would write, in memory (for data: URIs in report pages)."""
    return _encode_wav(_pcm_input(wave), sample_rate)
