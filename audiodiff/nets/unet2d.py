"""2-D U-Net for mel-domain diffusion: the spectrogram is an image (mel bin × frame), convolved across both axes.

The mel domain hands every network x: [B, n_mels, F] (the bins as channels).  UNet1D convolves along time only,
so its first layer must carry all n_mels bins at once; this network instead treats x as a one-channel image
[B, 1, n_mels, F], so a formant that moves up or down a few bins is the same feature to every filter — the
inductive bias that image DDPMs rely on, and what lets a small network learn spoken digits on a laptop CPU
(recipes/sc09-cpu).  Both axes are zero-padded to a multiple of 2^(levels − 1) and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Count, CountOrOff, Fraction, LabelEmbedding, StepEmbedding, add_label_embedding, zero_init
from .unet1d import Level, group_norm


class UNet2D(nn.Module):
    """x: [B, n_mels, F], t: [B] → [B, n_mels, F], computed on the image [B, 1, n_mels, F].

    Level i works at base_channels·channel_mults[i] and at 1/2^i of the input's size on both axes (strided 2×2
    convolutions down, nearest-neighbour + 3×3 convolution up).  Attention over every (bin, frame) position runs at
    the levels listed in attention_levels (0 = full size) and always in the middle block.  in_channels is the
    number of mel bins (the mel domain sets it from [features] n_mels); num_classes > 0 adds a class label to the
    step embedding (keyword `labels`), as in UNet1D.
    """

    mel_image = True   # reads [B, n_mels, F] as an image: only the mel domain feeds it (domains.py checks)
    # channels-last activations: oneDNN's (and cuDNN's) fast 2-D convolution layout, 1.3–1.6× per CPU training
    # step (benchmarks/studies/bench_unet2d.py); the weights keep the default layout (safetensors wants it)
    memory_format = torch.channels_last

    def __init__(self, in_channels: Count = 64, base_channels: Count = 32,
                 channel_mults: tuple[Count, ...] = (1, 2, 2, 2), blocks_per_level: Count = 1,
                 attention_levels: tuple[CountOrOff, ...] = (2,), attention_heads: Count = 4,
                 dropout: Fraction = 0.0, num_classes: CountOrOff = 0):
        super().__init__()
        chans = [base_channels * m for m in channel_mults]
        embed_dim = 4 * base_channels
        self.in_channels = in_channels
        self.multiple = 2 ** (len(chans) - 1)
        self.step_embedding = StepEmbedding(base_channels, embed_dim, max_period=10_000.0)
        self.num_classes = num_classes
        self.label_embedding = LabelEmbedding(num_classes, embed_dim) if num_classes else None
        self.stem = nn.Conv2d(1, chans[0], 3, padding=1)
        attn = set(attention_levels)
        level = dict(embed_dim=embed_dim, dropout=dropout, heads=attention_heads, dims=2)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c_prev = chans[0]
        for i, c in enumerate(chans):
            self.down.append(Level(c_prev, c, blocks_per_level, attention=i in attn, **level))
            if i < len(chans) - 1:
                self.downsample.append(nn.Conv2d(c, c, 2, stride=2))
            c_prev = c
        self.mid = Level(chans[-1], chans[-1], 2, attention=True, **level)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(chans):
            self.up.append(Level(2 * c, c, blocks_per_level, attention=i in attn, **level))
            if i < len(chans) - 1:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                   nn.Conv2d(chans[i + 1], c, 3, padding=1)))
        self.out = nn.Sequential(group_norm(chans[0]), nn.SiLU(), zero_init(nn.Conv2d(chans[0], 1, 3, padding=1)))

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """x: [B, n_mels, F], t: [B], labels: [B] class indices or None (unlabelled) → [B, n_mels, F]."""
        bins, frames = x.shape[-2:]
        h = F.pad(x[:, None], (0, (-frames) % self.multiple, 0, (-bins) % self.multiple))   # [B, 1, H, W]
        emb = add_label_embedding(self.label_embedding, self.step_embedding(t), labels)
        h = self.stem(h).contiguous(memory_format=self.memory_format)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for i in reversed(range(len(self.up))):
            if i < len(self.upsample):
                h = self.upsample[i](h)
            h = self.up[i](torch.cat([h, skips[i]], dim=1), emb)
        return self.out(h)[:, 0, :bins, :frames]
