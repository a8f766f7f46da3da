"""1-D U-Net ε-network with time-embedding scale-shift, per-level down factors and optional attention.

Any input length works: the input is zero-padded to a multiple of the total down factor and the output
is cropped back, so there is never a shape error for lengths that are not powers of two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .layers import Count, CountOrOff, Fraction, LabelEmbedding, StepEmbedding, add_label_embedding, zero_init


MAX_TOTAL_DOWN = 65536   # inputs are padded to a multiple of the total down factor: keep that bounded


def conv(dims: int, *args, **kwargs) -> nn.Module:
    """nn.Conv1d (dims 1: [B, C, L]) or nn.Conv2d (dims 2: [B, C, H, W]): the blocks below serve both U-Nets."""
    return (nn.Conv1d if dims == 1 else nn.Conv2d)(*args, **kwargs)


def group_norm(channels: int) -> nn.GroupNorm:
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0 and channels // g >= 2 or g == 1)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, then the step embedding scales and shifts the second normalisation."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int, dropout: float = 0.0, dims: int = 1):
        super().__init__()
        self.norm1 = group_norm(c_in)
        self.conv1 = conv(dims, c_in, c_out, 3, padding=1)
        self.scale_shift = nn.Linear(embed_dim, 2 * c_out)
        self.norm2 = group_norm(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(conv(dims, c_out, c_out, 3, padding=1))
        self.skip = conv(dims, c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        ss = self.scale_shift(emb)
        scale, shift = ss.view(*ss.shape, *(1,) * (x.ndim - 2)).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over every position (time, or mel bin × frame), residual, output projection
    zero-initialised."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels ({channels}) must divide by heads ({heads})")
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(2)                                       # [B, C, positions]
        q, k, v = rearrange(self.qkv(self.norm(flat)), "b (three h d) l -> three b h l d", three=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(rearrange(out, "b h l d -> b (h d) l")).view_as(x)


class Level(nn.Module):
    """Residual blocks (each optionally followed by attention) at one resolution."""

    def __init__(self, c_in: int, c_out: int, blocks: int, embed_dim: int, dropout: float, attention: bool,
                 heads: int, dims: int = 1):
        super().__init__()
        self.blocks = nn.ModuleList(
            ResBlock(c_in if i == 0 else c_out, c_out, embed_dim, dropout, dims) for i in range(blocks))
        self.attns = nn.ModuleList(SelfAttention(c_out, heads) if attention else nn.Identity() for _ in range(blocks))

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        for block, attn in zip(self.blocks, self.attns):
            h = attn(block(h, emb))
        return h


class UNet1D(nn.Module):
    """x: [B, C, L], t: [B] → [B, C, L].

    Level i works at base_channels·channel_mults[i]; between level i and i+1 the signal is downsampled
    by down_factors[i] (strided conv) and later upsampled back (nearest + conv).  Attention runs at the
    levels listed in attention_levels (0 = full resolution) and always in the middle block.  With
    num_classes > 0 a class label (keyword `labels`) is added to the time embedding, as in DiffWave.  With
    cond_channels > 0 a conditioning signal at the input's rate (keyword `cond_wave` [B, cond_channels, L]: the
    noisy recording a supervised denoiser hears) is stacked onto x's channels before the stem.
    """

    def __init__(self, in_channels: Count = 1, base_channels: Count = 32,
                 channel_mults: tuple[Count, ...] = (1, 2, 4), down_factors: tuple[Count, ...] = (4, 4),
                 blocks_per_level: Count = 2,
                 attention_levels: tuple[CountOrOff, ...] = (), attention_heads: Count = 4, dropout: Fraction = 0.0,
                 stem_factor: Count = 1, num_classes: CountOrOff = 0, cond_channels: CountOrOff = 0):
        super().__init__()
        mults, factors = list(channel_mults), list(down_factors)
        if len(factors) != len(mults) - 1:
            raise ValueError(f"need one down factor between each pair of levels: {len(mults)} levels take "
                             f"{len(mults) - 1} down_factors, got {len(factors)}")
        if any(f < 1 for f in factors) or stem_factor < 1:
            raise ValueError("down factors must be >= 1")
        if stem_factor * math.prod(factors) > MAX_TOTAL_DOWN:
            raise ValueError(f"stem_factor × down_factors = {stem_factor * math.prod(factors)}: must be <= "
                             f"{MAX_TOTAL_DOWN} (every input is zero-padded to a multiple of it)")
        chans = [base_channels * m for m in mults]
        embed_dim = 4 * base_channels
        self.in_channels = in_channels
        self.cond_channels = cond_channels
        self.stem_factor = stem_factor
        self.multiple = stem_factor * math.prod(factors)
        self.step_embedding = StepEmbedding(base_channels, embed_dim, max_period=10_000.0)
        self.num_classes = num_classes
        self.label_embedding = LabelEmbedding(num_classes, embed_dim) if num_classes else None
        # A strided stem ("downsamples early") trades full-rate detail for much cheaper levels.
        self.stem = nn.Conv1d(in_channels + cond_channels, chans[0], 2 * stem_factor + 1 if stem_factor > 1 else 3,
                              stride=stem_factor, padding=stem_factor if stem_factor > 1 else 1)
        attn = set(attention_levels)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = chans[0]
        for i, c in enumerate(chans):
            self.down.append(Level(c_prev, c, blocks_per_level, embed_dim, dropout, i in attn, attention_heads))
            if i < len(factors):
                self.downsample.append(nn.Conv1d(c, c, factors[i], stride=factors[i]))
            c_prev = c
        self.mid = Level(chans[-1], chans[-1], 2, embed_dim, dropout, True, attention_heads)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in enumerate(chans):
            self.up.append(Level(2 * c, c, blocks_per_level, embed_dim, dropout, i in attn, attention_heads))
            if i < len(factors):
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=factors[i], mode="nearest"),
                                                   nn.Conv1d(chans[i + 1], c, 3, padding=1)))
        self.head_upsample = (nn.ConvTranspose1d(chans[0], chans[0], stem_factor, stride=stem_factor)
                              if stem_factor > 1 else nn.Identity())
        self.out = nn.Sequential(group_norm(chans[0]), nn.SiLU(),
                                 zero_init(nn.Conv1d(chans[0], in_channels, 3, padding=1)))

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None, cond_wave: Tensor | None = None) -> Tensor:
        """x: [B, C, L], t: [B], labels: [B] class indices or None (unlabelled), cond_wave: [B, cond_channels, L]
        (needed when cond_channels > 0) → [B, C, L]."""
        length = x.shape[-1]
        if self.cond_channels:
            if cond_wave is None or cond_wave.shape[-1] != length or cond_wave.shape[1] != self.cond_channels:
                got = None if cond_wave is None else tuple(cond_wave.shape)
                raise ValueError(f"this network is conditioned on cond_wave [B, {self.cond_channels}, {length}]; got {got}")
            x = torch.cat([x, cond_wave.to(x.dtype)], dim=1)
        elif cond_wave is not None:
            raise ValueError("cond_wave given to a network without cond_channels")
        pad = (-length) % self.multiple
        if pad:
            x = F.pad(x, (0, pad))
        emb = self.step_embedding(t)
        emb = add_label_embedding(self.label_embedding, emb, labels)
        h = self.stem(x)
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
        h = self.out(self.head_upsample(h))
        return h[..., :length]
