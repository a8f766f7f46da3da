"""SampleOptions: a run's default sampler settings, declared once.

The same record is the recipe's [sample] table (recipe.SampleConfig is this class), config.json's "sample"
entry, and the Pipeline's defaults: `resolve` lays the options given to a call over the run's ones and returns
the SamplerCall that `sampling.sample` takes, taking from the run only what the chosen sampler takes (its
registry record, looked up there once).  Recipe encodings: steps 0, spacing "", lambda_min 0 and levels [] mean
"not set".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..noise_spectrum import NOISE_KINDS
from ..options import option
from .call import CLIP_X0, SamplerCall, check_option_names, option_names
from .guidance import check_guidance_interval
from .spacing import LAMBDA_SPACINGS, PART_WAY_SPACINGS, SPACINGS, check_levels
from .plans import DIFFWAVE_FAST_BETAS, check_fast_betas
from .registry import SAMPLERS, get_sampler, own_spacings
from .steps import VARIANCES


@dataclass
class SampleOptions:
    sampler: str = option("ddpm", choices=tuple(SAMPLERS))
    steps: int = option(0, lo=0, help="0 = every training step (or the fast schedule's length)")
    denoise_steps: int = option(0, lo=0, help="denoise: the steps from the recording's noise level down (0 = "
                                              "steps); a chain that starts part-way may need far fewer")
    denoise_noise: str = option("white", choices=NOISE_KINDS,
                                help="denoise: the noise model when none is asked for: white (one σ) or coloured "
                                     "(the noise's spectrum from the recording's quietest frames; for speech)")
    eta: float = option(0.0, lo=0, hi=1)
    variance: str = option("posterior", choices=VARIANCES)
    fast_betas: list = option(list(DIFFWAVE_FAST_BETAS))
    guidance: float = option(1.0, lo=0, hi=100, help="classifier-free guidance scale for labelled sampling")
    guidance_interval: list = option([], help="labelled sampling: guidance only where the noise level σ = "
                                              "√((1−ᾱ)/ᾱ) lies in [lo, hi], the plain conditional output elsewhere "
                                              "(Kynkäänniemi et al. 2024); [] = at every step")
    label: str = option("", help="class-conditional runs: the class to sample when none is asked for: a class "
                                 "name, an index, or \"each\" (the classes in turn, evenly); empty = unconditional")
    trim_db: float = option(0.0, hi=0, help="written samples: cut each clip after its last sample louder than this "
                                            "many dB below its peak, with a 10 ms fade (one-shots); 0 = keep "
                                            "the full length")
    spacing: str = option("", choices=("",) + SPACINGS,
                          help=f"where the steps go (audiodiff/sampling/spacing.py); empty = the sampler's own "
                               f"({own_spacings()})")
    lambda_min: float = option(0.0, hi=0, help="logsnr/karras: start no noisier than this half log-SNR λ; "
                                               "0 = no clip")
    levels: list = option([], help="explicit training steps to visit, noisiest first (may be fractional); "
                                   "overrides steps and spacing")
    clip_x0: str = option("none", choices=CLIP_X0, help="clip every x̂0 to [-1, 1], or Imagen's dynamic "
                                                        "thresholding")
    dynamic_percentile: float = option(0.995, lo=0, lo_open=True, hi=1,
                                       help="clip_x0 = dynamic: the |x̂0| quantile")

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> "SampleOptions":
        """config.json's "sample" entry (checked at load, audiodiff/model_check.py) → SampleOptions; keys it
        lacks (runs trained before they existed) take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (table or {}).items() if k in names})

    def check(self, num_steps: int) -> None:
        """The checks that need the diffusion's step count, and those of list contents (the β list, the guidance
        interval); ValueError names the key."""
        check_fast_betas(self.fast_betas)
        check_guidance_interval(self.guidance_interval)
        if self.levels:
            check_levels(self.levels, num_steps - 1)
        for key in ("steps", "denoise_steps"):
            if getattr(self, key) > num_steps:
                raise ValueError(f"{key} = {getattr(self, key)}: must be <= the diffusion steps ({num_steps})")

    def resolve(self, sampler: str | None = None, steps: int | None = None, *, part_way: bool = False,
                **given: Any) -> SamplerCall:
        """The SamplerCall of `sampler` (None: this run's) with the `given` options (None = unset; any field but
        sampler, steps and guidance) over this run's.  A given option is kept as is (the call refuses one the
        sampler does not take); the run's apply only where the sampler takes them, its levels only when neither
        steps nor spacing is given, its lambda_min only with a spacing that clips.  part_way: the chain starts at a
        given level (denoising), so the run's levels and lambda_min (made for a chain from pure noise) and a
        spacing that cannot start there are left out."""
        check_option_names(given)     # before None values are dropped: a misspelt option is refused
        record = get_sampler(sampler or self.sampler)
        takes = record.options
        out: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        placed = {"spacing", "levels"} & set(out)   # given placement: the run's levels do not apply
        if "levels" in takes and self.levels and steps is None and not part_way and not placed:
            out["levels"] = list(self.levels)
        elif "levels" not in out:
            own = self.denoise_steps if part_way and self.denoise_steps else self.steps
            if record.counted and steps is None and own:
                steps = own
            if "spacing" in takes and "spacing" not in out and self.spacing and (
                    not part_way or self.spacing in PART_WAY_SPACINGS):
                out["spacing"] = self.spacing
            spacing = out.get("spacing", record.spacing)
            if ("lambda_min" in takes and "lambda_min" not in out and self.lambda_min and spacing in LAMBDA_SPACINGS
                    and not part_way):
                out["lambda_min"] = float(self.lambda_min)
        for key in ("eta", "variance", "fast_betas"):
            if key in takes and key not in out:
                out[key] = list(self.fast_betas) if key == "fast_betas" else getattr(self, key)
        if out.get("clip_x0", self.clip_x0) != "none":
            out.setdefault("clip_x0", self.clip_x0)
            out.setdefault("dynamic_percentile", float(self.dynamic_percentile))
        return SamplerCall.of(record, steps, **out)


# What a call (Pipeline.sample, sample_mel, vocode) may set besides sampler and steps: the options a SamplerCall
# holds (call.option_names); guidance goes with labels, label and trim_db are the sample command's.
CALL_OPTIONS = option_names()
