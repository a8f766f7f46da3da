"""A run's TensorBoard scalars, read once the same way by every study that tables or plots them."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def scalar_events(run_dir: Path) -> Any:
    """The loaded EventAccumulator over run_dir/tb, keeping every scalar event (TensorBoard's default keeps a
    sample of 10,000): `.Scalars(tag)`, `.Tags()["scalars"]`, `.FirstEventTimestamp()`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir) / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return acc
