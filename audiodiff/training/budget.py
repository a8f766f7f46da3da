"""A run's wall-clock budget ([train] minutes, `audiodiff train --minutes M`) and its training clock.

The clock counts the seconds spent in the training loop over the run's whole life (resumes add up; data
preparation and caching before the first step are not counted, the trainer logs them apart).  A budget is
the total of those seconds a run may spend: training stops at the first step boundary past it, with the
final checkpoint as at the end of a step-counted run.

Which budget a run gets (`resolve_budget`): `--minutes M` gives M more minutes on top of what the run has
already trained (so a second `--minutes` adds to it); without it, a resumed run keeps the budget it had,
and a new one takes the recipe's `[train] minutes` (0 = no budget: max_steps alone ends the run).
"""

from __future__ import annotations

import math
import time

from .errors import TrainingError


class BudgetError(TrainingError):
    """A budget that is not a positive, finite number of minutes."""


def check_minutes(minutes: float, where: str) -> float:
    """minutes as a float, or BudgetError naming `where` (the option or recipe key) unless positive and finite."""
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        raise BudgetError(f"{where} must be a number of minutes, got {minutes!r}") from None
    if isinstance(minutes, bool) or not math.isfinite(value) or value <= 0:
        raise BudgetError(f"{where} must be a positive number of minutes (e.g. 30 or 0.5), got {minutes!r}")
    return value


def resolve_budget(cli_minutes: float | None, recipe_minutes: float, saved_seconds: float | None,
                   spent_seconds: float) -> float | None:
    """The run's budget in training seconds (None: no budget).  cli_minutes: `--minutes` (adds to what is
    spent); saved_seconds: the budget a resumed run was trained under; recipe_minutes: [train] minutes (0 = none)."""
    if cli_minutes is not None:
        return spent_seconds + 60.0 * check_minutes(cli_minutes, "--minutes")
    if saved_seconds is not None:
        return float(saved_seconds)
    if recipe_minutes:
        return 60.0 * float(recipe_minutes)
    return None


class TrainingClock:
    """Seconds spent training: `spent` from earlier sessions of the run plus this one's since `start()`."""

    def __init__(self, spent: float = 0.0):
        self.spent = float(spent)
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        return self.spent + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)


def format_minutes(seconds: float) -> str:
    """'12.5 min' (a budget or a spent time, for log lines)."""
    return f"{seconds / 60:.1f} min"


class Budget:
    """A run's budget as the trainer holds it: the training clock, the budget (None: none) and the clock reading
    every rank agreed on at the last step (the trainer all-reduces it, so all ranks stop after the same step)."""

    def __init__(self, seconds: float | None, clock: TrainingClock):
        self.seconds, self.clock, self.agreed = seconds, clock, clock.spent

    @property
    def over(self) -> bool:
        return self.seconds is not None and self.agreed >= self.seconds

    @property
    def fraction(self) -> float | None:
        """The share of the budget spent at the last step; None without a budget."""
        return None if self.seconds is None else self.agreed / self.seconds

    def opening(self) -> str:
        """For the opening log line: ' or 30.0 min of training (12.0 min done)'."""
        if self.seconds is None:
            return ""
        return f" or {format_minutes(self.seconds)} of training ({format_minutes(self.clock.spent)} done)"

    def closing(self) -> str:
        """For the closing log line: ' (30.1 min of a 30.0 min budget: stopped at the budget)'."""
        if self.seconds is None:
            return ""
        why = ": stopped at the budget" if self.over else ""
        return f" ({format_minutes(self.agreed)} of a {format_minutes(self.seconds)} budget{why})"
