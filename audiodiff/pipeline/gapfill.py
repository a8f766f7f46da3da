"""A gap-filling run ([data] domain = "gapfill", trained on clean clips with gaps cut into them on the fly:
data/dropouts.py): a conditional diffusion model that hears the recording with its gap and the gap's mask, and
samples the whole clip, of which only the gap is kept."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..data.dropouts import gapped_input
from .base import Pipeline, as_tensor


class GapFillPipeline(Pipeline, domain="gapfill"):
    """inpaint(audio, mask) → audio with the masked samples generated and every other one kept exactly."""

    what = "a gap-filling run ([data] domain = \"gapfill\")"
    misuse_hint = (": it fills gaps in a recording; use pipe.inpaint(audio, mask) "
                   "(CLI: audiodiff inpaint IN.wav --gap START:END --model RUN --out OUT.wav)")

    def inpaint(self, audio: Any, mask: Any, steps: int | None = None, sampler: str | None = None,
                resample_jumps: int = 1, seed: int | None = None, jump_length: int = 1, window: int | None = None,
                progress: bool = False, **options: Any) -> Any:
        """Fill the samples where `mask` is True; all others come back exactly.  audio, mask: [L] or [B, L]
        (numpy or torch) at the model's rate.  Each window (default: the run's clip_length; cross-faded, so keep
        a gap inside one window with context both sides) that holds a gap is brought to the training level by its
        known samples and sampled by the reverse chain conditioned on it (the run's [sample] sampler and steps
        unless given; `options` as in `sample`); a window with no gap is left alone.  resample_jumps and
        jump_length are RePaint's, for a waveform prior: the network hears the context itself, so only 1 is
        taken."""
        if resample_jumps != 1 or jump_length != 1:
            raise ValueError("resample_jumps / jump_length are RePaint's, for a waveform prior's inpaint: a gapfill "
                             "run hears the context itself; leave them out")
        batch, restore = self._to_model_rate(audio, None)
        if not torch.isfinite(batch).all():
            raise ValueError("the audio holds NaN or infinite samples")
        gap = as_tensor(mask).to(torch.bool).reshape(batch.shape[0], 1, -1).to(self.device)
        if gap.shape != batch.shape:
            raise ValueError(f"mask shape {tuple(gap.shape)} does not match the audio {tuple(batch.shape)}")
        g = self._generator(seed)

        def fill(sl: slice) -> Tensor:
            part, hole = batch[..., sl], gap[..., sl]
            if not bool(hole.any()):
                return part
            cond, gain = gapped_input(part, hole)
            out = self._generate(part.shape[0], 1, part.shape[-1], steps=steps, sampler=sampler, generator=g,
                                 cond={"cond_wave": cond}, **options)
            return out.float() / gain   # its known samples: put back exactly below

        out = self._windows(fill, tuple(batch.shape), window, progress, "inpaint")
        return restore(torch.where(gap, out.clamp(-1.0, 1.0), batch))
