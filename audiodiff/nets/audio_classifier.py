"""AudioClassifier: a compact ResNeXt-style CNN on log-mel spectrograms, for scoring generated audio.

    wave [B, 1, L] ──torchaudio mel (fft_size, hop_size, mel_bins)──► log ──minus each clip's mean──► [B, 1, M, F]
        ──stem 3×3 conv, stride 2──► stages of ResNeXt blocks (1×1 → grouped 3×3, stride 2 → 1×1, residual)
        ──global average pool──► features [B, channels[-1]]  (the penultimate layer: FID / NDB)
        ──dropout → linear──► logits [B, num_classes]       (softmax: IS / mIS / AM / accuracy)

Subtracting each clip's mean log-mel makes the net blind to overall gain, so a clip played louder or softer
is the same digit; the relative level of speech and noise still shows.  The mel front end is part of the
network (its filters are buffers), so a run directory alone says how audio is turned into features.

Unlike the ε-networks it takes no diffusion step: `objective = "classification"` tells the trainer to
train it with cross-entropy on labelled clips instead of the diffusion loss (see audiodiff/eval/scorer.py).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from ..install import torchaudio
from .layers import Count, Fraction


class ResNeXtBlock(nn.Module):
    """1×1 reduce → grouped 3×3 (stride) → 1×1 expand, batch-normed, with a projected shortcut when the
    shape changes.  x: [B, C_in, H, W] → [B, C_out, H / stride, W / stride]."""

    def __init__(self, c_in: int, c_out: int, stride: int, cardinality: int):
        super().__init__()
        mid = max(cardinality, c_out // 2 // cardinality * cardinality)
        self.body = nn.Sequential(
            nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class AudioClassifier(nn.Module):
    """Log-mel ResNeXt classifier; `features(wave)` is the penultimate layer, `forward(wave)` the logits.

    mel_bins / fft_size / hop_size: the log-mel front end (named apart from [features]' n_mels / n_fft /
    hop_length, which belong to mel-domain diffusion).  channels: the width of each stage (the stem and each
    stage halve time and frequency: most of the cost is at full resolution); blocks: ResNeXt blocks per stage;
    cardinality: groups of the 3×3 convolutions.  wave: [B, 1, L] or [B, L] at sample_rate.
    """

    objective = "classification"

    def __init__(self, num_classes: Count = 10, sample_rate: Count = 16000, mel_bins: Count = 40,
                 fft_size: Count = 512, hop_size: Count = 160, channels: tuple[Count, ...] = (32, 64, 128),
                 blocks: Count = 1, cardinality: Count = 8, dropout: Fraction = 0.2):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not channels or any(c % cardinality for c in channels):
            raise ValueError(f"channels {list(channels)} must be non-empty multiples of cardinality {cardinality}")
        self.num_classes = int(num_classes)
        self.sample_rate = int(sample_rate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torchaudio's empty-filter warning for tiny test settings
            self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=self.sample_rate, n_fft=fft_size,
                                                            hop_length=hop_size, n_mels=mel_bins, power=2.0)
        layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)]
        c_prev = channels[0]
        for c in channels:
            for b in range(blocks):
                layers.append(ResNeXtBlock(c_prev, c, stride=2 if b == 0 else 1, cardinality=cardinality))
                c_prev = c
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_prev
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_prev, self.num_classes))

    def log_mel(self, wave: Tensor) -> Tensor:
        """wave [B, 1, L] or [B, L] → mean-removed log-mel [B, 1, mel_bins, frames] (float32)."""
        if wave.ndim == 3:
            wave = wave[:, 0]
        x = torch.log(self.mel(wave.float()) + 1e-6)
        return (x - x.mean(dim=(1, 2), keepdim=True))[:, None]

    def features(self, wave: Tensor) -> Tensor:
        """The penultimate layer, [B, feature_dim]: what FID and NDB compare."""
        return self.body(self.log_mel(wave)).mean(dim=(2, 3))

    def forward(self, wave: Tensor) -> Tensor:
        """Logits [B, num_classes]."""
        return self.head(self.features(wave))
