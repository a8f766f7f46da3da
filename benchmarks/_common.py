"""Helpers shared by the benchmark scripts: machine description and JSON output."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Hashable
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(path: str | Path, result: dict) -> Path:
    """Write a benchmark's result as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def alternate(cases: dict[Hashable, Callable[[], object]], repeats: int,
              sync: Callable[[], None] = lambda: None) -> dict[Hashable, list[float]]:
    """Seconds per call of each case, the cases called in turn (A B C A B C …) for `repeats` rounds after one
    untimed round, so a busy machine slows them alike.  sync() waits for the device before each reading."""
    times: dict[Hashable, list[float]] = {key: [] for key in cases}
    for round_ in range(repeats + 1):
        for key, fn in cases.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if round_:
                times[key].append(time.perf_counter() - t0)
    return times
