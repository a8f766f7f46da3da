"""Quality while training: [train] eval_every / eval_n / eval_classifier.

Every eval_every steps the Trainer calls `TrainingEvaluator.run()` (rank 0): eval_n clips are generated from
the EMA weights as `audiodiff sample` makes them by default (the run's [sample] settings, seed 0; a
class-conditional model cycles through its classes, which also gives an accuracy), resampled and cropped /
padded to the classifier's input, and scored against the classifier's reference statistics (its training
split, cached; see audiodiff/eval/evaluate.py).  The scores go to

- TensorBoard: eval/fid, eval/is, eval/mis, eval/am, eval/ndb (and eval/accuracy);
- RUN_DIR/metrics.jsonl, one JSON line per evaluation.  When a killed run resumes from its checkpoint at
  step s, the lines after s are dropped first (they are evaluated again), so the history has each step once;
- RUN_DIR/best/: config.json + model.safetensors of the lowest-FID evaluation so far, a run directory that
  `audiodiff.load` and `audiodiff sample --model RUN_DIR/best` take; its config.json's "eval" holds the scores.

Vocoder runs generate no free-running samples and are not scored.  The classifier is built inside
torch.random.fork_rng, so evaluating leaves the training's random streams (and exact resume) alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint as ckpt
from ..audio import crop_or_pad, resample
from ..eval.scorer import append_metrics, load_classifier, trim_metrics
from ..domains import get_domain
from ..eval.evaluate import reference_stats, score_waves
from ..pipeline import Pipeline
from .errors import TrainingError

log = logging.getLogger("audiodiff")

BEST_DIR = "best"
SAMPLE_BATCH = 32
SCALARS = ("fid", "is", "mis", "am", "ndb", "accuracy")


class TrainingEvaluator:
    """Scores a Trainer's EMA samples; built when a (possibly resumed) run starts, so a classifier or
    reference set that cannot be read stops the run before its first step."""

    def __init__(self, trainer: Any):
        self.trainer = trainer
        cfg = trainer.cfg
        if not cfg.eval_classifier:
            raise TrainingError("[train] eval_every needs [train] eval_classifier = a classifier run directory "
                                "(audiodiff train recipes/sc09-classifier)")
        if not get_domain(trainer.config.get("domain", "waveform")).generates:
            raise TrainingError("[train] eval_every: a vocoder run makes no free-running samples to score; set "
                                "eval_every = 0")
        self.classifier = Path(cfg.eval_classifier)
        with torch.random.fork_rng(devices=[]):
            self.net, self.net_config = load_classifier(self.classifier, trainer.device)
        self.reference = reference_stats(self.classifier, self.net, self.net_config)
        self.run_dir = Path(trainer.run_dir)
        # built when this run starts at step s: lines after s are a killed run's lost work
        trim_metrics(self.run_dir, trainer.step)
        best = self.run_dir / BEST_DIR / ckpt.CONFIG
        self.best_fid = float(ckpt.load_config(best.parent).get("eval", {}).get("fid", float("inf"))) \
            if best.is_file() else float("inf")

    def _samples(self) -> tuple[torch.Tensor, list[str | None] | None]:
        """eval_n clips [n, L] at the classifier's rate and length, and their class names when conditional."""
        t = self.trainer
        pipe = Pipeline.for_config(t.ema.module, t.diffusion, t.config, device=t.device)
        n = t.cfg.eval_n
        num_classes = int(getattr(t.ema.module, "num_classes", 0) or 0)
        names = t.config.get("class_names") or []
        each = pipe.class_labels("each", n) if num_classes else None   # the classes in turn
        generator = pipe._generator(0)
        waves, labels = [], []
        for start in range(0, n, SAMPLE_BATCH):
            count = min(SAMPLE_BATCH, n - start)
            cls = each[start:start + count] if each else None
            waves.append(pipe.sample(count, generator=generator, labels=cls))
            labels += [names[c] if c < len(names) else None for c in cls] if cls else [None] * count
        wav = torch.cat(waves)
        rate, length = int(self.net_config["sample_rate"]), int(self.net_config["clip_length"])
        wav = crop_or_pad(resample(wav, pipe.sample_rate, rate), length, random=False)
        return wav, (labels if num_classes else None)

    def run(self) -> dict[str, Any]:
        t = self.trainer
        start = time.perf_counter()
        waves, labels = self._samples()
        metrics, _, _ = score_waves(waves, self.net, self.net_config, self.reference, labels)
        record = {"step": t.step, **{k: metrics[k] for k in SCALARS if k in metrics}, "n": len(waves)}
        if t.writer is not None:
            for k in SCALARS:
                if k in record:
                    t.writer.add_scalar(f"eval/{k}", record[k], t.step)
        append_metrics(self.run_dir, record)
        best = record["fid"] < self.best_fid
        if best:
            self.best_fid = record["fid"]
            self._save_best(record)
        log.info("step %d: FID %.3f  IS %.2f  mIS %.2f  AM %.3f  NDB %.2f%s (%d samples, %.1f s)", t.step,
                 record["fid"], record["is"], record["mis"], record["am"], record["ndb"],
                 "  best so far → best/" if best else "", len(waves), time.perf_counter() - start)
        return record

    def _save_best(self, record: dict[str, Any]) -> None:
        t = self.trainer
        folder = self.run_dir / BEST_DIR
        config = {**t.config, "step": t.step, "eval": record}
        ckpt.save_model(folder, t.ema.module, config, metadata={"step": str(t.step)})
