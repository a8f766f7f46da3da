"""Building blocks shared by the ε-networks."""

from __future__ import annotations

import math
from typing import Annotated, NamedTuple

import torch
from torch import Tensor, nn


class Range(NamedTuple):
    """The allowed range of a network option, attached to its annotation (`Annotated[int, Range(1)]`); the
    nets package reads it from the constructor's signature (nets.check_network_config).  None = unbounded;
    the upper limits of integer options are nets.OPTION_LIMITS."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False


Count = Annotated[int, Range(1)]                            # a size, a number of layers, a factor: >= 1
CountOrOff = Annotated[int, Range(0)]                       # 0 switches the feature off (num_classes, n_mels)
Fraction = Annotated[float, Range(0.0, 1.0, hi_open=True)]  # a share in [0, 1): dropout


def bf16_on_cpu(x: Tensor) -> bool:
    """Whether a network call on `x` computes in bf16 on a CPU (bf16 input, or CPU autocast to bf16): there
    oneDNN's AMX / AVX512-BF16 convolutions want channels-last activations (benchmarks/LOG.md, issue 10)."""
    if x.device.type != "cpu":
        return False
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


class SinusoidalEmbedding(nn.Module):
    """Step t: [B] (float, may be fractional) → [B, dim] sin/cos features at geometric frequencies.

    Frequencies 10^(4·i/(half−1)) for i < half follow lmnt-com/diffwave (DiffWave's step embedding);
    `max_period` switches to the Transformer convention 1/max_period^(i/half) used by U-Nets.
    """

    def __init__(self, dim: int, max_period: float | None = None):
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        half = dim // 2
        i = torch.arange(half, dtype=torch.float32)
        if max_period is None:
            freqs = 10.0 ** (i * 4.0 / max(half - 1, 1))
        else:
            freqs = torch.exp(-math.log(max_period) * i / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        args = t.float()[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class StepEmbedding(nn.Module):
    """Sinusoidal features → MLP with SiLU: [B] → [B, out_dim]."""

    def __init__(self, sin_dim: int, out_dim: int, max_period: float | None = None):
        super().__init__()
        self.sinusoid = SinusoidalEmbedding(sin_dim, max_period)
        self.mlp = nn.Sequential(nn.Linear(sin_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim), nn.SiLU())

    def forward(self, t: Tensor) -> Tensor:
        # the features are float32 (see SinusoidalEmbedding); a network cast to bf16 takes them in its dtype
        return self.mlp(self.sinusoid(t).to(self.mlp[0].weight.dtype))


def zero_init(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters so a residual branch or output starts as the identity / zero."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class LabelEmbedding(nn.Module):
    """Class label [B] → [B, dim]; index num_classes is the "no label" class used by classifier-free
    guidance (labels=None means every example is unlabelled).

    The table starts at N(0, INIT_STD²) as in DiT (Peebles & Xie 2023), not nn.Embedding's N(0, 1): at 512
    dimensions N(0, 1) rows have norm ≈ 23 against the step embedding's ≈ 1.5, so at first the label drowns the
    step and a short run learns more slowly (`benchmarks/studies/label_init.py`)."""

    INIT_STD = 0.02

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes + 1, dim)
        nn.init.normal_(self.embedding.weight, std=self.INIT_STD)

    def forward(self, labels: Tensor | None, batch: int, device: torch.device) -> Tensor:
        if labels is None:
            labels = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
        labels = labels.to(device=device, dtype=torch.long)
        if labels.shape != (batch,):
            raise ValueError(f"labels must have shape [{batch}], got {tuple(labels.shape)}")
        return self.embedding(labels)


def add_label_embedding(embedding: LabelEmbedding | None, step: Tensor, labels: Tensor | None) -> Tensor:
    """step [B, D] plus the labels' embedding; an unconditional model (embedding None) refuses labels."""
    if embedding is None:
        if labels is not None:
            raise ValueError("this model is unconditional (num_classes = 0): it takes no labels")
        return step
    return step + embedding(labels, step.shape[0], step.device)
