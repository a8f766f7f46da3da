"""A supervised denoiser run ([data] domain = "denoiser", trained on clean speech mixed on the fly with recorded
noise: data/mixing.py): a U-Net that hears the noisy recording and samples the clean one from noise, or a
predictive network ([model] type = "spectral_mask") that answers in one call."""

from __future__ import annotations

from typing import Any

from .supervised import SupervisedPipeline


class DenoiserPipeline(SupervisedPipeline, domain="denoiser"):
    """denoise(noisy) → clean, at any length (cross-faded windows), with few network calls (the run's [sample]; one
    for a predictive network)."""

    what = "a supervised denoiser run ([data] domain = \"denoiser\")"
    misuse_hint = (": it removes noise from a recording it is given; use pipe.denoise(noisy) "
                   "(CLI: audiodiff denoise IN.wav --model RUN --out OUT.wav)")

    def denoise(self, noisy: Any, sigma: float | None = None, steps: int | None = None, sampler: str | None = None,
                sample_rate: int | None = None, seed: int | None = None, return_sigma: bool = False,
                window: int | None = None, progress: bool = False, **options: Any) -> Any:
        """Remove noise of any colour the run learned: `noisy` [L] or [B, L] (numpy or torch) at `sample_rate`
        (default the model's; other rates are resampled and restored) → the same type, shape and rate.

        Each window is brought to the level the network was trained at (data/mixing.level_normalise), denoised
        by the reverse chain conditioned on it (the run's [sample] sampler and steps unless given; `options` as
        in `sample`) or, for a predictive network, by one call (steps, sampler and options are then refused), and
        scaled back.  sigma: not used (the network estimates the noise itself); given, it is
        refused so a white-noise script does not silently mean something else."""
        if sigma is not None:
            raise ValueError("sigma is for the training-free denoiser of a waveform run; a supervised denoiser "
                             "hears the noise itself: leave sigma out")
        self._refuse_sampler_options(steps, sampler, options)
        batch, restore = self._to_model_rate(noisy, sample_rate)
        out = self._restore(batch, steps, sampler, seed, window, progress, "denoise", options)
        result = restore(out)
        return (result, None) if return_sigma else result
