"""SamplerCall: one reverse chain's sampler settings, resolved once into a frozen object the loop takes.

A call holds the sampler's registry record (looked up once, by `SamplerCall.of` or `SampleOptions.resolve`), the
step count, the options of its plan builder and of its update rule, and the x̂0 clipping.  It is checked when it
is made: an option the sampler does not take is refused by name, the clipping against its choices and range.
`plan(schedule, t_start)` builds the levels, `step(plan, generator)` the update rule; the loop (loop.py) reads
nothing else, so no sampler name travels past this object.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import torch

from ..schedule import NoiseSchedule
from . import registry
from .plans import Plan
from .registry import Sampler, check_takes, quoted, samplers_where
from .steps import Step

CLIP_X0 = ("none", "clip", "dynamic")
CLIP_OPTIONS = ("clip_x0", "dynamic_percentile")   # options of every call: applied where x̂0 is made


def option_names() -> tuple[str, ...]:
    """Every option a call can hold: those the registry's samplers take (registry order), then x̂0 clipping's."""
    return tuple(dict.fromkeys(o for s in registry.SAMPLERS.values() for o in s.options)) + CLIP_OPTIONS


def check_option_names(names: Any) -> None:
    """TypeError naming any of `names` that no sampler option is, with the ones that are."""
    unknown = set(names) - set(option_names())
    if unknown:
        raise TypeError(f"unknown sampler option(s) {', '.join(sorted(unknown))}: choose from "
                        f"{', '.join(option_names())}")


def split_options(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the sampler options among kwargs, the rest): what `SamplerCall.of` takes and what goes to the loop."""
    names = option_names()
    return ({k: v for k, v in kwargs.items() if k in names}, {k: v for k, v in kwargs.items() if k not in names})


@dataclass(frozen=True, repr=False)
class SamplerCall:
    """A sampler with its settings.  steps None: every level from the start (an uncounted sampler, 'fast':
    its own length).  plan_options go to the record's plan builder, step_options to its update rule; None values
    are dropped, lists become tuples, and both are read-only mappings."""

    sampler: Sampler
    steps: int | None = None
    plan_options: Mapping[str, Any] = field(default_factory=dict)
    step_options: Mapping[str, Any] = field(default_factory=dict)
    clip_x0: str = "none"
    dynamic_percentile: float = 0.995

    def __post_init__(self) -> None:
        if not isinstance(self.sampler, Sampler):
            raise TypeError(f"SamplerCall takes a sampler record (audiodiff.sampling.SAMPLERS[name]), got "
                            f"{self.sampler!r}: use SamplerCall.of(name, steps, **options)")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Real)
                                       or not float(self.steps).is_integer() or self.steps < 1):
            raise ValueError(f"steps must be a whole number >= 1 (or None: every step), got {self.steps!r}")
        plan, step = _kept(self.plan_options), _kept(self.step_options)
        check_takes(self.sampler, {**plan, **step})
        for given, kind in ((plan, "plan"), (step, "step")):
            for key in given:
                if key not in getattr(self.sampler, f"{kind}_options"):
                    raise ValueError(f"{key} is not a {kind} option of sampler {self.sampler.name!r}")
        if self.clip_x0 not in CLIP_X0:
            raise ValueError(f"clip_x0 must be one of {', '.join(CLIP_X0)}, got {self.clip_x0!r}")
        if not 0.0 < float(self.dynamic_percentile) <= 1.0:
            raise ValueError(f"dynamic_percentile must be in (0, 1], got {self.dynamic_percentile}")
        object.__setattr__(self, "steps", None if self.steps is None else int(self.steps))
        object.__setattr__(self, "plan_options", MappingProxyType(plan))
        object.__setattr__(self, "step_options", MappingProxyType(step))
        object.__setattr__(self, "dynamic_percentile", float(self.dynamic_percentile))

    @classmethod
    def of(cls, sampler: str | Sampler = "ddpm", steps: int | None = None, **options: Any) -> "SamplerCall":
        """The call of sampler `sampler` (a name of SAMPLERS, looked up here, or its record) with `options` (None =
        unset): TypeError for a name no sampler takes, ValueError naming the samplers that take an option this one
        does not."""
        record = sampler if isinstance(sampler, Sampler) else registry.get_sampler(sampler)
        check_option_names(options)
        clip = {k: v for k, v in options.items() if k in CLIP_OPTIONS and v is not None}
        check_takes(record, {k: v for k, v in options.items() if k not in CLIP_OPTIONS})
        return cls(record, steps, {k: v for k, v in options.items() if k in record.plan_options},
                   {k: v for k, v in options.items() if k in record.step_options}, **clip)

    @property
    def name(self) -> str:
        return self.sampler.name

    def __repr__(self) -> str:
        options = {**self.plan_options, **self.step_options}
        if self.clip_x0 != "none":
            options.update(clip_x0=self.clip_x0, dynamic_percentile=self.dynamic_percentile)
        parts = [repr(self.name), f"steps={self.steps}"] + [f"{k}={v!r}" for k, v in options.items()]
        return f"SamplerCall.of({', '.join(parts)})"

    def with_steps(self, steps: int | None) -> "SamplerCall":
        """The same call with another step count (denoising caps it at the levels below its start)."""
        return dataclasses.replace(self, steps=steps)

    def plan(self, schedule: NoiseSchedule, t_start: float | None = None) -> Plan:
        """The levels to visit, by the record's plan builder, from t_start (None: the noisiest step); a sampler
        taking a spacing gets its own default (the record's) unless a spacing or levels were given."""
        record = self.sampler
        if t_start is not None and not record.starts_part_way:
            raise ValueError(f"sampler {record.name!r} always starts from its own noisiest level; use "
                             f"{quoted(samplers_where(lambda s: s.starts_part_way))} to start part-way")
        given = dict(self.plan_options)
        if "spacing" in record.plan_options and not {"spacing", "levels"} & set(given):
            given["spacing"] = record.spacing
        return record.plan(schedule, self.steps, t_start, **given)

    def step(self, plan: Plan, generator: torch.Generator | None) -> Step:
        """The update rule for `plan`, made once per chain (it may carry state between steps)."""
        return self.sampler.step(plan, generator, **self.step_options)


def _kept(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that are set (not None), lists as tuples (so a call cannot be changed after it is made)."""
    return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in dict(options).items() if v is not None}
