"""The sampler registry: one record per sampler, read by the loop, the Pipeline, the tasks, the CLI, the recipe
checks and the README test, so nothing else compares sampler names.

A record holds the sampler's plan builder (plans.py), its update rule (steps.py), the options it takes, and
what it can do: start part-way (denoising starts at a measured noise level) and resample (RePaint's jumps).

To add a sampler: write its update rule in steps.py (a builder `rule(plan, generator, **options) -> Step`)
and add one `Sampler(...)` record to `_RECORDS` below (reuse `placed_plan` unless it places its own levels);
then document it in the README's sampler table (tests/core/test_readme_samplers.py checks that).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from .plans import Plan, fast_betas_plan, placed_plan
from .steps import DPMSolverPP2M, Step, ancestral, ddim

# (schedule, steps, t_start, **plan options) -> Plan;  (plan, generator, **step options) -> Step
PlanBuilder = Callable[..., Plan]
StepBuilder = Callable[..., Step]


@dataclass(frozen=True)
class Sampler:
    """One sampler.  `plan_options` go to `plan`, `step_options` to `step`; an option a sampler does not list
    is refused by name.  Every sampler takes `steps`: a `counted` plan has `steps` levels (the run's [sample]
    steps apply), an uncounted one fixes its own length and only checks a given `steps` against it."""

    name: str
    plan: PlanBuilder
    step: StepBuilder
    plan_options: tuple[str, ...] = ()
    step_options: tuple[str, ...] = ()
    spacing: str | None = "trailing"  # the default `spacing` of a sampler taking one (audiodiff/sampling/spacing.py;
                                      # chosen by benchmarks/studies/few_step.py, see the README's sampler table)
    counted: bool = True
    starts_part_way: bool = True      # can begin at a given level t_start from a given x_start
    resamples: bool = False           # can take RePaint's jumps back up (resample > 1)
    summary: str = ""

    @property
    def options(self) -> tuple[str, ...]:
        return self.plan_options + self.step_options


PLACEMENT = ("spacing", "lambda_min", "levels")

_RECORDS = (
    Sampler("ddpm", placed_plan, ancestral, PLACEMENT, ("variance",), resamples=True,
            summary="Ho et al. 2020 eq. 11, variance β̃_t (posterior) or β_t"),
    Sampler("ddim", placed_plan, ddim, PLACEMENT, ("eta",), resamples=True,
            summary="DDIM (Song et al. 2021), stochasticity η = eta"),
    Sampler("fast", fast_betas_plan, ancestral, ("fast_betas",), ("variance",), spacing=None, counted=False,
            starts_part_way=False, summary="DiffWave's short inference schedule aligned to fractional steps"),
    Sampler("dpm++", placed_plan, DPMSolverPP2M, PLACEMENT,
            summary="DPM-Solver++(2M) (Lu et al. 2022), a second-order exponential integrator in log-SNR"),
)

# name -> record.  Read-only; iterating gives the names, so `name in SAMPLERS` and ", ".join(SAMPLERS) work.
SAMPLERS: Mapping[str, Sampler] = MappingProxyType({s.name: s for s in _RECORDS})


def get_sampler(name: str) -> Sampler:
    """The record of sampler `name`, or ValueError listing the known ones."""
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def samplers_where(test: Callable[[Sampler], bool]) -> tuple[str, ...]:
    """Names of the samplers whose record passes `test`, in registry order."""
    return tuple(s.name for s in SAMPLERS.values() if test(s))


def own_spacings() -> str:
    """The samplers' default spacings in words, e.g. "trailing for 'ddpm', 'ddim' and 'dpm++'" (for help texts)."""
    by_spacing: dict[str, list[str]] = {}
    for s in SAMPLERS.values():
        if "spacing" in s.plan_options:
            by_spacing.setdefault(s.spacing, []).append(s.name)
    return "; ".join(f"{spacing} for {quoted(names)}" for spacing, names in by_spacing.items())


def quoted(names: Iterable[str]) -> str:
    """'a', 'b' and 'c' — for error messages."""
    names = [repr(n) for n in names] or ["none"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_takes(sampler: Sampler, options: Mapping[str, Any]) -> None:
    """Refuse any option given (not None) that `sampler` does not take, naming the samplers that do."""
    for key, value in options.items():
        if value is not None and key not in sampler.options:
            takers = samplers_where(lambda s: key in s.options)
            raise ValueError(f"{key} applies to sampler {quoted(takers)} only, not {sampler.name!r}")
