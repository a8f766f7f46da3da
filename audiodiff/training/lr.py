"""The learning-rate multiplier of [train]: a linear warm-up over warmup_steps, then "constant", or "cosine" down
to min_lr_ratio × learning_rate at the recipe's [train] max_steps (not at --max-steps, so stopping early and
resuming later follows the same curve as one uninterrupted run; past max_steps it stays at the floor).  A run
with a time budget (budget.py) decays over the budget's elapsed fraction instead, or over max_steps if that comes
first, so a short budget still ends decayed; its warm-up stays counted in steps (it is for the optimiser's first
updates, however fast the machine)."""

from __future__ import annotations

import math

from .train_config import TrainConfig


def lr_factor(s: int, cfg: TrainConfig, time_fraction: float | None = None) -> float:
    """Multiplier of cfg.learning_rate for the optimiser update after `s` earlier ones; time_fraction: the share
    of a time budget spent (None: no budget)."""
    warmup, total = cfg.warmup_steps, cfg.max_steps
    if warmup and s + 1 < warmup:
        return (s + 1) / warmup
    if cfg.lr_schedule == "constant" or (total <= warmup and time_fraction is None):
        return 1.0
    progress = (s + 1 - warmup) / (total - warmup) if total > warmup else 0.0
    if time_fraction is not None:
        progress = max(progress, time_fraction)
    progress = min(1.0, max(0.0, progress))
    floor = cfg.min_lr_ratio
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
