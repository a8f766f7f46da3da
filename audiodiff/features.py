"""Log-mel spectrogram features: one transform object for training, sampling, vocoding and tests.

    wave [B, L] ──STFT (centred, Hann)──► |S|^power ──mel filters──► mel ──log(max(mel, floor))──► log-mel
        ──normalise with dataset statistics──► x [B, n_mels, frames], about [−1, 1]

Frame rule.  The centred STFT gives 1 + L // hop frames; the last one (centred on the final samples,
half of it reflected padding) is dropped, so frames = L // hop and frame i is centred on sample i·hop.
A clip of `frames` frames therefore stands for exactly frames × hop samples: a vocoder conditioned on
F frames makes F × hop samples, and a waveform of length L is described by its first (L // hop) × hop
samples (the remaining L mod hop samples are not covered by a whole frame).

Normalisation.  "minmax" maps the log-mel range seen in a sample of training clips to [−1, 1] (one min and
one max for the whole dataset; the min is the log floor as soon as any clip holds silence or padding);
"meanstd" subtracts the mean and divides by the standard deviation (unit variance, not bounded).  The
statistics are computed once per run (`fit_stats`) and stored with every other setting in the run's
config.json (`to_config` / `from_config`), so training, sampling and vocoding use the same mapping.

Inversion (the training-free baseline).  De-normalise → exp → InverseMelScale (least squares, negative
values clipped) → Griffin-Lim (torchaudio, momentum 0.99, deterministic zero-phase start).  `griffin_lim` inverts any
magnitude on these frames; `magnitude_spectrogram` is the STFT magnitude a mel is made from, frame for frame (what
a magnitude vocoder, nets/mel_inverter.py, learns to predict).

`preview_image` draws a waveform's spectrogram with display settings (sample --plot, report pages); the
painting and the PNG encoding are audiodiff/png.py's (re-exported here: save_mel_png, write_png, …).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .audio import pad_for_stft
from .install import torchaudio
from .png import mel_image, png_bytes, save_mel_png, write_png

# png's writers are re-exported: callers know them as features.write_png, features.save_mel_png, …
__all__ = ["MEL_SCALES", "NORMALISED_MEDIAN", "NORMS", "POWERS", "PREVIEW_RANGE_DB", "TRANSFORM_KEYS", "MelFeatures", "clip_sample",
           "magnitude_spectrogram", "mel_image", "png_bytes", "preview_features", "preview_image", "preview_range", "save_mel_png", "write_png"]

NORMS = ("minmax", "meanstd")
# The largest |median| a normalised mel has: both norms centre the training clips' log-mels near 0 (minmax in
# [−1, 1], meanstd at mean 0), while a log-mel passed without normalisation has its median near −5 (its floor is
# log(1e-5) ≈ −11.5).  The median, not the extremes: a briefly trained mel model's samples overshoot the range.
NORMALISED_MEDIAN = 2.0
MEL_SCALES = ("htk", "slaney")
POWERS = (1.0, 2.0)   # |S| (magnitude) or |S|² (power)
# Everything that changes what a normalised mel means, apart from the statistics.
TRANSFORM_KEYS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max", "power",
                  "mel_scale", "log_floor", "norm")


class MelFeatures:
    """wave ↔ normalised log-mel.  `encode(wave [B, L]) → [B, n_mels, L // hop]`, `decode_griffin_lim(mel)
    → [B, frames · hop]`.  Rebuild from config.json with `from_config(cfg)`; `to_config()` gives it back.

    win_length None → n_fft; f_max None → sample_rate / 2.  mel_scale "slaney" uses librosa's default
    filters (Slaney scale, area-normalised), "htk" the HTK scale with peak-1 triangles.
    """

    def __init__(self, sample_rate: int, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 n_mels: int = 80, f_min: float = 0.0, f_max: float | None = None, power: float = 1.0,
                 mel_scale: str = "slaney", log_floor: float = 1e-5, norm: str = "minmax",
                 stats: dict[str, float] | None = None, griffin_lim_iters: int = 64):
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = int(win_length or n_fft)
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = float(f_max) if f_max else self.sample_rate / 2
        self.power = float(power)
        self.mel_scale = mel_scale
        self.log_floor = float(log_floor)
        self.norm = norm
        self.griffin_lim_iters = int(griffin_lim_iters)
        self._check()
        self.stats = None if stats is None else self._checked_stats(stats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # empty mel filters are refused by _check above
            self._mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.sample_rate, n_fft=self.n_fft, win_length=self.win_length,
                hop_length=self.hop_length, f_min=self.f_min, f_max=self.f_max, n_mels=self.n_mels,
                power=self.power, center=True, pad_mode="reflect", norm=self._filter_norm, mel_scale=self.mel_scale)

    # ----------------------------------------------------------------- settings
    @property
    def _filter_norm(self) -> str | None:
        return "slaney" if self.mel_scale == "slaney" else None

    def _check(self) -> None:
        def bad(why: str) -> ValueError:
            return ValueError(f"mel features: {why}")

        if self.sample_rate < 1:
            raise bad(f"sample_rate must be >= 1, got {self.sample_rate}")
        if self.n_fft < 2:
            raise bad(f"n_fft must be >= 2, got {self.n_fft}")
        if not 1 <= self.win_length <= self.n_fft:
            raise bad(f"win_length ({self.win_length}) must be between 1 and n_fft ({self.n_fft})")
        if not 1 <= self.hop_length <= self.win_length:
            raise bad(f"hop_length ({self.hop_length}) must be between 1 and win_length ({self.win_length}): "
                      f"a larger hop leaves samples that no frame sees")
        if not 1 <= self.n_mels <= self.n_fft // 2 + 1:
            raise bad(f"n_mels ({self.n_mels}) must be between 1 and n_fft // 2 + 1 ({self.n_fft // 2 + 1})")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise bad(f"need 0 <= f_min < f_max <= sample_rate / 2 ({self.sample_rate / 2:g} Hz), got f_min "
                      f"{self.f_min:g}, f_max {self.f_max:g}")
        if self.power not in POWERS:
            raise bad(f"power must be 1 (magnitude) or 2 (power), got {self.power:g}")
        if self.mel_scale not in MEL_SCALES:
            raise bad(f"mel_scale must be one of {', '.join(MEL_SCALES)}, got {self.mel_scale!r}")
        if not 0 < self.log_floor < 1:
            raise bad(f"log_floor must be in (0, 1), got {self.log_floor:g}")
        if self.norm not in NORMS:
            raise bad(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.griffin_lim_iters < 1:
            raise bad(f"griffin_lim_iters must be >= 1, got {self.griffin_lim_iters}")
        with warnings.catch_warnings():   # torchaudio warns about empty filters; this says which setting to change
            warnings.simplefilter("ignore")
            fb = torchaudio.functional.melscale_fbanks(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels,
                                                       self.sample_rate, self._filter_norm, self.mel_scale)
        empty = int((fb.max(dim=0).values == 0).sum())
        if empty:
            raise bad(f"{empty} of the {self.n_mels} mel filters are empty at n_fft {self.n_fft} and "
                      f"{self.sample_rate} Hz (too few FFT bins below {self.f_max:g} Hz): lower n_mels, raise n_fft "
                      f"or f_min")

    def _checked_stats(self, stats: dict[str, float]) -> dict[str, float]:
        keys = ("min", "max") if self.norm == "minmax" else ("mean", "std")
        missing = [k for k in keys if k not in stats]
        if missing:
            raise ValueError(f"mel features: norm {self.norm!r} needs statistics {', '.join(keys)}; "
                             f"missing {', '.join(missing)}")
        out = {k: float(stats[k]) for k in keys}
        if not all(math.isfinite(v) for v in out.values()):
            raise ValueError(f"mel features: statistics must be finite, got {out}")
        if (self.norm == "minmax" and out["max"] <= out["min"]) or (self.norm == "meanstd" and out["std"] <= 0):
            raise ValueError(f"mel features: degenerate statistics {out}")
        return out

    def to_config(self) -> dict[str, Any]:
        """Every setting and the statistics, JSON-ready (config.json's "features")."""
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "win_length": self.win_length, "n_mels": self.n_mels, "f_min": self.f_min, "f_max": self.f_max,
                "power": self.power, "mel_scale": self.mel_scale, "log_floor": self.log_floor, "norm": self.norm,
                "griffin_lim_iters": self.griffin_lim_iters, "stats": None if self.stats is None else dict(self.stats)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "MelFeatures":
        cfg = dict(cfg)
        unknown = set(cfg) - {*TRANSFORM_KEYS, "stats", "griffin_lim_iters", "stats_clips"}
        if unknown:
            raise ValueError(f"mel features: unknown setting(s) {', '.join(sorted(unknown))}")
        cfg.pop("stats_clips", None)
        return cls(**cfg)

    @classmethod
    def from_recipe(cls, recipe: Any) -> "MelFeatures":
        """The recipe's [features] table at its [data] sample_rate, without statistics (see fit_stats)."""
        f = recipe.features
        return cls(recipe.data.sample_rate, n_fft=f.n_fft, hop_length=f.hop_length, win_length=f.win_length or None,
                   n_mels=f.n_mels, f_min=f.f_min, f_max=f.f_max or None, power=f.power, mel_scale=f.mel_scale,
                   log_floor=f.log_floor, norm=f.norm, griffin_lim_iters=f.griffin_lim_iters)

    def same_transform(self, other: "MelFeatures") -> list[str]:
        """The settings (statistics aside) in which `other` differs from this one; [] when none."""
        a, b = self.to_config(), other.to_config()
        return [k for k in TRANSFORM_KEYS if a[k] != b[k]]

    def __repr__(self) -> str:
        return (f"MelFeatures({self.sample_rate} Hz, n_fft={self.n_fft}, hop={self.hop_length}, "
                f"n_mels={self.n_mels}, norm={self.norm}, stats={self.stats})")

    # ----------------------------------------------------------------- geometry
    def frames(self, length: int) -> int:
        """Frames describing `length` samples: length // hop_length."""
        return int(length) // self.hop_length

    def samples(self, frames: int) -> int:
        """Samples a vocoder makes from `frames` frames: frames × hop_length."""
        return int(frames) * self.hop_length

    # ----------------------------------------------------------------- forward
    def log_mel(self, wave: Tensor) -> Tensor:
        """wave [L], [B, L] or [B, 1, L] → un-normalised log-mel [n_mels, F] or [B, n_mels, F], F = L // hop."""
        wave = torch.as_tensor(wave)
        if wave.ndim == 3:
            if wave.shape[1] != 1:
                raise ValueError(f"expected mono audio [B, 1, L], got shape {tuple(wave.shape)}")
            wave = wave[:, 0]
        if wave.ndim not in (1, 2):
            raise ValueError(f"audio must be [L], [B, L] or [B, 1, L], got shape {tuple(wave.shape)}")
        length = wave.shape[-1]
        frames = self.frames(length)
        if frames < 1:
            raise ValueError(f"audio of {length} samples is shorter than one hop ({self.hop_length} samples)")
        wave = pad_for_stft(wave.float(), self.n_fft)
        self._mel.to(wave.device)
        mel = self._mel(wave)[..., :frames]
        return mel.clamp_min(self.log_floor).log()

    def normalise(self, log_mel: Tensor) -> Tensor:
        s = self._require_stats()
        if self.norm == "minmax":
            return 2 * (log_mel - s["min"]) / (s["max"] - s["min"]) - 1
        return (log_mel - s["mean"]) / s["std"]

    def denormalise(self, mel: Tensor) -> Tensor:
        s = self._require_stats()
        if self.norm == "minmax":
            return (mel + 1) / 2 * (s["max"] - s["min"]) + s["min"]
        return mel * s["std"] + s["mean"]

    def encode(self, wave: Tensor) -> Tensor:
        """wave [B, L] (or [L], [B, 1, L]) → normalised log-mel [B, n_mels, L // hop_length]."""
        return self.normalise(self.log_mel(wave))

    def renormalise(self, mel: Tensor, source: "MelFeatures") -> Tensor:
        """A mel normalised by `source` (e.g. a mel-domain run's features) → normalised by these features.

        Both must describe the same transform; only the statistics may differ."""
        diff = self.same_transform(source)
        if diff:
            mine, theirs = self.to_config(), source.to_config()
            raise ValueError("the mel features do not match: " + ", ".join(
                f"{k} {theirs[k]} vs {mine[k]}" for k in diff))
        if source.stats == self.stats:
            return mel
        return self.normalise(source.denormalise(mel))

    def _require_stats(self) -> dict[str, float]:
        if self.stats is None:
            raise ValueError("mel features have no normalisation statistics yet: call fit_stats(clips) first "
                             "(a trained run's config.json holds them)")
        return self.stats

    # ----------------------------------------------------------------- statistics
    def fit_stats(self, clips: Iterable[Tensor]) -> "MelFeatures":
        """Compute the normalisation statistics from waveforms ([L], [1, L] or [B, L] each); returns self."""
        count, total, total_sq = 0, 0.0, 0.0
        lo, hi = math.inf, -math.inf
        for clip in clips:
            clip = torch.as_tensor(clip).float().reshape(-1, torch.as_tensor(clip).shape[-1])
            if clip.shape[-1] < self.hop_length:
                continue
            y = self.log_mel(clip).double()
            lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
            count += y.numel()
            total += float(y.sum())
            total_sq += float((y * y).sum())
        if not count:
            raise ValueError(f"no clip of at least one hop ({self.hop_length} samples) to compute mel statistics from")
        if self.norm == "minmax":
            # all-silent data: give the range some width so normalising stays finite
            self.stats = {"min": lo, "max": max(hi, lo + 1.0)}
        else:
            mean = total / count
            std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
            self.stats = {"mean": mean, "std": max(std, 1e-3)}
        return self

    # ----------------------------------------------------------------- inverse
    def decode_griffin_lim(self, mel: Tensor, n_iter: int | None = None) -> Tensor:
        """Normalised mel [n_mels, F] or [B, n_mels, F] → wave [F·hop] or [B, F·hop] in [−1, 1]: the mel's
        least-squares linear spectrum, then `griffin_lim`."""
        mel = torch.as_tensor(mel).float()
        squeeze = mel.ndim == 2
        if squeeze:
            mel = mel[None]
        self.check_mel(mel)
        device = mel.device
        # log values far above any real spectrum would overflow exp; this bound is never reached by audio
        linear_mel = self.denormalise(mel).clamp(max=20.0).exp().cpu()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inverse = torchaudio.transforms.InverseMelScale(
                n_stft=self.n_fft // 2 + 1, n_mels=self.n_mels, sample_rate=self.sample_rate, f_min=self.f_min,
                f_max=self.f_max, norm=self._filter_norm, mel_scale=self.mel_scale, driver="gelsd")
        spec = inverse.double()(linear_mel.double()).float().to(device)     # [B, n_freq, F], ≈ |S|^power
        wave = self.griffin_lim(spec, n_iter, self.power)
        return wave[0] if squeeze else wave

    def griffin_lim(self, spec: Tensor, n_iter: int | None = None, power: float = 1.0) -> Tensor:
        """|S|^power [B, n_fft / 2 + 1, F] on this transform's frames → wave [B, F·hop] in [−1, 1] (Griffin-Lim,
        `n_iter` or griffin_lim_iters iterations).  The frame the encoder dropped (see the module docstring) is
        restored as a copy of the last one, so the centred inverse STFT returns exactly F·hop samples."""
        frames = spec.shape[-1]
        spec = torch.cat([spec, spec[..., -1:]], dim=-1)                   # F + 1 frames → F·hop samples
        gl = torchaudio.transforms.GriffinLim(
            n_fft=self.n_fft, n_iter=int(n_iter or self.griffin_lim_iters), win_length=self.win_length,
            hop_length=self.hop_length, power=power, length=self.samples(frames), rand_init=False).to(spec.device)
        return torch.nan_to_num(gl(spec.float()).clamp(-1.0, 1.0))

    def check_normalised(self, mel: Tensor | np.ndarray, user: str = "this transform") -> None:
        """Raise ValueError when mel cannot be a normalised mel (|median| > NORMALISED_MEDIAN): the usual mistake
        is a log-mel that never went through `normalise` / `encode`."""
        median = float(np.median(np.asarray(mel, dtype=np.float32)))
        if abs(median) > NORMALISED_MEDIAN:
            raise ValueError(f"{user} expects a mel normalised with its statistics (median near 0), got a median of "
                             f"{median:.3g}: pass features.encode(audio), not log_mel, or say whose statistics "
                             f"normalised it (features= / --mel-from)")

    def check_mel(self, mel: Tensor, user: str = "this transform") -> None:
        """Raise ValueError (`user` expects …) unless `mel` is [B, n_mels, frames] with these n_mels, frames >= 1."""
        if mel.ndim != 3:
            raise ValueError(f"a mel spectrogram must be [n_mels, frames] or [B, n_mels, frames], got shape "
                             f"{tuple(mel.shape)}")
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"{user} expects mel spectrograms with {self.n_mels} mel bins, got {mel.shape[1]} "
                             f"(shape {tuple(mel.shape)})")
        if mel.shape[-1] < 1:
            raise ValueError(f"the mel spectrogram has no frames (shape {tuple(mel.shape)})")


def magnitude_spectrogram(wave: Tensor, n_fft: int, hop_length: int, win_length: int) -> Tensor:
    """wave [B, L] or [B, 1, L] → |STFT| [B, n_fft / 2 + 1, L // hop] in float32: the spectrogram a mel of these
    settings is made from (centred Hann frames, reflect padding, the last frame dropped: frame i under mel frame i)."""
    wave = wave.reshape(wave.shape[0], -1).float()
    frames = wave.shape[-1] // hop_length
    wave = pad_for_stft(wave, n_fft)
    window = torch.hann_window(win_length, device=wave.device)
    spec = torch.stft(wave, n_fft, hop_length, win_length, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    return spec.abs()[..., :frames]


# =================================================================== PNG


def preview_features(sample_rate: int, length: int | None = None) -> MelFeatures:
    """Display settings for a waveform model's audio: ≈ 32 ms windows, hop a quarter window, as many mel
    bins (80 at most) as the window resolves without empty filters.  No statistics (use `log_mel`)."""
    n_fft = 2 ** max(4, round(math.log2(sample_rate * 0.032)))
    if length:
        n_fft = min(n_fft, 2 ** max(4, int(math.log2(max(length, 16)))))
    for n_mels in (80, 64, 48, 32, 24, 16, 8, 4):
        try:
            return MelFeatures(sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels)
        except ValueError:
            continue
    return MelFeatures(sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=1)


# The level range a waveform preview shows, below the clip's loudest bin (sample --plot, report pages).
PREVIEW_RANGE_DB = 80.0


def preview_image(wave: Tensor | np.ndarray, sample_rate: int, features: MelFeatures | None = None,
                  min_height: int = 160, min_width: int = 256) -> np.ndarray:
    """A waveform [L] → RGB uint8 spectrogram image [H, W, 3] (see mel_image for the sizes): its log-mel
    with `features` (default: preview_features for its rate and length) over the top PREVIEW_RANGE_DB."""
    wave = torch.as_tensor(wave)
    feats = features or preview_features(sample_rate, wave.shape[-1])
    log_mel = feats.log_mel(wave)
    return mel_image(log_mel, *preview_range(log_mel, feats), min_height, min_width)


def preview_range(log_mel: Tensor, features: MelFeatures) -> tuple[float, float]:
    """(lo, hi) of a natural-log mel's display: its top PREVIEW_RANGE_DB (20·log10 for magnitude mels, 10·log10
    for power), so `sample --plot`, report pages and TensorBoard previews show the same range."""
    hi = float(log_mel.max())
    span = PREVIEW_RANGE_DB / (20.0 if features.power == 1.0 else 10.0) * math.log(10.0)
    return max(float(log_mel.min()), hi - span), hi


def clip_sample(clips: Sequence[Tensor], max_clips: int, seed: int = 0) -> Iterable[Tensor]:
    """Up to max_clips of the waveforms `clips` (each [1, L]; a ClipDataset's `.clips`), a seeded random choice."""
    n = len(clips)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)[:max_clips].tolist() if n > max_clips else range(n)
    for i in order:
        yield clips[i]
