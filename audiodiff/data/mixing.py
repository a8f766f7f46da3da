"""Training pairs for a supervised denoiser: clean clips mixed on the fly with recorded noise (or white noise)
at a random SNR, then brought to one input level.

Why on the fly: every step sees new (speech, noise, SNR) pairings, so a few minutes of noise go a long way, as
in SGMSE+ and facebookresearch/denoiser.  Why one input level (`level_normalise`): a recording can come at any
gain; the network always hears its input at INPUT_RMS and the pipeline scales the output back, so input gain is
no longer something to learn.  The same function serves training (here) and denoising (pipeline/denoiser.py).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..audio import resample
from .data_config import MAX_SHAPING, DataConfig
from .corpora import DatasetError

INPUT_RMS = 0.05            # the level the network hears its noisy input at (−26 dBFS)
QUIET_SPEECH_RMS = 0.003    # a crop quieter than this (−50 dBFS: a pause) gets noise as if speech were at this level


def rms(x: Tensor) -> Tensor:
    """Root mean square over the last dimension, x: [..., L] → [..., 1]."""
    return x.float().pow(2).mean(dim=-1, keepdim=True).sqrt()


def level_normalise(noisy: Tensor, floor: float = 1e-5) -> tuple[Tensor, Tensor]:
    """noisy [B, C, L] → (noisy · g, g [B, 1, 1]) with g making each clip's RMS INPUT_RMS (a digitally silent
    clip keeps its level: g is capped where the RMS is below `floor`)."""
    g = INPUT_RMS / rms(noisy).amax(dim=1, keepdim=True).clamp_min(floor)
    return noisy * g, g


def random_shaping(x: Tensor, bound: float, g: torch.Generator) -> Tensor:
    """Each row of x [B, 1, L] through its own random second-order filter (1 + r1 z⁻¹ + r2 z⁻²) / (1 + r3 z⁻¹ +
    r4 z⁻²), every r drawn uniformly in [−bound, bound]: RNNoise's augmentation (Valin 2018), a new tilt and
    resonance per clip, so a denoiser learns speech and noise apart from the spectral envelope of the few voices,
    microphones and rooms it trained on.  bound < 0.5 keeps the poles inside the unit circle."""
    if bound <= 0:
        return x
    from torchaudio.functional import lfilter

    r = (torch.rand(x.shape[0], 4, generator=g) * 2 - 1) * bound
    ones = torch.ones(x.shape[0], 1)
    b = torch.cat([ones, r[:, :2]], dim=1).to(x.device, torch.float32)
    a = torch.cat([ones, r[:, 2:]], dim=1).to(x.device, torch.float32)
    return lfilter(x.float()[:, 0], a, b, clamp=False)[:, None].to(x.dtype)


def change_speed(clean: Tensor, factor: float) -> Tensor:
    """clean [..., L] played `factor` times faster (pitch and tempo together, Kaldi's speed perturbation: a new
    voice, a little higher or lower, from the same recording), band-limited, cut or zero-padded back to L."""
    if factor == 1:
        return clean
    ratio = Fraction(factor).limit_denominator(100)
    out = resample(clean, ratio.numerator, ratio.denominator)
    length = clean.shape[-1]
    if out.shape[-1] >= length:
        return out[..., :length]
    return torch.nn.functional.pad(out, (0, length - out.shape[-1]))


class SpeedPerturbation:
    """Each clip of a batch [B, 1, L] played at a speed drawn from `speeds` (change_speed; clips sharing a speed
    in one call): more voices, a little higher or lower, from the same recordings.  A denoiser's mixer applies it
    to the clean clip before mixing; a vocoder run to its crops before their mels are made, so it hears pitches
    its one voice never reaches."""

    def __init__(self, speeds: Sequence[float]):
        self.speeds = [float(f) for f in speeds]

    def __call__(self, clean: Tensor, g: torch.Generator) -> Tensor:
        """clean [B, 1, L] → the same shape; `g` (CPU) draws each clip's speed (none drawn without speeds)."""
        if not self.speeds:
            return clean
        pick = torch.randint(len(self.speeds), (clean.shape[0],), generator=g).to(clean.device)
        out = clean.clone()
        for k, factor in enumerate(self.speeds):
            rows = pick == k
            if factor != 1 and bool(rows.any()):
                out[rows] = change_speed(clean[rows], factor)
        return out


class NoiseMixer:
    """Mixes clean clips [B, 1, L] with crops of `noise` (1-D waves, any lengths; looped when shorter than L) at
    an SNR drawn uniformly in [snr_min, snr_max] dB; a share `white_share` of the clips get white Gaussian noise
    instead.  Each clean clip is first played at a speed drawn from `speeds` (change_speed; none: as recorded),
    then the clean clip and its noise each pass their own random filter (random_shaping, `shaping` its bound; 0:
    none).  Returns (clean, noisy), both scaled by the gain that brings noisy to INPUT_RMS."""

    def __init__(self, noise: Sequence[Tensor], snr_min: float, snr_max: float, white_share: float = 0.0,
                 speeds: Sequence[float] = (), shaping: float = 0.0):
        if not (math.isfinite(snr_min) and math.isfinite(snr_max)) or snr_min > snr_max:
            raise ValueError(f"SNR range [{snr_min}, {snr_max}] dB: need finite snr_min <= snr_max")
        if not len(noise) and white_share < 1:
            raise ValueError("no noise clips to mix (and white_share < 1)")
        self.noise = [torch.as_tensor(n, dtype=torch.float32).reshape(-1) for n in noise]
        self.snr_min, self.snr_max, self.white_share = float(snr_min), float(snr_max), float(white_share)
        self.perturb = SpeedPerturbation(speeds)
        if not 0 <= shaping <= MAX_SHAPING:
            raise ValueError(f"shaping = {shaping}: a filter coefficient bound in [0, {MAX_SHAPING}]")
        self.shaping = float(shaping)

    def _crop(self, length: int, g: torch.Generator) -> Tensor:
        """A random crop [length] of a random noise clip, looped when the clip is shorter."""
        wave = self.noise[int(torch.randint(len(self.noise), (1,), generator=g))]
        if wave.numel() < length:
            wave = wave.repeat(math.ceil(length / wave.numel()))
        start = int(torch.randint(wave.numel() - length + 1, (1,), generator=g))
        return wave[start:start + length]

    def __call__(self, clean: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """clean [B, 1, L] → (clean · g, (clean + noise) · g); `generator` (CPU) draws everything."""
        b, _, length = clean.shape
        g = generator
        clean = random_shaping(self.perturb(clean, g), self.shaping, g)
        white = torch.rand(b, generator=g) < self.white_share
        noise = torch.stack([torch.randn(length, generator=g) if w else self._crop(length, g) for w in white.tolist()])
        snr_db = self.snr_min + (self.snr_max - self.snr_min) * torch.rand(b, generator=g)
        noise = random_shaping(noise[:, None], self.shaping, g).to(clean.device, clean.dtype)
        speech = rms(clean).clamp_min(QUIET_SPEECH_RMS)
        scale = speech / rms(noise).clamp_min(1e-8) * (10 ** (-snr_db / 20)).to(clean.device)[:, None, None]
        noisy = clean + noise * scale
        noisy, gain = level_normalise(noisy)
        return clean * gain, noisy


SILENT_RMS = 1e-5   # a noise file quieter than this (−100 dBFS) teaches nothing: refused, naming it


def load_noise(data: DataConfig, seed: int = 0, show_progress: bool = True) -> list[Tensor]:
    """The noise recordings [data] noise_root (and noise_file_list) names, decoded at [data] sample_rate through
    the same cache as the clean clips; unreadable files are skipped and named, a silent one is refused."""
    from .dataset import build_dataset

    if not data.noise_root:
        return []
    cfg = dataclasses.replace(data, dataset="folder", root=data.noise_root, file_list=data.noise_file_list,
                              split="train", download=False, url="", sha256="", cache_dir="", domain="waveform", clip_length=16,
                              noise_root="", noise_file_list="")
    try:
        dataset = build_dataset(cfg, seed=seed, show_progress=show_progress)
    except DatasetError as exc:
        raise DatasetError(f"[data] noise_root: {exc}") from None
    waves = []
    for i in range(len(dataset)):
        wave = torch.from_numpy(np.array(dataset.waves[i], dtype=np.float32)).reshape(-1)
        if wave.numel() == 0 or float(rms(wave)) < SILENT_RMS:
            raise DatasetError(f"noise file {dataset.names[i]} is silent: remove it from [data] noise_root "
                               f"{data.noise_root} (or from noise_file_list)")
        waves.append(wave)
    return waves


def mixer_for(data: DataConfig, seed: int = 0, show_progress: bool = True) -> NoiseMixer:
    """The NoiseMixer of a denoiser recipe's [data] table."""
    return NoiseMixer(load_noise(data, seed, show_progress), data.snr_min, data.snr_max, data.white_share,
                      data.speeds, data.shaping)
