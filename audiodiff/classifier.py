"""Training and using the evaluation classifier (recipes/sc09-classifier, nets/classifier.py).

A recipe whose [model] type is a classification network (its class says `objective = "classification"`)
is trained by `ClassifierTrainer`: the diffusion Trainer's loop, batches, EMA, checkpoints, resume and
TensorBoard, with the diffusion loss replaced by cross-entropy on augmented, labelled clips.

Augmentation, drawn from the trainer's seeded noise generator (so a resumed run sees the same batches):
a time shift of up to ±SHIFT_SECONDS (zero-filled), a gain of ±GAIN_DB, and with probability NOISE_PROB
white noise at an SNR drawn from NOISE_SNR_DB.

Validation accuracy (EMA weights, the recipe's data with split = "valid") is logged every [train]
eval_every steps (TensorBoard valid/accuracy, RUN_DIR/metrics.jsonl) and at the end; the test split's
accuracy is then written into config.json under "metrics" (valid_accuracy, test_accuracy, n_valid, n_test).

`load_classifier(run)` gives the trained network back; `embed(net, waves)` its penultimate features and
log-probabilities, which audiodiff/metrics.py turns into FID, IS, mIS, AM and NDB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import checkpoint as ckpt
from .data import SPLIT_DATASETS, build_dataset
from .nets import build_network, is_classifier_config  # noqa: F401  (callers import is_classifier_config here)
from .precision import autocast as precision_autocast
from .recipe import Recipe
from .train import Trainer, TrainingError

log = logging.getLogger("audiodiff")

SHIFT_SECONDS = 0.1
GAIN_DB = 6.0
NOISE_PROB = 0.5
NOISE_SNR_DB = (15.0, 40.0)
EVAL_BATCH = 64
METRICS_FILE = "metrics.jsonl"


def augment(wave: Tensor, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Random time shift, gain and white noise for a batch of clips wave [B, 1, L] (same shape back)."""
    b, _, n = wave.shape
    dev = wave.device
    u = torch.rand(b, 4, device=dev, generator=generator)
    max_shift = int(SHIFT_SECONDS * sample_rate)
    shifts = ((u[:, 0] * 2 - 1) * max_shift).round().long().tolist()
    out = torch.zeros_like(wave)
    for i, s in enumerate(shifts):
        if s >= 0:
            out[i, :, s:] = wave[i, :, :n - s]
        else:
            out[i, :, :n + s] = wave[i, :, -s:]
    out = out * (10 ** ((u[:, 1] * 2 - 1) * GAIN_DB / 20))[:, None, None]
    rms = out.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-5)
    snr = NOISE_SNR_DB[0] + u[:, 2] * (NOISE_SNR_DB[1] - NOISE_SNR_DB[0])
    scale = rms * (10 ** (-snr / 20))[:, None, None] * (u[:, 3] < NOISE_PROB)[:, None, None]
    noise = torch.randn(out.shape, device=dev, generator=generator)
    return (out + scale * noise).clamp(-1.0, 1.0)


@torch.no_grad()
def embed(net: nn.Module, waves: Tensor, batch_size: int = EVAL_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Clips waves [N, L] (at the classifier's rate and length) → (penultimate features [N, D], log-softmax
    [N, K]), both float64 numpy arrays, computed in eval mode on the network's device."""
    net.eval()
    dev = next(net.parameters()).device
    feats, logp = [], []
    for start in range(0, waves.shape[0], batch_size):
        x = waves[start:start + batch_size].to(dev).float()
        f = net.features(x)
        feats.append(f.double().cpu())
        logp.append(F.log_softmax(net.head(f).double(), dim=-1).cpu())
    return torch.cat(feats).numpy(), torch.cat(logp).numpy()


def load_classifier(run: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A classifier run directory → (network with its EMA weights, in eval mode; its config.json)."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"no classifier at {run}: expected a run of recipes/sc09-classifier "
                                f"(audiodiff train recipes/sc09-classifier)")
    config = ckpt.load_config(run)
    if not is_classifier_config(config.get("model", {})):
        raise ValueError(f"{run} is not a classifier run ([model] type = {config.get('model', {}).get('type')!r}); "
                         f"train one with: audiodiff train recipes/sc09-classifier")
    net = build_network(config["model"])
    ckpt.load_weights(run, net)
    return net.to(device).eval(), config


def split_data(data_cfg: Any, split: str) -> Any | None:
    """The recipe's [data] table for another split, or None when the dataset has no splits."""
    if data_cfg.dataset not in SPLIT_DATASETS:
        return None
    return dataclasses.replace(data_cfg, split=split, download=False)


def clips_and_labels(dataset) -> tuple[Tensor, Tensor | None]:
    """Every clip of a ClipDataset, first clip_length samples (no random crop): ([N, L], labels [N] or None)."""
    dataset.random_crop = False
    waves = torch.stack([dataset[i]["audio"].reshape(-1) for i in range(len(dataset))])
    labels = torch.tensor(dataset.labels) if dataset.labels is not None else None
    return waves, labels


def accuracy(net: nn.Module, waves: Tensor, labels: Tensor) -> float:
    _, logp = embed(net, waves)
    return float((logp.argmax(1) == labels.numpy()).mean())


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

    def train_step(self, x0: Tensor, labels: Tensor | None = None, **_: Tensor) -> float | None:
        """One optimiser step of cross-entropy on augmented clips x0 [B, 1, L] with labels [B]."""
        self.train_model.train()
        x = augment(x0, self.recipe.data.sample_rate, self.noise_rng)
        n = self.cfg.grad_accum
        chunks = list(zip(x.chunk(n), labels.chunk(n)))
        loss_sum = None
        for i, (xb, yb) in enumerate(chunks):
            last = i == len(chunks) - 1
            sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
            with sync:
                with precision_autocast(self.precision, self.device):
                    loss = F.cross_entropy(self.train_model(xb).float(), yb) * (xb.shape[0] / x.shape[0])
                loss.backward()
            loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
        return self._reduce_and_step(loss_sum)

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


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """One JSON line per evaluation in RUN_DIR/metrics.jsonl (history kept across resumes)."""
    path = Path(run_dir) / METRICS_FILE
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")


def trim_metrics(run_dir: Path, step: int) -> None:
    """Drop the lines a killed run wrote after its last checkpoint (`step`), as TensorBoard's purge_step does,
    so the resumed run does not log those steps twice."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.strip() and _line_step(ln) <= step]
    if len(kept) != len(lines):
        ckpt.atomic_write(path, lambda tmp: Path(tmp).write_text("".join(ln + "\n" for ln in kept)))


def _line_step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 1 << 62   # a torn last line from a kill: dropped


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
