"""Fréchet Audio Distance (FAD) for audio with no classifier: music, sound, speech of any kind.

    FAD = Fréchet distance (metrics.frechet_distance) between Gaussians fitted to the frame embeddings of
          every sample clip and of every reference clip (frames of all clips pooled, as in Kilgour et al. 2019)

Embeddings (`--fad NAME` of `audiodiff eval`):

- "vggish", "pann", "clap", "encodec": the networks of the maintained `frechet-audio-distance` package
  (`pip install 'audiodiff[fad]'`), which downloads their weights on first use (into torch.hub's folder).
  Clips are resampled to the rate each network takes (16 kHz, 16 kHz, 48 kHz, 24 kHz).  These are the FADs
  papers report (VGGish is the original).
- "mfcc": 20 MFCCs and their deltas per 10 ms frame (torchaudio, no weights, nothing to download).  Cheap and
  deterministic, for smoke tests and for machines without network; it measures spectral-envelope statistics
  only and is not comparable to a published FAD.

Clips are used at their full length (no crop / pad).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .evaluate import read_samples
from ..install import torchaudio
from .metrics import frechet_distance

LIBRARY_MODELS = {"vggish": 16000, "pann": 16000, "clap": 48000, "encodec": 24000}
MFCC_RATE = 16000
EMBEDDINGS = ("mfcc", *LIBRARY_MODELS)


def _mfcc_embedding() -> tuple[int, Callable[[Sequence[np.ndarray]], np.ndarray]]:
    mfcc = torchaudio.transforms.MFCC(sample_rate=MFCC_RATE, n_mfcc=20,
                                      melkwargs={"n_fft": 512, "hop_length": 160, "n_mels": 40})

    def embed(clips: Sequence[np.ndarray]) -> np.ndarray:
        frames = []
        for clip in clips:
            c = mfcc(torch.as_tensor(clip, dtype=torch.float32))            # [20, F]
            d = torchaudio.functional.compute_deltas(c[None])[0]
            frames.append(torch.cat([c, d]).T.double().numpy())           # [F, 40]
        return np.concatenate(frames)

    return MFCC_RATE, embed


def _library_embedding(name: str) -> tuple[int, Callable[[Sequence[np.ndarray]], np.ndarray]]:
    try:
        from frechet_audio_distance import FrechetAudioDistance
    except ImportError:
        raise ValueError(f"--fad {name} needs the frechet-audio-distance package: pip install 'audiodiff[fad]' "
                         f"(or use --fad mfcc, which needs no download)") from None
    rate = LIBRARY_MODELS[name]
    model = FrechetAudioDistance(model_name=name, sample_rate=rate, use_pca=False, use_activation=False,
                                 verbose=False)

    def embed(clips: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(model.get_embeddings(list(clips), sr=rate), dtype=np.float64)

    return rate, embed


def embedding(name: str) -> tuple[int, Callable[[Sequence[np.ndarray]], np.ndarray]]:
    """(sample rate it takes, function: clips [L_i] at that rate → frame embeddings [frames, D])."""
    if name == "mfcc":
        return _mfcc_embedding()
    if name in LIBRARY_MODELS:
        return _library_embedding(name)
    raise ValueError(f"--fad {name!r}: choose one of {', '.join(EMBEDDINGS)}")


def fad(samples: str | Path, reference: str | Path, name: str = "vggish") -> dict[str, Any]:
    """FAD of every audio file under `samples` against every one under `reference` (both folders, any layout):
    {"fad", "fad_embedding", "fad_frames", "fad_reference_frames"}."""
    rate, embed = embedding(name)
    if reference is None or not Path(reference).is_dir():
        raise FileNotFoundError(f"--fad needs --reference FOLDER of real audio to compare with, got {reference}")
    gen = [c.audio for c in read_samples(samples, rate, None)[0]]
    ref = [c.audio for c in read_samples(reference, rate, None)[0]]
    e_gen, e_ref = embed(gen), embed(ref)
    return {"fad": frechet_distance(e_ref, e_gen), "fad_embedding": name, "fad_frames": len(e_gen),
            "fad_reference_frames": len(e_ref)}

