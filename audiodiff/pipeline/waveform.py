"""A waveform run: generates audio directly, and does the training-free tasks on recordings (audiodiff/tasks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import tasks
from .base import GeneratingPipeline, Pipeline, as_tensor, log


class WaveformPipeline(GeneratingPipeline, domain="waveform"):
    """sample → audio [n, L]; denoise / inpaint / upsample recordings at any length (cross-faded windows)."""

    what = "a waveform run"
    misuse_hint = ""

    def generate(self, n: int, length: int | None = None, vocoder: "Pipeline | str | Path | None" = None,
                 seconds: float | None = None, **chain: Any) -> tuple[Tensor, None]:
        """(audio [n, length], None); see GeneratingPipeline.sample."""
        if vocoder is not None:
            raise ValueError("vocoder= is for mel-domain runs; this run makes waveforms directly")
        long = self._long_length(length, seconds)
        if long is not None:
            x = self._generate(n, 1, long, window=self.clip_length, **chain)
        else:
            x = self._generate(n, 1, length or self.clip_length, **chain)
        return x[:, 0].clamp(-1.0, 1.0).float().cpu(), None

    # ----------------------------------------------------------------- tasks on given audio
    # Long inputs go through audiodiff/windows.py: windows of `window` samples at the model's rate (default:
    # clip_length, the length the network was trained on), cross-faded over a quarter window; memory is
    # bounded by one window.  An input no longer than one window is processed whole, exactly as it was.
    # Each task runs its own sampler (tasks.TASK_SAMPLERS) unless given one, with the run's other [sample] settings
    # (steps, spacing, eta / variance, clip_x0, ...) under the given ones (tasks.task_call), resolved once per call.
    def denoise(self, noisy: Any, sigma: float | None = None, steps: int | None = None, sampler: str | None = None,
                sample_rate: int | None = None, seed: int | None = None, return_sigma: bool = False,
                window: int | None = None, progress: bool = False, **options: Any) -> Any:
        """Remove additive white noise: `noisy` [L] or [B, L] (numpy or torch) → same type, shape and rate.

        Each clip is treated as x_t at the step whose noise level matches σ (estimated per clip when None,
        over the whole clip, and logged) and run down the reverse chain; DDIM (η = 0) by default (sampler None:
        tasks.TASK_SAMPLERS["denoise"]), "ddpm" draws from the posterior.  steps (default: the run's [sample]
        steps, else every step below the level) and `options` (as in `sample`) over the run's [sample] settings,
        less its levels, lambda_min and a "leading" spacing, which cannot start part-way.  Clips longer than
        `window` samples are processed in cross-faded windows.
        """
        call = tasks.task_call("denoise", sampler, steps, self.sample_options, **options)
        batch, restore = self._to_model_rate(noisy, sample_rate)
        sigmas = tasks.estimate_noise_sigma(batch[:, 0]).tolist() if sigma is None else [float(sigma)] * len(batch)
        if sigma is None:
            log.info("estimated noise σ: %s", ", ".join(f"{s:.4g}" for s in sigmas))
        g = self._generator(seed)

        def one(clip: Tensor, s: float) -> Tensor:
            return self._windows(lambda sl: tasks.denoise(self.diffusion, self.sampling_network(), clip[None, :, sl], s,
                                                          call=call, generator=g),
                                 (1, *clip.shape), window, progress, "denoise")

        out = torch.cat([one(clip, s) for clip, s in zip(batch, sigmas)])
        result = restore(out)
        return (result, sigmas) if return_sigma else result

    def inpaint(self, audio: Any, mask: Any, steps: int | None = None, sampler: str | None = None,
                resample_jumps: int = 1, seed: int | None = None, jump_length: int = 1, window: int | None = None,
                progress: bool = False, **options: Any) -> Any:
        """Fill the samples where `mask` is True; all others come back exactly.  audio, mask: [L] or [B, L]
        at the model's rate.  resample_jumps (RePaint's jump_n_sample) > 1 adds RePaint's resampling for more
        coherent fills, going back up jump_length steps each time (the paper's configurations: 10 and 10).
        sampler None: tasks.TASK_SAMPLERS["inpaint"] (ddpm); steps and `options` over the run's [sample] settings.
        Inputs longer than `window` samples go in cross-faded windows; a window with no gap is left alone."""
        call = tasks.task_call("inpaint", sampler, steps, self.sample_options, **options)
        batch, restore = self._to_model_rate(audio, None)
        known = ~as_tensor(mask).to(torch.bool).reshape(batch.shape[0], 1, -1).to(self.device)
        if known.shape != batch.shape:
            raise ValueError(f"mask shape {tuple(known.shape)} does not match the audio {tuple(batch.shape)}")
        g = self._generator(seed)

        def fill(sl: slice) -> Tensor:
            if bool(known[..., sl].all()):
                return batch[..., sl]
            return tasks.inpaint(self.diffusion, self.sampling_network(), batch[..., sl], known[..., sl], call=call,
                                 resample=resample_jumps, jump_length=jump_length, generator=g)

        out = self._windows(fill, tuple(batch.shape), window, progress, "inpaint")
        return restore(torch.where(known, batch, out))

    def upsample(self, audio: Any, from_rate: int, steps: int | None = None, sampler: str | None = None,
                 seed: int | None = None, window: int | None = None, progress: bool = False, **options: Any) -> Any:
        """Bandwidth extension: audio [L] or [B, L] at from_rate → the model's rate, keeping the input's band
        (below from_rate / 2) and generating the band above it; long inputs in cross-faded windows of
        `window` samples at the model's rate.  sampler None: tasks.TASK_SAMPLERS["upsample"] (ddpm); steps and
        `options` over the run's [sample] settings."""
        if from_rate >= self.sample_rate:
            raise ValueError(f"from_rate ({from_rate} Hz) must be below the model's rate ({self.sample_rate} Hz)")
        call = tasks.task_call("upsample", sampler, steps, self.sample_options, **options)
        batch, restore = self._to_model_rate(audio, from_rate, back=False)
        g = self._generator(seed)
        out = self._windows(lambda sl: tasks.bandwidth_extension(self.diffusion, self.sampling_network(), batch[..., sl],
                                                                 from_rate / self.sample_rate, call=call, generator=g),
                            tuple(batch.shape), window, progress, "upsample")
        return restore(out)
