"""audiodiff's Trainer timed from one train_step call to the next, and against the raw step on the same network."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .fixtures import DIFFWAVE, diffwave, train_step, write_tones
from .timing import Timing, time_calls

WARM_STEPS = 3   # steps left out at the start of each side (allocation, first batches)


def mark_steps(trainer: Any) -> tuple[list[float], list[Any]]:
    """Wrap trainer.train_step: each call appends perf_counter() (the device synchronised first) to the first list
    before it runs, and its return value to the second."""
    marks: list[float] = []
    values: list[Any] = []
    step = trainer.train_step

    def marked(*args: Any, **kwargs: Any) -> Any:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        marks.append(time.perf_counter())
        value = step(*args, **kwargs)
        values.append(value)
        return value

    trainer.train_step = marked
    return marks, values


def trainer_vs_raw(size: str) -> dict:
    """The Trainer (data, EMA, clipping, loss bins, logging; checkpoints only at the end) timed from one train_step
    call to the next, against the raw step on the same network and batch, raw before and after it; fp32 on the CPU
    at DIFFWAVE[size].  median / q1 / q3 are raw / trainer (higher is better: 1 is no overhead)."""
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer

    layers, channels, cycle, batch, length, repeats = DIFFWAVE[size]
    net, diffusion, x0, _ = diffwave(size)
    raw = train_step(net, diffusion, x0)
    before = time_calls(raw, repeats, warmup=WARM_STEPS)
    with tempfile.TemporaryDirectory(prefix="suite-trainer-") as tmp:
        write_tones(Path(tmp) / "audio", 4 * batch, length, 16000)
        recipe = recipe_from_dict({
            "name": "suite", "data": {"dataset": "folder", "root": str(Path(tmp) / "audio"), "sample_rate": 16000,
                                      "clip_length": length},
            "model": {"type": "diffwave", "residual_layers": layers, "residual_channels": channels,
                      "dilation_cycle": cycle},
            "diffusion": {"schedule": "linear", "num_steps": 200, "beta_start": 1e-4, "beta_end": 0.02},
            "train": {"batch_size": batch, "max_steps": 2 * repeats + WARM_STEPS + 1, "device": "cpu",
                      "precision": "fp32",
                      "checkpoint_every": 10 ** 6, "log_every": 10 ** 6}}, source="suite")
        trainer = Trainer(recipe, Path(tmp) / "run", device="cpu", show_progress=False)
        marks, _ = mark_steps(trainer)
        trainer.fit()
    gaps = [b - a for a, b in zip(marks, marks[1:])][WARM_STEPS:]   # the first steps hold the start-up
    after = time_calls(raw, repeats, warmup=0)
    raw_all = Timing.of(list(before.samples) + list(after.samples))
    timed = Timing.of(gaps)
    ratios = sorted(raw_all.median / g for g in gaps)
    return {"unit": "raw/trainer", "median": raw_all.median / timed.median, "q1": raw_all.q1 / timed.q3,
            "q3": raw_all.q3 / timed.q1, "samples": ratios, "higher_is_better": True,
            "trainer": timed.to_dict(), "raw": raw_all.to_dict(), "shape": list(x0.shape)}
