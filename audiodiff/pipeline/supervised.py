"""What the pipelines of supervised runs share (DenoiserPipeline, BandwidthPipeline): a network that hears the
degraded recording, at the level it was trained at, in cross-faded windows; one call for a predictive network, the
reverse chain conditioned on the recording for a diffusion one."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..data import level_normalise
from .base import Pipeline


class SupervisedPipeline(Pipeline):
    """A run trained on (degraded, clean) pairs: `_restore` maps a degraded batch to the clean estimate."""

    def _restore(self, batch: Tensor, steps: int | None, sampler: str | None, seed: int | None, window: int | None,
                 progress: bool, what: str, options: dict[str, Any]) -> Tensor:
        """batch [B, 1, L] at the model's rate (the degraded recording) → the network's clean estimate [B, 1, L]:
        each window brought to data/mixing.INPUT_RMS, answered, and scaled back.  The caller has refused sampler
        options a predictive network cannot take (_refuse_sampler_options), before converting its input."""
        if not torch.isfinite(batch).all():
            raise ValueError("the audio holds NaN or infinite samples")
        g = self._generator(seed)

        def one(sl: slice) -> Tensor:
            heard, gain = level_normalise(batch[..., sl])
            if self.predictive:
                with torch.no_grad():
                    return self.sampling_network()(heard).float() / gain
            clean = self._generate(heard.shape[0], 1, heard.shape[-1], steps=steps, sampler=sampler, generator=g,
                                   cond={"cond_wave": heard}, **options)
            return clean.float() / gain

        return self._windows(one, tuple(batch.shape), window, progress, what)
