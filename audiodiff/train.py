"""Trainer: AdamW + warm-up, EMA of weights, gradient clipping, bf16 autocast on CUDA, atomic
checkpoints and exact resume.  Pointing it at an existing run directory continues that run.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from . import checkpoint as ckpt
from .data import EpochBatchSampler, build_dataset
from .diffusion import GaussianDiffusion
from .nets import build_network
from .progress import make_progress
from .recipe import Recipe, diffusion_config

log = logging.getLogger("audiodiff")

MAX_BAD_STEPS = 20  # consecutive non-finite losses before the run stops


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, mismatched run directory, …)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(name)


def run_config(recipe: Recipe) -> dict[str, Any]:
    """config.json: what `audiodiff.load` needs to rebuild the model, schedule and audio settings."""
    return {
        "format": "audiodiff", "version": 1, "name": recipe.name, "domain": "waveform",
        "sample_rate": recipe.data.sample_rate, "clip_length": recipe.data.clip_length,
        "model": dict(recipe.model), "diffusion": diffusion_config(recipe.diffusion),
        "sample": asdict(recipe.sample), "recipe": recipe.to_dict(),
    }


def _rng_state() -> dict[str, Any]:
    """Global torch RNG states (dropout and anything else outside the noise generator)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains recipe's model into run_dir; `fit()` runs until max_steps, checkpointing on the way."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
                 show_progress: bool = True):
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.cfg = recipe.train
        self.max_steps = int(max_steps) if max_steps is not None else self.cfg.max_steps
        if self.max_steps < 1:
            raise TrainingError(f"--max-steps must be >= 1, got {self.max_steps}")
        self.device = resolve_device(device if device != "auto" else self.cfg.device)
        self.show_progress = show_progress
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.config = run_config(recipe)
        self._check_run_dir()

        torch.manual_seed(self.cfg.seed)
        self.model = build_network(recipe.model).to(self.device)
        self.diffusion = GaussianDiffusion.from_config(self.config["diffusion"])
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.cfg.ema_decay), use_buffers=True)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.learning_rate,
                                           weight_decay=self.cfg.weight_decay)
        warmup = self.cfg.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
        self.noise_rng = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        self.step = 0
        self.bad_steps = 0
        self.skipped_total = 0
        self._resume()

    # ----------------------------------------------------------------- run directory
    def _check_run_dir(self) -> None:
        path = self.run_dir / ckpt.CONFIG
        if not path.is_file():
            return
        old = ckpt.load_config(self.run_dir)
        for key in ("model", "diffusion", "sample_rate", "clip_length"):
            if old.get(key) != self.config.get(key):
                raise TrainingError(f"{self.run_dir} holds a run with a different {key} "
                                    f"({old.get(key)} vs {self.config.get(key)}); choose another --out")

    def _resume(self) -> None:
        state = ckpt.load_state(self.run_dir)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.noise_rng.set_state(state["noise_rng"])
        _set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.skipped_total = int(state.get("skipped", 0))
        log.info("resuming %s from step %d", self.run_dir, self.step)

    def save_checkpoint(self) -> None:
        """Training state first, then EMA weights and config; each file replaced atomically."""
        ckpt.save_state(self.run_dir, {
            "step": self.step, "skipped": self.skipped_total, "model": self.model.state_dict(),
            "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "noise_rng": self.noise_rng.get_state(), "rng": _rng_state()})
        ckpt.save_weights(self.run_dir, self.ema.module, metadata={"step": str(self.step)})
        ckpt.save_config(self.run_dir, {**self.config, "step": self.step})

    # ----------------------------------------------------------------- loop
    def _loader(self, dataset) -> DataLoader:
        sampler = EpochBatchSampler(len(dataset), self.cfg.batch_size, seed=self.cfg.seed, start_step=self.step)
        workers = self.recipe.data.num_workers
        # Its own generator: otherwise creating the iterator draws a seed from the global RNG after a resume
        # has restored it, and dropout in the resumed run no longer matches the uninterrupted one.
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=self.device.type == "cuda",
                          persistent_workers=workers > 0, generator=torch.Generator().manual_seed(self.cfg.seed))

    def train_step(self, x0: torch.Tensor) -> float | None:
        """One optimiser step on a batch x0: [B, 1, L]; returns the loss, or None if it was not finite."""
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss = self.diffusion.loss(self.model, x0, generator=self.noise_rng)
        value = float(loss.detach())
        if not math.isfinite(value):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.ema.update_parameters(self.model)
        return value

    def fit(self) -> Path:
        """Train until max_steps; returns the run directory."""
        if self.step >= self.max_steps:
            log.info("%s is already trained to step %d (max_steps %d): nothing to do",
                     self.run_dir, self.step, self.max_steps)
            return self.run_dir
        dataset = build_dataset(self.recipe.data, seed=self.cfg.seed, show_progress=self.show_progress)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.save_config(self.run_dir, {**self.config, "step": self.step})
        n_params = sum(p.numel() for p in self.model.parameters())
        log.info("training %s (%s, %.2fM parameters) on %s, %d clips, steps %d → %d, run dir %s",
                 self.recipe.name, self.recipe.model["type"], n_params / 1e6, self.device, len(dataset),
                 self.step, self.max_steps, self.run_dir)
        batches = iter(self._loader(dataset))
        losses: list[float] = []
        start_step, t0 = self.step, time.perf_counter()
        bar = make_progress(transient=False) if self.show_progress else None
        if bar:
            bar.start()
            task = bar.add_task("training", total=self.max_steps, completed=self.step, info="")
        try:
            while self.step < self.max_steps:
                x0 = next(batches).to(self.device, non_blocking=True)
                value = self.train_step(x0)
                self.step += 1
                if value is None:
                    self._on_bad_step()
                else:
                    self.bad_steps = 0
                    losses.append(value)
                if self.step % self.cfg.log_every == 0 or self.step == self.max_steps:
                    rate = (self.step - start_step) / (time.perf_counter() - t0)
                    mean = sum(losses) / max(len(losses), 1)
                    info = f"loss {mean:.4f}  {rate:.2f} steps/s" + (
                        f"  skipped {self.skipped_total}" if self.skipped_total else "")
                    losses.clear()
                    if bar:
                        bar.update(task, info=info)
                    if not bar or not sys.stderr.isatty():
                        log.info("step %d/%d  %s", self.step, self.max_steps, info)
                if bar:
                    bar.advance(task)
                if self.step % self.cfg.checkpoint_every == 0 and self.step < self.max_steps:
                    self.save_checkpoint()
        finally:
            if bar:
                bar.stop()
        self.save_checkpoint()
        log.info("done: %d steps in %.1f s; model saved to %s", self.step - start_step,
                 time.perf_counter() - t0, self.run_dir / ckpt.WEIGHTS)
        return self.run_dir

    def _on_bad_step(self) -> None:
        self.bad_steps += 1
        self.skipped_total += 1
        log.warning("step %d: non-finite loss, step skipped (%d in a row)", self.step, self.bad_steps)
        if self.bad_steps >= MAX_BAD_STEPS:
            last = ckpt.load_config(self.run_dir).get("step", 0) if (self.run_dir / ckpt.CONFIG).is_file() else 0
            raise TrainingError(f"{self.bad_steps} non-finite losses in a row: training diverged; the last good "
                                f"checkpoint is {self.run_dir} at step {last} (lower the learning rate?)")


def train(recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
          show_progress: bool = True) -> Path:
    """Train (or resume) `recipe` into run_dir; returns run_dir."""
    return Trainer(recipe, run_dir, device=device, max_steps=max_steps, show_progress=show_progress).fit()
