"""`train(recipe, run_dir)`: the one call that trains (or resumes) any recipe."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .state import discard_new_run_dir, new_folders
from .trainer import Trainer

if TYPE_CHECKING:
    from ..recipe import Recipe


def train(recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
          show_progress: bool = True, restart: bool = False, minutes: float | None = None) -> Path:
    """Train (or resume) `recipe` into run_dir; returns run_dir.  Raises interrupt.Interrupted after
    checkpointing when SIGINT / SIGTERM / SIGHUP stops it.  The network's declared objective says what a step
    optimises (a classifier: cross-entropy; see objectives.objective_for).  minutes: train this much
    longer by the wall clock (see budget.py); with max_steps, whichever comes first.  A run that fails before its
    first step removes the folders it created (state.discard_new_run_dir)."""
    created = new_folders(Path(run_dir))
    trainer = None
    try:
        trainer = Trainer(recipe, run_dir, device=device, max_steps=max_steps, show_progress=show_progress,
                          restart=restart, minutes=minutes)
        return trainer.fit()
    except BaseException:
        if trainer is None or trainer.step == 0:   # failed before its first step: leave no empty run folder
            discard_new_run_dir(created)
        raise
