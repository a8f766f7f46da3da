"""DiffWave ε-network (Kong et al. 2021): a stack of dilated residual layers with gated units.

Knows nothing of noise schedules: it maps (x_t: [B, 1, L], t: [B]) to ε̂: [B, 1, L] for any L.
With n_mels > 0 it is a vocoder: a mel spectrogram [B, n_mels, frames] (keyword `mel`) is upsampled to
frames × hop_length samples by transposed convolutions and added, through a 1×1 projection per layer, to
every dilated convolution's output (the paper's local conditioner).

Computing in bf16 on a CPU, the layers run time-major ([B, L, C]: 1×1 convolutions as matrix products, dilated
convolutions as channels-last 2-D convolutions or, when training on long clips, as three matrix products) on the
same parameters; oneDNN's bf16 kernels are 2–5× faster in that layout, its fp32 ones are not (benchmarks/LOG.md).
`DiffWave.layout` forces any layout, for measuring one where it is not the default
(benchmarks/studies/diffwave_layouts.py; benchmarks/gpu/levers.py on CUDA).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Count, CountOrOff, LabelEmbedding, StepEmbedding, add_label_embedding, bf16_on_cpu, zero_init


def pointwise(conv: nn.Conv1d, x: Tensor, time_major: bool) -> Tensor:
    """A 1×1 Conv1d on x: [B, C, L], or on x: [B, L, C] as a matrix product with its weights (time_major)."""
    return F.linear(x, conv.weight[:, :, 0], conv.bias) if time_major else conv(x)


def dilated(conv: nn.Conv1d, x: Tensor, layout: str) -> Tensor:
    """A dilated Conv1d (kernel 3, "same" padding) on x: [B, C, L] (channels_first), or on x: [B, L, C] with its
    weights → [B, L, 2C]: as a channels-last [B, C, 1, L] 2-D convolution (time_major) or as matrix products
    (time_major_matmul)."""
    if layout == "channels_first":
        return conv(x)
    if layout == "time_major_matmul":
        return dilated_matmul(conv, x)
    y = F.conv2d(x.transpose(1, 2)[:, :, None], conv.weight[:, :, None], conv.bias,
                 padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]))
    return y[:, :, 0].transpose(1, 2)


def dilated_matmul(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """The dilated Conv1d on x: [B, L, C] as three matrix products, one per tap, on row views of the zero-padded
    batch flattened to [B·(L + 2d), C]: output row r sums taps at rows r, r + d, r + 2d, so no shifted copy is
    made (autograd keeps one padded input, as the convolution keeps its input) → [B, L, 2C]."""
    batch, length, channels = x.shape
    d = conv.dilation[0]
    padded = length + 2 * d
    rows = F.pad(x, (0, 0, d, d)).reshape(batch * padded, channels)
    n = batch * padded - 2 * d   # the last clip's last output row is row n - 1
    w = conv.weight              # [2C, C, 3]
    y = torch.addmm(conv.bias, rows[:n], w[:, :, 0].t())
    y = torch.addmm(y, rows[d:n + d], w[:, :, 1].t())
    y = torch.addmm(y, rows[2 * d:], w[:, :, 2].t())
    return y.as_strided((batch, length, y.shape[1]), (padded * y.shape[1], y.shape[1], 1))


def gated_unit(gate: Tensor, filt: Tensor) -> Tensor:
    """σ(gate) · tanh(filt), elementwise.  torch's bf16 tanh on a CPU runs 2× slower than a round trip through
    fp32 (3.2 against 1.5 ms on a layer's 2M values, benchmarks/studies/bf16_kernels.py), so without autograd the tanh
    takes that trip; with autograd the trip's backward costs more than it saves."""
    if filt.dtype == torch.bfloat16 and filt.device.type == "cpu" and not torch.is_grad_enabled():
        return torch.sigmoid(gate) * torch.tanh(filt.float()).to(filt.dtype)
    return torch.sigmoid(gate) * torch.tanh(filt)


class ResidualLayer(nn.Module):
    """One dilated residual layer: step bias → dilated conv → tanh·sigmoid gate → residual / skip."""

    def __init__(self, channels: int, dilation: int, embed_dim: int, n_mels: int = 0):
        super().__init__()
        self.dilated_conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.step_projection = nn.Linear(embed_dim, channels)
        # vocoder only: the upsampled mel, projected to the gate and filter channels
        self.conditioner_projection = nn.Conv1d(n_mels, 2 * channels, 1) if n_mels else None
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: Tensor, step: Tensor, cond: Tensor | None = None,
                layout: str = "channels_first") -> tuple[Tensor, Tensor]:
        """x: [B, C, L], step: [B, E], cond: the upsampled mel [B, n_mels, L] (vocoder) or None; in a time-major
        layout x and cond are [B, L, C] / [B, L, n_mels] and so are the outputs."""
        time_major = layout != "channels_first"
        channels = -1 if time_major else 1
        bias = self.step_projection(step).unsqueeze(1 if time_major else 2)
        y = dilated(self.dilated_conv, x + bias, layout)
        if cond is not None:
            y = y + pointwise(self.conditioner_projection, cond, time_major)
        gate, filt = y.chunk(2, dim=channels)
        y = pointwise(self.output_projection, gated_unit(gate, filt), time_major)
        residual, skip = y.chunk(2, dim=channels)
        return (x + residual) / math.sqrt(2.0), skip


LAYOUTS = ("auto", "time_major", "time_major_matmul", "channels_first")
# CPU bf16 training: dilated convolutions as matrix products from this many values (L × C) per clip and channel
# stack on.  Measured on an AMX Xeon (benchmarks/studies/diffwave_layouts.py): 1.08-1.32× per step from 768k values
# (12,000 × 64, 16,000 × 64, 4,000 × 256, 16,000 × 256), 0.89-0.96× up to 512k (4,000 × 64, 8,000 × 64);
# for sampling (no autograd) the 2-D convolution is as fast (within 2 %) or faster at every size measured.
MATMUL_MIN_VALUES = 2 ** 19


def resolve_layout(layout: str, x: Tensor, channels: int) -> str:
    """The layout a DiffWave call on x: [B, C_in, L] with `channels` residual channels computes in: `layout`
    itself unless it is "auto"; auto = time-major exactly in bf16 on a CPU, its dilated convolutions as matrix
    products while autograd records on clips of at least MATMUL_MIN_VALUES values per residual stack."""
    if layout != "auto":
        return layout
    if not bf16_on_cpu(x):
        return "channels_first"
    if torch.is_grad_enabled() and x.shape[-1] * channels >= MATMUL_MIN_VALUES:
        return "time_major_matmul"
    return "time_major"


MAX_STAGE_FACTOR = 32   # prefer upsampling stages of at most this factor (lmnt: 16 × 16 for hop 256)
MAX_STAGES = 3


def hop_factors(hop_length: int, max_factor: int = MAX_STAGE_FACTOR, max_stages: int = MAX_STAGES) -> list[int]:
    """Split hop_length into upsampling factors (ascending) whose product is hop_length.

    The fewest stages (1 … max_stages) whose largest factor is at most max_factor, as balanced as
    possible: 256 → [16, 16], 200 → [10, 20], 275 → [11, 25], 300 → [15, 20], 128 → [8, 16],
    160 → [10, 16], 1024 → [32, 32], 2048 → [8, 16, 16].  When no split stays under max_factor (a large
    prime factor, e.g. 257 or 2·37), the split with the smallest largest factor is used.  hop 1 → [].
    """
    hop_length = int(hop_length)
    if hop_length < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop_length}")
    if hop_length == 1:
        return []

    def splits(n: int, parts: int, smallest: int = 2) -> list[list[int]]:
        if parts == 1:
            return [[n]] if n >= smallest else []
        out = []
        d = smallest
        while d ** parts <= n:
            if n % d == 0:
                out += [[d, *rest] for rest in splits(n // d, parts - 1, d)]
            d += 1
        return out

    best: list[int] | None = None
    for stages in range(1, max_stages + 1):
        options = splits(hop_length, stages)
        if not options:
            continue
        choice = min(options, key=lambda f: (max(f), max(f) - min(f)))
        if max(choice) <= max_factor:
            return choice
        if best is None or max(choice) < max(best):
            best = choice
    assert best is not None
    return best


class MelUpsampler(nn.Module):
    """Mel frames [B, n_mels, F] → [B, n_mels, F·hop]: one transposed 2-D convolution per factor s of hop
    (kernel 3 across mel bins, 2s along time, stride s; leaky ReLU 0.4 after each), as lmnt-com/diffwave's
    two 16× stages but for any hop.  Each stage is cropped to exactly s times its input, so the output has
    exactly F·hop samples: frame i drives the samples around [i·hop, (i+1)·hop).

    It computes in float32 whatever the network's precision (autocast off; CastNetwork leaves its weights
    float32): its one-channel transposed convolutions run 5-15× slower in bf16 on a CPU
    (benchmarks/studies/bf16_kernels.py) and cost little in fp32."""

    keep_float32 = True

    def __init__(self, hop_length: int):
        super().__init__()
        self.hop_length = int(hop_length)
        self.factors = hop_factors(hop_length)
        self.stages = nn.ModuleList(
            nn.ConvTranspose2d(1, 1, (3, 2 * s), stride=(1, s), padding=(1, s // 2)) for s in self.factors)

    def forward(self, mel: Tensor) -> Tensor:
        """mel: [B, n_mels, F] → [B, n_mels, F·hop] in the stages' dtype."""
        with torch.autocast(mel.device.type, enabled=False):
            x = mel[:, None].to(self.stages[0].weight.dtype) if self.stages else mel[:, None]
            for s, stage in zip(self.factors, self.stages):
                frames = x.shape[-1]
                x = F.leaky_relu(stage(x)[..., :frames * s], 0.4)   # odd s: the stage gives one extra sample
        return x[:, 0]


class DiffWave(nn.Module):
    """DiffWave; the paper's SC09 model is DiffWave(36, 256, 12) with ~24M parameters.

    With num_classes > 0 a class label (keyword `labels`: LongTensor [B]) is embedded and added to the
    step embedding; labels=None (or the index num_classes) means "unlabelled", for classifier-free guidance.
    With n_mels > 0 it is a mel-conditioned vocoder (keyword `mel`: [B, n_mels, frames], and x_t must have
    frames × hop_length samples); the paper's BASE vocoder is DiffWave(30, 64, 10, n_mels=80, hop_length=256).
    n_mels = 0 (the default) adds no parameters: the unconditional model is unchanged.
    """

    def __init__(self, residual_layers: Count = 30, residual_channels: Count = 64, dilation_cycle: Count = 10,
                 in_channels: Count = 1, embed_dim: Count = 512, sinusoid_dim: Count = 128,
                 num_classes: CountOrOff = 0, n_mels: CountOrOff = 0, hop_length: Count = 256):
        super().__init__()
        if n_mels < 0:
            raise ValueError(f"n_mels must be >= 0 (0 = unconditional), got {n_mels}")
        if n_mels and in_channels != 1:
            raise ValueError(f"a vocoder (n_mels > 0) makes a waveform: in_channels must be 1, got {in_channels}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.n_mels = n_mels
        self.hop_length = int(hop_length)
        self.label_embedding = LabelEmbedding(num_classes, embed_dim) if num_classes else None
        self.mel_upsampler = MelUpsampler(hop_length) if n_mels else None
        self.input_projection = nn.Conv1d(in_channels, residual_channels, 1)
        self.step_embedding = StepEmbedding(sinusoid_dim, embed_dim)
        self.layers = nn.ModuleList(
            ResidualLayer(residual_channels, 2 ** (i % dilation_cycle), embed_dim, n_mels)
            for i in range(residual_layers))
        self.skip_projection = nn.Conv1d(residual_channels, residual_channels, 1)
        self.output_projection = zero_init(nn.Conv1d(residual_channels, in_channels, 1))
        self.layout = "auto"

    @property
    def layout(self) -> str:
        """How the layers hold activations (one of LAYOUTS); not a model option: the same weights either way."""
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        if value not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {value!r}")
        self._layout = value

    def upsample_mel(self, mel: Tensor, length: int | None = None) -> Tensor:
        """Check a mel [B, n_mels, frames] against this vocoder (and an audio length) and upsample it."""
        if self.mel_upsampler is None:
            raise ValueError("this DiffWave is unconditional (n_mels = 0): it takes no mel")
        if mel.ndim != 3:
            raise ValueError(f"the mel must be [B, n_mels, frames], got shape {tuple(mel.shape)}")
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"this vocoder expects mel spectrograms with {self.n_mels} mel bins, got "
                             f"{mel.shape[1]} (shape {tuple(mel.shape)})")
        frames = mel.shape[-1]
        if length is not None and length != frames * self.hop_length:
            raise ValueError(f"audio of {length} samples does not match {frames} mel frames: a vocoder with "
                             f"hop_length {self.hop_length} needs frames × hop = {frames * self.hop_length} samples")
        # in the layers' compute dtype, cast once here: under autocast, 30-36 projections would each cast (and keep
        # for backward) their own bf16 copy of a float32 mel
        device = mel.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else \
            self.input_projection.weight.dtype
        return self.mel_upsampler(mel).to(dtype)

    def forward(self, x: Tensor, t: Tensor, mel: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
        """x: [B, C, L], t: [B] (fractional allowed), mel: [B, n_mels, L / hop] (vocoder) or None,
        labels: [B] or None → [B, C, L]."""
        cond = None
        if self.n_mels:
            if mel is None:
                raise ValueError(f"this DiffWave is a vocoder (n_mels = {self.n_mels}): pass mel = "
                                 f"[B, {self.n_mels}, frames]")
            if mel.shape[0] != x.shape[0]:
                raise ValueError(f"mel batch {mel.shape[0]} does not match the audio batch {x.shape[0]}")
            cond = self.upsample_mel(mel, x.shape[-1])
        elif mel is not None:
            raise ValueError("this DiffWave is unconditional (n_mels = 0): it takes no mel")
        layout = resolve_layout(self.layout, x, self.input_projection.out_channels)
        time_major = layout != "channels_first"
        if time_major:
            x = x.transpose(1, 2)
            cond = cond.transpose(1, 2).contiguous() if cond is not None else None
        h = F.relu(pointwise(self.input_projection, x, time_major))
        step = self.step_embedding(t)
        step = add_label_embedding(self.label_embedding, step, labels)
        skip = torch.zeros_like(h)
        for layer in self.layers:
            h, s = layer(h, step, cond, layout)
            skip = skip + s
        out = F.relu(pointwise(self.skip_projection, skip / math.sqrt(len(self.layers)), time_major))
        out = pointwise(self.output_projection, out, time_major)
        return out.transpose(1, 2) if time_major else out
