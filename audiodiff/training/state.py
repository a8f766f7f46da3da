"""A run directory's state: config.json, the RNG streams, checkpoint and exact resume, the checks and the lock.

Checkpoints are written as one atomic unit (see checkpoint.py), so a kill at any moment leaves the last one
loadable, and the same command resumes from it with bit-exact results on CPU.  Only one trainer at a time
writes a run directory: it holds RUN_DIR/.lock (see runlock.py).  A damaged training_state.pt, or trained
weights without one, are refused unless `restart` (--restart) says to train from step 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

from .. import checkpoint as ckpt
from ..run_features import domain_config
from ..recipe import Recipe, diffusion_config
from ..runlock import RunLock
from .distributed import launch_rank, rank_seed
from .errors import TrainingError

log = logging.getLogger("audiodiff")

# config.json keys a resumed run must share with the run directory's (domain defaults to "waveform")
RUN_KEYS = ("model", "diffusion", "sample_rate", "clip_length", "domain")


def run_config(recipe: Recipe) -> dict[str, Any]:
    """config.json: what `audiodiff.load` needs to rebuild the model, schedule and audio settings."""
    return {
        "format": "audiodiff", "version": 1, "name": recipe.name, **domain_config(recipe),
        "sample_rate": recipe.data.sample_rate, "clip_length": recipe.data.clip_length,
        "level_rms": recipe.data.level_rms,
        "model": dict(recipe.model), "diffusion": diffusion_config(recipe.diffusion),
        "sample": asdict(recipe.sample), "recipe": recipe.to_dict(),
    }


def rng_state() -> dict[str, Any]:
    """Global torch RNG states (dropout and anything else outside the noise generator)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def lock_run_dir(run_dir: Path) -> RunLock:
    """Rank 0 (the process that writes the run) takes the run directory's lock, creating the folder;
    a run another trainer holds is refused, naming that process (see runlock.py)."""
    lock = RunLock(run_dir)
    if launch_rank() != 0:
        return lock
    try:
        holder = lock.acquire()
    except OSError as exc:
        raise TrainingError(f"cannot use {run_dir} as a run directory ({exc.strerror or exc}); "
                            f"choose another --out") from None
    if holder is not None:
        who = f"PID {holder}" if holder else "another process"
        raise TrainingError(f"{run_dir} is in use by another audiodiff train ({who}): wait for it to "
                            f"finish or stop it, or choose another --out")
    return lock


def new_folders(run_dir: Path) -> list[Path]:
    """run_dir and those of its parents that do not exist yet, innermost first: what a new run is about to
    create (rank 0, the process that creates them; [] elsewhere).  See discard_new_run_dir."""
    if launch_rank() != 0:
        return []
    missing = []
    for folder in [Path(run_dir), *Path(run_dir).parents]:
        if os.path.lexists(folder):
            break
        missing.append(folder)
    return missing


def discard_new_run_dir(folders: list[Path]) -> None:
    """Remove the folders new_folders listed before a run that then failed before its first step (no data,
    an interrupt during a download, …), so that the next `train` or `sample --model` does not meet a run
    folder that never held a run.  Done under the run's lock, so that a trainer that has taken the folder
    since keeps it; a folder holding a checkpoint is kept whatever happened; folders that existed before
    are never listed, so never touched.  Best effort: the error the user sees is the run's own."""
    if not folders or folders[0].is_symlink() or not folders[0].is_dir():
        return
    run_dir = folders[0]
    lock = RunLock(run_dir)
    try:
        if lock.acquire() is not None or any(os.path.lexists(run_dir / name) for name in (ckpt.WEIGHTS, ckpt.STATE)):
            return
        shutil.rmtree(run_dir)
    except OSError:
        return
    finally:
        lock.release()
    for parent in folders[1:]:
        try:
            parent.rmdir()                 # only while empty: another process may have put something there
        except OSError:
            return


def check_run_dir(run_dir: Path, config: dict[str, Any]) -> None:
    """An existing run in run_dir must be the same model, schedule and audio settings as `config`."""
    path = run_dir / ckpt.CONFIG
    if not path.is_file():
        return
    old = ckpt.load_config(run_dir)
    for key in RUN_KEYS:
        if old.get(key, "waveform" if key == "domain" else None) != config.get(key):
            raise TrainingError(f"{run_dir} holds a run with a different {key} "
                                f"({old.get(key)} vs {config.get(key)}); choose another --out")


@contextlib.contextmanager
def disk_errors(run_dir: Path, last_checkpoint_step: int | None) -> Iterator[None]:
    """A checkpoint write that fails (disk full, quota, file size limit) → one line; the files it was
    replacing are whole (checkpoint.atomic_write_many removes its temp files)."""
    try:
        yield
    except Exception as exc:   # OSError; on a full disk torch.save raises RuntimeError, safetensors its own
        if not isinstance(exc, (OSError, RuntimeError)) and type(exc).__name__ != "SafetensorError":
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        with contextlib.suppress(OSError):
            if shutil.disk_usage(run_dir).free < 1 << 20:
                reason = f"the disk is full; {reason}"
        kept = f"the checkpoint of step {last_checkpoint_step} is kept" \
            if last_checkpoint_step is not None else "no checkpoint was written yet"
        raise TrainingError(f"cannot write a checkpoint to {run_dir} ({reason}): {kept}; free some space "
                            f"and run the same command to resume") from exc


@dataclass
class Checkpointed:
    """What a checkpoint holds of a run and restores in place: the network, its EMA, the optimiser and its
    learning-rate schedule, the noise generator and the objective's own state (objectives.Objective.state_dict)."""

    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    noise_rng: torch.Generator
    objective: Any


@dataclass
class Progress:
    """How far a run got: optimiser steps, skipped (non-finite) steps, training seconds and the time budget."""

    step: int = 0
    skipped: int = 0
    train_seconds: float = 0.0
    budget_seconds: float | None = None

    def record(self, machine: dict[str, Any]) -> dict[str, Any]:
        """What config.json says of the training so far: steps, training minutes, the budget, the machine."""
        budget = None if self.budget_seconds is None else round(self.budget_seconds / 60, 2)
        return {"step": self.step, "trained_minutes": round(self.train_seconds / 60, 2), "budget_minutes": budget,
                "machine": machine}


class RunState:
    """A run directory's training state (training_state.pt beside the EMA weights and config.json): resume from it
    and save it.  Every rank holds one; rank 0 writes, the others' RNG streams are gathered into it."""

    def __init__(self, run_dir: Path, restart: bool, seed: int, rank: int, world_size: int):
        self.run_dir, self.restart, self.seed, self.rank, self.world_size = run_dir, restart, seed, rank, world_size
        self.is_main = rank == 0
        self.last_checkpoint_step: int | None = None

    def resume(self, parts: Checkpointed) -> Progress:
        """Load the run's checkpoint into `parts` and return its progress; a fresh Progress when there is none
        or `restart`.  A checkpoint that does not fit, or weights without one, stop the run in one line."""
        if self.restart:
            if self.is_main and (self.run_dir / ckpt.WEIGHTS).is_file():
                log.info("--restart: training %s again from step 0; its checkpoint is replaced at the first save",
                         self.run_dir)
            return Progress()
        state = ckpt.load_state(self.run_dir)
        if state is None:
            if (self.run_dir / ckpt.WEIGHTS).is_file():
                raise TrainingError(f"{self.run_dir} holds trained weights ({ckpt.WEIGHTS}) but no {ckpt.STATE} "
                                    f"to resume from: pass --restart to train it again from step 0 (replacing "
                                    f"them), or choose another --out")
            return Progress()
        try:
            progress = self._load(state, parts)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = " ".join(lines[:2])[:200] or type(exc).__name__     # torch's size mismatch is on line 2
            raise TrainingError(f"{self.run_dir / ckpt.STATE} does not fit this run ({type(exc).__name__}: "
                                f"{reason}): restore it from a backup, or pass --restart to train from step 0 "
                                f"(replacing {ckpt.WEIGHTS})") from None
        if self.is_main:
            log.info("resuming %s from step %d", self.run_dir, progress.step)
        return progress

    def _load(self, state: dict[str, Any], parts: Checkpointed) -> Progress:
        """Model, EMA, optimiser, scheduler, RNG streams and the objective's state from a training_state.pt dict."""
        if not isinstance(state, dict) or not isinstance(state.get("step"), int) or state["step"] < 0:
            raise ValueError("not a training state: no step count")
        parts.model.load_state_dict(state["model"])
        parts.ema.load_state_dict(state["ema"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        progress = Progress(step=int(state["step"]), skipped=int(state.get("skipped", 0)),
                            train_seconds=float(state.get("train_seconds", 0.0)),   # before the time budget: 0
                            budget_seconds=state.get("budget_seconds"))
        self.last_checkpoint_step = progress.step
        ranks = state.get("ranks")
        if ranks is not None and len(ranks) == self.world_size:
            mine = ranks[self.rank]
        elif self.rank == 0:
            mine = state
        else:   # a different number of processes than the checkpoint's: fresh, distinct streams
            mine = None
            parts.noise_rng.manual_seed(rank_seed(self.seed + 1, self.rank, progress.step))
            torch.manual_seed(rank_seed(self.seed, self.rank, progress.step))
        if mine is not None:
            parts.noise_rng.set_state(mine["noise_rng"])
            set_rng_state(mine["rng"])
        parts.objective.load_state_dict(state)
        return progress

    def save(self, parts: Checkpointed, progress: Progress, config: dict[str, Any]) -> None:
        """Training state, EMA weights and `config` (config.json), replaced together (checkpoint.save_checkpoint).

        Every rank calls it (the ranks' RNG states are gathered); only rank 0 writes."""
        rng = {"noise_rng": parts.noise_rng.get_state(), "rng": rng_state()}
        ranks = None
        if self.world_size > 1:
            ranks = [None] * self.world_size
            dist.all_gather_object(ranks, rng)
        if self.is_main:
            state = {"step": progress.step, "skipped": progress.skipped, "train_seconds": progress.train_seconds,
                     "budget_seconds": progress.budget_seconds, "model": parts.model.state_dict(),
                     "ema": parts.ema.state_dict(), "optimizer": parts.optimizer.state_dict(),
                     "scheduler": parts.scheduler.state_dict(), **rng, **parts.objective.state_dict()}
            if ranks is not None:
                state["ranks"] = ranks
            with disk_errors(self.run_dir, self.last_checkpoint_step):
                ckpt.save_checkpoint(self.run_dir, state, parts.ema.module, config,
                                     metadata={"step": str(progress.step)})
        self.last_checkpoint_step = progress.step
