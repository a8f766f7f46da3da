"""Training: the Trainer and its loop, the classifier's trainer, and what they stand on.

    trainer.py      Trainer: the one loop (batch → micro-batches → clip → step → EMA → log → checkpoint)
    objectives.py   what a step optimises, one class each, and its hooks: diffusion, spectral regression
    classification.py Classification: the evaluation classifier's objective (cross-entropy, accuracy)
    distillation.py distill(run, steps, out): ProgressiveDistillation, the objective that halves DDIM steps
    training_data.py TrainingData: the dataset, its labels and features, the loader, each batch as the net takes it
    run.py          train(recipe, run_dir): trains or resumes any recipe
    train_config.py TrainConfig: the [train] table's keys, defaults and ranges
    lr.py           the learning-rate multiplier: warm-up, then constant or cosine (over steps or a time budget)
    budget.py       the wall-clock budget ([train] minutes, --minutes) and the training clock
    state.py        RunState: checkpoint / resume; config.json, RNG streams, run-directory checks and lock
    distributed.py  the process group, barriers, per-rank seeds
    monitor.py      Monitor: TensorBoard scalars and previews, the mel image renderer; the progress line
    evaluation.py   FID / IS of EMA samples every [train] eval_every steps

The trainer's modules load on first use of their names (`from audiodiff.training import Trainer`):
recipe.py reads TrainConfig from this package and the trainer reads recipes, so importing the package (or
sampling, which never trains) must not pull in the trainer, DistributedDataParallel or TensorBoard.
"""

from __future__ import annotations

import importlib
from typing import Any

from .train_config import TrainConfig
from .errors import TrainingError

# public name → the module of this package that defines it
_LAZY = {"Trainer": "trainer", "MAX_BAD_STEPS": "trainer", "train": "run", "Objective": "objectives",
         "Classification": "classification", "ProgressiveDistillation": "distillation", "distill": "distillation",
         "run_config": "state", "mel_image": "monitor", "LOSS_BINS": "monitor", "RANK_SEED_STRIDE": "distributed"}

__all__ = ["TrainConfig", "TrainingError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
