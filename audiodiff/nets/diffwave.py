"""DiffWave ε-network (Kong et al. 2021): a stack of dilated residual layers with gated units.

Knows nothing of noise schedules: it maps (x_t: [B, 1, L], t: [B]) to ε̂: [B, 1, L] for any L.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import LabelEmbedding, StepEmbedding, zero_init


class ResidualLayer(nn.Module):
    """One dilated residual layer: step bias → dilated conv → tanh·sigmoid gate → residual / skip."""

    def __init__(self, channels: int, dilation: int, embed_dim: int):
        super().__init__()
        self.dilated_conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.step_projection = nn.Linear(embed_dim, channels)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: Tensor, step: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y = self.dilated_conv(x + self.step_projection(step)[:, :, None])
        if cond is not None:
            y = y + cond
        gate, filt = y.chunk(2, dim=1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWave(nn.Module):
    """Unconditional DiffWave; the paper's SC09 model is DiffWave(36, 256, 12) with ~24M parameters.

    With num_classes > 0 a class label (keyword `labels`: LongTensor [B]) is embedded and added to the
    step embedding; labels=None (or the index num_classes) means "unlabelled", for classifier-free guidance.
    """

    def __init__(self, residual_layers: int = 30, residual_channels: int = 64, dilation_cycle: int = 10,
                 in_channels: int = 1, embed_dim: int = 512, sinusoid_dim: int = 128, num_classes: int = 0):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.label_embedding = LabelEmbedding(num_classes, embed_dim) if num_classes else None
        self.input_projection = nn.Conv1d(in_channels, residual_channels, 1)
        self.step_embedding = StepEmbedding(sinusoid_dim, embed_dim)
        self.layers = nn.ModuleList(
            ResidualLayer(residual_channels, 2 ** (i % dilation_cycle), embed_dim) for i in range(residual_layers))
        self.skip_projection = nn.Conv1d(residual_channels, residual_channels, 1)
        self.output_projection = zero_init(nn.Conv1d(residual_channels, in_channels, 1))

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """x: [B, C, L], t: [B] (fractional allowed), labels: [B] or None → [B, C, L]."""
        h = F.relu(self.input_projection(x))
        step = self.step_embedding(t)
        if self.label_embedding is not None:
            step = step + self.label_embedding(labels, x.shape[0], x.device)
        elif labels is not None:
            raise ValueError("this model is unconditional (num_classes = 0): it takes no labels")
        skip = torch.zeros_like(h)
        for layer in self.layers:
            h, s = layer(h, step)
            skip = skip + s
        out = F.relu(self.skip_projection(skip / math.sqrt(len(self.layers))))
        return self.output_projection(out)
