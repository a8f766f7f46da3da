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


def pad_for_stft(wave: Tensor, n_fft: int) -> Tensor:
    """wave [..., L] zero-padded at the end to n_fft // 2 + 1 samples when shorter: centred STFT frames reflect the
    ends, which needs more samples than half a window.  Longer waves come back as they are (a copy)."""
    return torch.nn.functional.pad(wave, (0, max(0, n_fft // 2 + 1 - wave.shape[-1])))


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


TRIM_FADE_S = 0.01      # the fade-out a trimmed clip ends with, so the cut does not click


def trim_trailing_silence(wave: Tensor, sample_rate: int, below_db: float) -> Tensor:
    """`wave` [L] cut after its last sample louder than `below_db` (< 0) relative to its peak, ending in a
    10 ms fade-out: a one-shot without the near-silence a fixed-length model pads it with.  A silent clip is
    returned as it is."""
    if below_db >= 0:
        raise ValueError(f"trim level {below_db} dB: must be below 0 (dB relative to the clip's peak)")
    magnitude = wave.abs()
    peak = float(magnitude.max()) if wave.numel() else 0.0
    if peak == 0.0:
        return wave
    loud = torch.nonzero(magnitude >= peak * 10 ** (below_db / 20)).reshape(-1)
    fade = max(1, int(round(TRIM_FADE_S * sample_rate)))
    end = min(wave.shape[-1], int(loud[-1]) + 1 + fade)
    out = wave[:end].clone()
    n = min(fade, end)
    out[end - n:] *= torch.linspace(1.0, 0.0, n, dtype=out.dtype, device=out.device)
    return out


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
