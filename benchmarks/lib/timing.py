"""Timers that report a spread, not one number: a median and its interquartile range over repeated calls."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Hashable


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median, quartiles and the raw samples."""

    median: float
    q1: float
    q3: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        ordered = sorted(samples)
        if len(ordered) < 2:
            return cls(ordered[0], ordered[0], ordered[0], tuple(samples))
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(statistics.median(ordered), q1, q3, tuple(samples))

    def to_dict(self) -> dict:
        return {**asdict(self), "samples": list(self.samples)}


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1,
               sync: Callable[[], None] = lambda: None) -> Timing:
    """Seconds per fn() call over `repeats` calls after `warmup` untimed ones; sync() waits for the device."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return Timing.of(samples)


def alternate(cases: dict[Hashable, Callable[[], Any]], repeats: int, sync: Callable[[], None] = lambda: None,
              before: Callable[[Hashable], None] | None = None,
              after: Callable[[Hashable, Any], None] | None = None) -> dict[Hashable, list[float]]:
    """Seconds per call of each case, the cases called in turn (A B C A B C …) for `repeats` rounds after one
    untimed round, so a busy machine slows them alike.  sync() waits for the device before and after each timed
    call; before(key) runs ahead of each timed call and after(key, output) behind it, both outside the timer
    (resetting and reading a memory peak, checking the output)."""
    times: dict[Hashable, list[float]] = {key: [] for key in cases}
    for round_ in range(repeats + 1):
        for key, fn in cases.items():
            if round_ and before:
                before(key)
            sync()
            t0 = time.perf_counter()
            out = fn()
            sync()
            if round_:
                times[key].append(time.perf_counter() - t0)
                if after:
                    after(key, out)
    return times


def spread_ratio(new: dict, old: dict) -> tuple[float, float, float]:
    """(median ratio new / old, low, high): the ratio and the range its quartiles allow (new q1 / old q3 … new q3 /
    old q1).  Above 1 is slower for a time."""
    return new["median"] / old["median"], new["q1"] / old["q3"], new["q3"] / old["q1"]
