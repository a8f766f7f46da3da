"""ClassifierTrainer: the evaluation classifier (recipes/sc09-classifier) trained by the diffusion Trainer's loop.

A recipe whose [model] type is a classification network (its class says `objective = "classification"`)
is trained by `ClassifierTrainer`: the Trainer's loop and step, batches, EMA, checkpoints, resume and
TensorBoard, with the objective cross-entropy on augmented, labelled clips (objectives.Classification).  What is
left here is what a classifier measures: its labels, and validation / test accuracy.
Validation accuracy is logged every [train] eval_every steps and at the end; see audiodiff/eval/scorer.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from .. import checkpoint as ckpt
from ..eval.scorer import accuracy, append_metrics, clips_and_labels, split_data, trim_metrics
from ..data import build_dataset
from .errors import TrainingError
from .trainer import Trainer

if TYPE_CHECKING:
    from ..recipe import Recipe

log = logging.getLogger("audiodiff")


class ClassifierTrainer(Trainer):
    """The Trainer with a cross-entropy objective; see the module docstring."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, **kwargs: Any):
        rate = recipe.model.setdefault("sample_rate", recipe.data.sample_rate)
        if rate != recipe.data.sample_rate:
            raise TrainingError(f"[model] sample_rate = {rate} differs from [data] sample_rate = "
                                f"{recipe.data.sample_rate}; leave it out and it follows [data]")
        self._splits: dict[str, tuple[Tensor, Tensor]] = {}
        super().__init__(recipe, run_dir, **kwargs)

    def _use_labels(self, dataset) -> None:
        self.num_classes = int(self.model.num_classes)
        names = getattr(dataset, "class_names", None)
        if getattr(dataset, "labels", None) is None or not names:
            raise TrainingError(f"a classifier needs a labelled dataset (e.g. dataset = \"speechcommands\"); "
                                f"{self.recipe.data.dataset!r} has no labels")
        if self.num_classes != len(names):
            raise TrainingError(f"[model] num_classes = {self.num_classes} but the dataset has {len(names)} classes "
                                f"({', '.join(names)})")
        self.config["class_names"] = list(names)

    def _drop_labels(self, labels: Tensor | None) -> Tensor | None:
        return None if labels is None else labels.to(self.device, non_blocking=True)   # no label dropout

    def _preview(self) -> None:
        """A classifier makes no audio to preview."""

    def _split(self, split: str) -> tuple[Tensor, Tensor] | None:
        if split not in self._splits:
            cfg = split_data(self.recipe.data, split)
            if cfg is None:
                return None
            ds = build_dataset(cfg, seed=self.cfg.seed, show_progress=False)
            waves, labels = clips_and_labels(ds)
            self._splits[split] = (waves, labels)
        return self._splits[split]

    def _accuracy(self, split: str) -> tuple[float, int] | None:
        data = self._split(split)
        if data is None:
            return None
        acc = accuracy(self.ema.module, *data)
        return acc, len(data[1])

    def _start_evaluation(self) -> None:
        """Validation needs no sample scorer (see _evaluate)."""

    def _evaluate(self) -> None:
        """Validation accuracy of the EMA weights: logged, in TensorBoard and in RUN_DIR/metrics.jsonl."""
        if not self.is_main:
            return
        result = self._accuracy("valid")
        if result is None:
            log.info("step %d: [data] dataset %r has no validation split to report accuracy on",
                     self.step, self.recipe.data.dataset)
            return
        acc, n = result
        log.info("step %d: validation accuracy %.2f%% (%d clips)", self.step, 100 * acc, n)
        if self.writer is not None:
            self.writer.add_scalar("valid/accuracy", acc, self.step)
        append_metrics(self.run_dir, {"step": self.step, "valid_accuracy": acc})

    def _fit(self) -> None:
        if self.is_main:
            trim_metrics(self.run_dir, self.step)
        super()._fit()
        if not self.is_main:
            return
        if self._dataset is None and "metrics" in ckpt.load_config(self.run_dir):
            return   # trained and measured already
        metrics: dict[str, Any] = {"step": self.step}
        for split in ("valid", "test"):
            result = self._accuracy(split)
            if result is not None:
                metrics[f"{split}_accuracy"], metrics[f"n_{split}"] = result
        if len(metrics) > 1:
            log.info("classifier at step %d: %s", self.step, ", ".join(
                f"{k.replace('_', ' ')} {100 * v:.2f}%" for k, v in metrics.items() if k.endswith("accuracy")))
        self.config["metrics"] = metrics
        ckpt.save_config(self.run_dir, {**self.config, "step": self.step})
