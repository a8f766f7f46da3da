"""Training pairs for gap filling: clean clips with a dropout cut into them on the fly, as a damaged file, a lost
packet or an edit leaves them.

Each clean clip [1, L] gets one gap of a length drawn log-uniformly in [gap_min_ms, gap_max_ms] (short clicks and
long dropouts equally often per octave), at a uniform place that keeps at least a tenth of the clip as context on
each side.  The network hears `gapped_input`: two channels, the clip with the gap filled by a linear crossfade of
the audio around it (`crossfade_fill`) and the gap's mask, at the level that brings the known samples to GAP_RMS;
x0 is the clip at the same level.  The same function serves training (here) and filling (pipeline/gapfill.py), so
the two never hear different inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .data_config import DataConfig

MIN_CONTEXT_SHARE = 0.1   # each side of a training gap keeps at least this share of the clip as context
OUTSIDE_WEIGHT = 0.1      # the loss weight of the known samples (the gap's weigh 1): see GapMaker
# The level of the known samples, and so of x0 (−16.5 dBFS, about the median clip of produced music).  Unlike a
# denoiser's input level (mixing.INPUT_RMS, −26 dBFS), this one sets x0's scale against the diffusion's unit noise:
# 10 dB lower would push every step of the schedule 10 dB towards noise, and more of the steps would carry nothing.
GAP_RMS = 0.15


def gap_runs(gap: Tensor) -> list[tuple[int, int]]:
    """The (start, length) of each run of True in a 1-D bool tensor [L], in order."""
    edges = torch.diff(torch.nn.functional.pad(gap.to(torch.int8), (1, 1)))
    starts = torch.nonzero(edges == 1).flatten().tolist()
    ends = torch.nonzero(edges == -1).flatten().tolist()
    return [(a, b - a) for a, b in zip(starts, ends)]


def crossfade_fill(audio: Tensor, gap: Tensor) -> Tensor:
    """audio [..., L] with every gap (gap [..., L] bool, True = missing) filled by the audio around it: the
    `length` samples before a gap continued forward into it, cross-faded linearly into the `length` samples after
    it continued backward, fill[i] = (1 − w_i)·x[start − length + i] + w_i·x[start + length + i], w_i = (i + ½) /
    length.  Where less than `length` samples of context exist on a side, those repeat periodically; with none on a
    side the other side alone is used; with none at all, silence.  A new tensor, equal to audio outside the gaps.
    The classical fill a gap-filling network starts from, and the benchmark's crossfade baseline."""
    out = audio.clone()
    flat_in, flat_out = audio.reshape(-1, audio.shape[-1]), out.view(-1, audio.shape[-1])
    for row, holes in enumerate(gap.reshape(-1, gap.shape[-1])):
        x = flat_in[row]
        for start, length in gap_runs(holes):
            end = start + length
            before, after = x[max(0, start - length):start], x[end:end + length]
            i = torch.arange(length, device=x.device)
            forward = before[i % before.numel()] if before.numel() else None          # continued into the gap
            backward = after[(i - length) % after.numel()] if after.numel() else None
            if forward is None or backward is None:
                fill = forward if backward is None else backward
                fill = torch.zeros(length, dtype=x.dtype, device=x.device) if fill is None else fill
            else:
                w = ((i + 0.5) / length).to(x.dtype)
                fill = (1 - w) * forward + w * backward
            flat_out[row, start:end] = fill
    return out


def gapped_input(audio: Tensor, gap: Tensor, floor: float = 1e-5) -> tuple[Tensor, Tensor]:
    """audio [B, 1, L], gap [B, 1, L] bool (True = missing) → (cond [B, 2, L], g [B, 1, 1]): channel 0 the audio
    times g with each gap filled by `crossfade_fill` (the notes on each side, at full resolution, for the network
    to correct rather than to invent), channel 1 the gap as 0 / 1; g brings the known samples' RMS to GAP_RMS
    (capped where they are below `floor`: a silent context keeps its level)."""
    known = (~gap).to(audio.dtype)
    power = (audio.float() * known).pow(2).sum(-1, keepdim=True) / known.sum(-1, keepdim=True).clamp_min(1)
    g = (GAP_RMS / power.sqrt().clamp_min(floor)).to(audio.dtype)
    return torch.cat([crossfade_fill(audio * g * known, gap), gap.to(audio.dtype)], dim=1), g


class GapMaker:
    """clean [B, 1, L] → (clean · g, cond [B, 2, L], loss weights [B, 1, L]): one gap per clip (module docstring),
    cond = gapped_input, the weights 1 on the gap and OUTSIDE_WEIGHT elsewhere, so the loss is spent on what is
    missing while the known part, which the network only has to copy, still keeps its x_t in the distribution the
    sampler feeds back."""

    def __init__(self, rate: int, gap_min_ms: float, gap_max_ms: float):
        if not 0 < gap_min_ms <= gap_max_ms:
            raise ValueError(f"gap lengths [{gap_min_ms}, {gap_max_ms}] ms: need 0 < gap_min_ms <= gap_max_ms")
        self.shortest = max(1, round(gap_min_ms * rate / 1000))
        self.longest = max(self.shortest, round(gap_max_ms * rate / 1000))

    def gap_spans(self, batch: int, length: int, generator: torch.Generator) -> list[tuple[int, int]]:
        """(start, gap length) per clip of `length` samples, drawn with `generator` (CPU)."""
        margin = math.ceil(MIN_CONTEXT_SHARE * length)
        room = length - 2 * margin
        if room < self.shortest:
            raise ValueError(f"a clip of {length} samples has no room for a gap of {self.shortest} samples with a "
                             f"tenth of the clip as context each side: lengthen [data] clip_length or shorten "
                             f"gap_min_ms")
        lo, hi = math.log(self.shortest), math.log(min(self.longest, room))
        u = torch.rand(batch, 2, generator=generator, dtype=torch.float64)
        spans = []
        for a, b in u.tolist():
            size = min(room, max(1, round(math.exp(lo + a * (hi - lo)))))
            spans.append((margin + int(b * (room - size + 1)), size))
        return spans

    def __call__(self, clean: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        gap = torch.zeros(clean.shape, dtype=torch.bool, device=clean.device)
        for row, (start, size) in enumerate(self.gap_spans(clean.shape[0], clean.shape[-1], generator)):
            gap[row, :, start:start + size] = True
        cond, g = gapped_input(clean, gap)
        weights = torch.where(gap, 1.0, OUTSIDE_WEIGHT).to(clean.dtype)
        return clean * g, cond, weights


def gap_maker_for(data: DataConfig) -> GapMaker:
    """The GapMaker of a gap-filling recipe's [data] table."""
    return GapMaker(data.sample_rate, data.gap_min_ms, data.gap_max_ms)
