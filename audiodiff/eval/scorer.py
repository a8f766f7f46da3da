"""Using the evaluation classifier (recipes/sc09-classifier, nets/audio_classifier.py), and what its trainer
(audiodiff/training/classification.py: Classification) draws on: augmentation, splits, accuracy, metrics.jsonl.

Augmentation, drawn from the trainer's seeded noise generator (so a resumed run sees the same batches):
a time shift of up to ±SHIFT_SECONDS (zero-filled), a gain of ±GAIN_DB, and with probability NOISE_PROB
white noise at an SNR drawn from NOISE_SNR_DB.

Validation accuracy (EMA weights, the recipe's data with split = "valid") is logged every [train]
eval_every steps (TensorBoard valid/accuracy, RUN_DIR/metrics.jsonl) and at the end; the test split's
accuracy is then written into config.json under "metrics" (valid_accuracy, test_accuracy, n_valid, n_test).

`load_classifier(run)` gives the trained network back; `embed(net, waves)` its penultimate features and
log-probabilities, which audiodiff/eval/metrics.py turns into FID, IS, mIS, AM and NDB.
"""

from __future__ import annotations

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

from .. import checkpoint as ckpt
from ..nets import build_network, is_classifier_config  # noqa: F401  (callers import is_classifier_config here)
from ..data import LIST_DATASETS, SPLIT_DATASETS, split_list

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
    """The recipe's [data] table for another split, or None when the dataset has no such split (a folder /
    classes corpus without that split's file list)."""
    if data_cfg.dataset in LIST_DATASETS:
        if not split_list(data_cfg, split):
            return None
    elif data_cfg.dataset not in SPLIT_DATASETS:
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
