"""A waveform run: generates audio directly, and does the training-free tasks on recordings (audiodiff/tasks.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import tasks
from ..data.dataset import SILENT_RMS
from ..noise_spectrum import NOISE_KINDS, filter_bins, noise_spectrum
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
                window: int | None = None, progress: bool = False, noise: str | None = None, **options: Any) -> Any:
        """Remove additive noise: `noisy` [L] or [B, L] (numpy or torch) → same type, shape and rate.

        noise "white": each clip is treated as x_t at the step whose noise level matches σ (estimated per clip
        when None, over the whole clip, and logged); "coloured": the noise's spectrum is estimated from the clip's
        quietest frames, the clip is whitened by it, denoised at the white level and filtered back
        (audiodiff/noise_spectrum.py); σ is then the whitened noise's.  None: white when σ is given, else the
        run's [sample] denoise_noise (`noise_kind`).  Either way the clip is run down the reverse chain, DDIM
        (η = 0) by default (sampler None: tasks.TASK_SAMPLERS["denoise"]), "ddpm" draws from the posterior; a run
        trained at one level ([data] level_rms) hears the clip's clean part at that level.  steps (default: the
        run's [sample] denoise_steps, else its steps, else every step below the level) and `options` (as in
        `sample`) over the run's [sample] settings, less its levels, lambda_min and a "leading" spacing, which
        cannot start part-way.  Clips longer than `window` samples are processed in cross-faded windows.
        """
        noise = self.noise_kind(noise, sigma)
        call = tasks.task_call("denoise", sampler, steps, self.sample_options, **options)
        batch, restore = self._to_model_rate(noisy, sample_rate)
        g = self._generator(seed)

        def one(clip: Tensor) -> tuple[Tensor, float]:
            wave, spectrum = clip[0], None
            if noise == "coloured":
                spectrum = noise_spectrum(wave, self.sample_rate)
                gains = spectrum.whitening_gains()
                wave, s = filter_bins(wave, gains, spectrum.n_fft, spectrum.hop), spectrum.white_sigma
            else:
                s = float(tasks.estimate_noise_sigma(wave)) if sigma is None else float(sigma)
            level = self._level_gain(wave, s)
            scaled = (wave * level)[None, None]
            out = self._windows(lambda sl: tasks.denoise(self.diffusion, self.sampling_network(), scaled[..., sl],
                                                         s * level, call=call, generator=g),
                                (1, 1, wave.shape[-1]), window, progress, "denoise")[0, 0] / level
            if spectrum is not None:
                out = filter_bins(out, 1 / gains, spectrum.n_fft, spectrum.hop)
            return out[None], s

        done = [one(clip) for clip in batch]
        sigmas = [s for _, s in done]
        if sigma is None:
            log.info("estimated %s noise σ: %s", "whitened" if noise == "coloured" else "white",
                     ", ".join(f"{s:.4g}" for s in sigmas))
        result = restore(torch.stack([out for out, _ in done]))
        return (result, sigmas) if return_sigma else result

    def noise_kind(self, noise: str | None, sigma: float | None = None) -> str:
        """The noise model `denoise` uses for these arguments: `noise` checked, or white when σ is given, else the
        run's [sample] denoise_noise."""
        if noise is None:
            return "white" if sigma is not None else self.sample_options.denoise_noise
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise = {noise!r}: choose one of {', '.join(NOISE_KINDS)}")
        if sigma is not None and noise != "white":
            raise ValueError("sigma is the level of white noise; noise = \"coloured\" estimates the noise's "
                             "spectrum from the recording: give one or the other")
        return noise

    def _level_gains(self, batch: Tensor, known: Tensor | None = None) -> Tensor:
        """[B, 1, 1]: _level_gain of each clip of batch [B, 1, L] (of its `known` samples only, when given)."""
        clips = list(batch) if known is None else [clip[k] for clip, k in zip(batch, known)]
        gains = [self._level_gain(clip) for clip in clips]
        return torch.tensor(gains, dtype=batch.dtype, device=batch.device)[:, None, None]

    def _level_gain(self, audio: Tensor, noise_sigma: float = 0.0) -> float:
        """The gain that brings audio's clean part (its power less the noise's σ²) to the run's [data] level_rms,
        the one level its prior was trained at; 1 for a run trained at the recordings' own levels."""
        level = float(self.config.get("level_rms") or 0.0)
        if level <= 0 or audio.numel() == 0:
            return 1.0
        power = float(audio.double().pow(2).mean()) - noise_sigma ** 2
        return level / math.sqrt(max(power, (0.1 * noise_sigma) ** 2, SILENT_RMS ** 2))

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
        level = self._level_gains(batch, known)
        scaled = batch * level

        def fill(sl: slice) -> Tensor:
            if bool(known[..., sl].all()):
                return scaled[..., sl]
            return tasks.inpaint(self.diffusion, self.sampling_network(), scaled[..., sl], known[..., sl], call=call,
                                 resample=resample_jumps, jump_length=jump_length, generator=g)

        out = self._windows(fill, tuple(batch.shape), window, progress, "inpaint") / level
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
        level = self._level_gains(batch)
        scaled = batch * level

        def extend(sl: slice) -> Tensor:
            return tasks.bandwidth_extension(self.diffusion, self.sampling_network(), scaled[..., sl],
                                             from_rate / self.sample_rate, call=call, generator=g)

        out = self._windows(extend, tuple(batch.shape), window, progress, "upsample")
        return restore(out / level)
