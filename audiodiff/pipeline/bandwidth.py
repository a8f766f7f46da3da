"""A bandwidth-extension run ([data] domain = "bandwidth", trained on wide-band speech made narrow on the fly:
data/band.py): narrow-band recordings (telephone speech at 8 kHz) brought to the model's rate with the missing band
added, by a predictive network ([model] type = "spectral_mask", fold = true) in one call, or a conditional
diffusion model."""

from __future__ import annotations

from typing import Any

from ..data import narrow_band
from .supervised import SupervisedPipeline

# The added band's default gain, −6 dB.  An estimate of the missing band is uncertain, and listeners (and PESQ, whose
# disturbance model weighs added energy more than missing energy) are hurt more by too much of it than by too
# little: Nilsson & Kleijn (2001) avoid over-estimation for telephone speech.  Measured on 55 real 8 kHz prompts
# outside the benchmark's test set (recipes/telephone-bwe/README.md): PESQ rises and LSD above 4 kHz grows as the
# gain falls; −6 dB keeps most of the LSD gain over sinc and lifts PESQ above sinc's.
HIGH_BAND_GAIN = 0.5


class BandwidthPipeline(SupervisedPipeline, domain="bandwidth"):
    """upsample(audio, from_rate) → the model's rate with the band above from_rate / 2 added, at any length."""

    what = "a bandwidth-extension run ([data] domain = \"bandwidth\")"
    misuse_hint = (": it adds the band a narrow recording lacks; use pipe.upsample(audio, from_rate) "
                   "(CLI: audiodiff upsample IN.wav --model RUN --out OUT.wav)")

    @property
    def narrow_rate(self) -> int:
        """The rate of the recordings this run was trained to extend (config.json "narrow_rate", from [data])."""
        rate = self.config.get("narrow_rate")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 0 < rate < self.sample_rate:
            raise ValueError(f"config.json: \"narrow_rate\" = {rate!r} must be a whole number of Hz below the run's "
                             f"sample_rate ({self.sample_rate}); retrain or fix the run's config.json")
        return rate

    def upsample(self, audio: Any, from_rate: int, steps: int | None = None, sampler: str | None = None,
                 seed: int | None = None, window: int | None = None, progress: bool = False,
                 high_band_gain: float = HIGH_BAND_GAIN, **options: Any) -> Any:
        """audio [L] or [B, L] (numpy or torch) at from_rate, which must be the run's narrow_rate → the same type at
        the model's rate: the input's own band (band-limited sinc resampling) plus the band above from_rate / 2 that
        the network adds (one call per window for a predictive network; steps, sampler and options are for a
        diffusion one), scaled by high_band_gain (1 = as estimated; see HIGH_BAND_GAIN)."""
        if not 0 <= high_band_gain <= 2:
            raise ValueError(f"high_band_gain = {high_band_gain}: give a gain in [0, 2] (1 = the band as estimated)")
        if from_rate != self.narrow_rate:
            raise ValueError(f"this run extends {self.narrow_rate} Hz recordings to {self.sample_rate} Hz, not "
                             f"{from_rate} Hz ones: resample the input to {self.narrow_rate} Hz first (a wider "
                             f"input loses its band above {self.narrow_rate // 2} Hz), or train a run with [data] "
                             f"narrow_rate = {from_rate}")
        self._refuse_sampler_options(steps, sampler, options)
        batch, restore = self._to_model_rate(audio, from_rate, back=False)
        estimate = self._restore(batch, steps, sampler, seed, window, progress, "upsample", options)
        added = estimate - narrow_band(estimate, self.sample_rate, from_rate)
        return restore(batch + high_band_gain * added)   # batch: the input's band, already sinc-resampled
