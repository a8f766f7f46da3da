"""The evaluation classifier's objective (recipes/sc09-classifier), trained by the Trainer's one loop.

A recipe whose [model] type is a classification network (its class says `objective = "classification"`) is
trained with `Classification`: cross-entropy on augmented, labelled clips, the labels being what it learns (never
dropped, their count must be the network's).  It makes no audio to preview; it is scored by its accuracy:
validation accuracy every [train] eval_every steps (`ValidationAccuracy`), validation and test accuracy at the end
of the run into config.json's "metrics".  See audiodiff/eval/scorer.py.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checkpoint as ckpt
from ..data import build_dataset
from ..eval.scorer import accuracy, append_metrics, augment, clips_and_labels, split_data, trim_metrics
from .errors import TrainingError
from .objectives import Objective

log = logging.getLogger("audiodiff")


class Classification(Objective):
    """Cross-entropy of the network's logits on clips augmented by a random shift, gain and white noise
    (eval/scorer.augment, drawn for the whole batch) against cond["labels"] [b]; accuracy on the recipe's
    validation and test splits (built once, on first use)."""

    labels_are_targets = True
    makes_audio = False

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._splits: dict[str, tuple[Tensor, Tensor]] = {}

    @classmethod
    def for_model(cls, model_cfg: dict[str, Any], data_rate: int | None) -> "Classification":
        """The objective of the classifier model_cfg builds; its [model] sample_rate follows [data] (data_rate),
        set into model_cfg when absent, refused when it differs (before the run folder exists)."""
        rate = int(model_cfg.setdefault("sample_rate", data_rate) if data_rate else model_cfg["sample_rate"])
        if data_rate and rate != data_rate:
            raise TrainingError(f"[model] sample_rate = {rate} differs from [data] sample_rate = {data_rate}; "
                                f"leave it out and it follows [data]")
        return cls(rate)

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return {"augmented": augment(x0, self.sample_rate, generator)}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(model(drawn["augmented"]).float(), cond["labels"], reduction="none")

    def accuracy(self, trainer: Any, split: str) -> tuple[float, int] | None:
        """(accuracy of the EMA weights, clip count) on the recipe's `split`, or None when it has none."""
        if split not in self._splits:
            cfg = split_data(trainer.recipe.data, split)
            if cfg is None:
                return None
            self._splits[split] = clips_and_labels(build_dataset(cfg, seed=trainer.cfg.seed, show_progress=False))
        waves, labels = self._splits[split]
        return accuracy(trainer.ema.module, waves, labels), len(labels)

    def evaluator(self, trainer: Any) -> "ValidationAccuracy | None":
        return ValidationAccuracy(trainer, self) if trainer.cfg.eval_every else None

    def after_fit(self, trainer: Any) -> None:
        """Rank 0: validation and test accuracy into config.json's "metrics" (unless a finished run has them)."""
        if not trainer.is_main:
            return
        if trainer.data.dataset is None and "metrics" in ckpt.load_config(trainer.run_dir):
            return   # trained and measured already
        metrics: dict[str, Any] = {"step": trainer.step}
        for split in ("valid", "test"):
            result = self.accuracy(trainer, split)
            if result is not None:
                metrics[f"{split}_accuracy"], metrics[f"n_{split}"] = result
        if len(metrics) > 1:
            log.info("classifier at step %d: %s", trainer.step, ", ".join(
                f"{k.replace('_', ' ')} {100 * v:.2f}%" for k, v in metrics.items() if k.endswith("accuracy")))
        trainer.config["metrics"] = metrics
        ckpt.save_config(trainer.run_dir, {**trainer.config, "step": trainer.step})


class ValidationAccuracy:
    """Every [train] eval_every steps (rank 0): validation accuracy of the EMA weights, logged, in TensorBoard and
    in RUN_DIR/metrics.jsonl (whose lines after the step a resumed run starts from are dropped first)."""

    def __init__(self, trainer: Any, objective: Classification):
        self.trainer, self.objective = trainer, objective
        trim_metrics(trainer.run_dir, trainer.step)

    def run(self) -> None:
        t = self.trainer
        result = self.objective.accuracy(t, "valid")
        if result is None:
            log.info("step %d: [data] dataset %r has no validation split to report accuracy on",
                     t.step, t.recipe.data.dataset)
            return
        acc, n = result
        log.info("step %d: validation accuracy %.2f%% (%d clips)", t.step, 100 * acc, n)
        if t.writer is not None:
            t.writer.add_scalar("valid/accuracy", acc, t.step)
        append_metrics(t.run_dir, {"step": t.step, "valid_accuracy": acc})
