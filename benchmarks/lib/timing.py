"""Timers that report a spread, not one number: a median and its interquartile range over repeated calls."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable


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


def spread_ratio(new: dict, old: dict) -> tuple[float, float, float]:
    """(median ratio new / old, low, high): the ratio and the range its quartiles allow (new q1 / old q3 … new q3 /
    old q1).  Above 1 is slower for a time."""
    return new["median"] / old["median"], new["q1"] / old["q3"], new["q3"] / old["q1"]
