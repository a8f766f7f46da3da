"""Trainer: AdamW + warm-up (then constant or cosine), EMA of weights, gradient clipping and accumulation,
bf16 autocast ([train] precision), optional torch.compile, DistributedDataParallel, TensorBoard, atomic checkpoints
and exact resume.  Pointing it at an existing run directory continues that run.

Batches.  [train] batch_size is the *global* batch of one optimiser step, whatever the hardware: it is
split across the processes of a distributed run, and each process's share is split again into
[train] grad_accum micro-batches (so batch_size must be divisible by processes × grad_accum).  Which
clips form step s's batch depends only on (seed, s), never on the number of processes, so changing the
hardware or the accumulation changes memory use, not the data a step sees.

Distributed training.  Launch with torchrun, one process per GPU:

    torchrun --nproc_per_node 8 -m audiodiff train recipes/sc09                       # one machine
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --master_port 29500 \\
             --nproc_per_node 8 -m audiodiff train recipes/sc09 --out /shared/runs/sc09   # each machine

When WORLD_SIZE > 1 the trainer joins the process group (NCCL on CUDA, gloo on CPU; LOCAL_RANK picks the
GPU) unless the caller already initialised one, wraps the network in DistributedDataParallel and averages
gradients across processes.  Data: instead of DistributedSampler + set_epoch, every process runs the same
EpochBatchSampler (a fresh permutation per epoch, seeded by seed + epoch; step s is batch s mod n of
epoch s // n) and takes its own rank's slice of each global batch: the same deterministic per-epoch
shuffling, but indexed by step, so resume needs no epoch bookkeeping.  Noise and dropout are seeded per
rank.  Only rank 0 logs, draws the progress bar, writes TensorBoard and checkpoints (the EMA and the
checkpoints use the unwrapped module, so a run directory looks the same as a one-process run's and
resumes on any number of processes); the run directory must be on a filesystem every machine sees.  All
ranks meet at a barrier before exit, then leave the process group.  A non-finite loss on any rank skips
the step on every rank.

Gradient accumulation: micro-batches on every rank run backward under DDP's no_sync except the last one,
so gradients are all-reduced once per optimiser step.  t and the noise are drawn for the whole share
first, so grad_accum = k trains the same model as grad_accum = 1, up to float rounding.

Learning rate: linear warm-up over [train] warmup_steps, then "constant", or "cosine" down to
min_lr_ratio × learning_rate at the recipe's [train] max_steps (not at --max-steps, so stopping early and
resuming later follows the same curve as one uninterrupted run; past max_steps it stays at the floor).

TensorBoard (RUN_DIR/tb, [train] tensorboard = true): every log_every steps train/loss, train/lr,
train/grad_norm, train/steps_per_s, train/skipped_steps and loss_by_t/* (the loss in 10 bins of the
diffusion step t, 0 = least noisy); every preview_every steps preview/audio_i clips and a preview/mel
image of them, generated from the EMA weights exactly as `audiodiff sample` would by default (the run's
[sample] settings, seed 0).  A resumed run purges the events logged after its checkpoint.

Fault tolerance: checkpoints are written as one atomic unit (see checkpoint.py), so a kill at any moment
leaves the last one loadable, and the same command resumes from it with bit-exact results on CPU.
Non-finite losses or gradient norms skip the step (counted in the log); MAX_BAD_STEPS in a row stop the
run, naming the last checkpoint.  SIGINT / SIGTERM / SIGHUP stop the run after the current step with a
checkpoint (every rank after the same step; see interrupt.py).  Only one trainer at a time writes a run
directory: it holds RUN_DIR/.lock (see runlock.py).  A damaged training_state.pt, or trained weights
without one, are refused unless `restart` (--restart) says to train from step 0.

The hot loop synchronises with the host once per step (the loss and gradient norm, read together, for
skipping non-finite steps and for logging); the per-bin losses stay on the device until logged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from . import checkpoint as ckpt
from .data import EpochBatchSampler, build_dataset
from .diffusion import GaussianDiffusion
from .ema import EMAUpdate
from .domains import domain_config, fit_features, prepare_batch, preview_clips, split_item
from .features import clip_sample, preview_features, preview_range
from .interrupt import Interrupted, StopFlag
from .nets import build_network
from .pipeline import Pipeline
from .precision import autocast as precision_autocast, resolve_precision
from .progress import make_progress
from .recipe import Recipe, diffusion_config
from .runlock import RunLock
from .wavestats import compare_to_data

log = logging.getLogger("audiodiff")

MAX_BAD_STEPS = 20  # consecutive non-finite steps before the run stops
LOSS_BINS = 10      # TensorBoard loss_by_t: bins of the diffusion step t
RANK_SEED_STRIDE = 1_000_003  # rank r > 0 seeds its noise and dropout with seed + r * stride
TB_DIR = "tb"


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
        "format": "audiodiff", "version": 1, "name": recipe.name, **domain_config(recipe),
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


def _setup_distributed(device: torch.device) -> tuple[torch.device, int, int, int, bool]:
    """(device, rank, local_rank, world_size, whether we initialised the process group).

    A process group the caller initialised is used as it is; otherwise one is created when torchrun's
    WORLD_SIZE > 1: NCCL on CUDA (the GPU is LOCAL_RANK), gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    initialised = dist.is_available() and dist.is_initialized()
    if not initialised and world <= 1:
        return device, 0, 0, 1, False
    if not dist.is_available():
        raise TrainingError(f"WORLD_SIZE = {world} but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA GPU(s): start "
                                f"at most that many processes per machine (--nproc_per_node)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not initialised:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), local_rank, dist.get_world_size(), not initialised


def _drop_info(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _quiet_logger() -> None:
    """Ranks other than 0 keep the 'audiodiff' logger's warnings and errors only (data loading, for one,
    would otherwise report the same clips once per process)."""
    if _drop_info not in log.filters:
        log.addFilter(_drop_info)


def mel_image(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Clips [n, L] → one log-mel spectrogram image [1, H, W] in [0, 1], clips side by side, low
    frequencies at the bottom, an 80 dB range (for TensorBoard's add_image; no matplotlib).  The display
    settings are `preview_features`', the same as `audiodiff sample --plot` uses."""
    feats = preview_features(sample_rate, wav.shape[-1])
    log_mel = feats.log_mel(wav.float().cpu())                                      # [n, M, F], natural log
    lo, hi = preview_range(log_mel, feats)                                          # the top 80 dB
    img = (log_mel.clamp_min(lo) - lo) / max(hi - lo, 1e-6)
    gap = torch.ones(img.shape[1], 2)
    tiles = [x for clip in img for x in (clip, gap)][:-1]
    return torch.cat(tiles, dim=1).flip(0)[None].clamp(0, 1)


class Trainer:
    """Trains recipe's model into run_dir; `fit()` runs until max_steps, checkpointing on the way."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
                 show_progress: bool = True, restart: bool = False):
        """restart: train from step 0 even though run_dir holds a checkpoint or weights (they are replaced
        at the first checkpoint); without it a run is resumed, and weights without a training state are
        refused rather than silently overwritten."""
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.cfg = recipe.train
        self.max_steps = int(max_steps) if max_steps is not None else self.cfg.max_steps
        if self.max_steps < 1:
            raise TrainingError(f"--max-steps must be >= 1, got {self.max_steps}")
        device_ = resolve_device(device if device != "auto" else self.cfg.device)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.config = run_config(recipe)
        self.restart = restart
        self._stop = StopFlag()          # SIGINT / SIGTERM / SIGHUP during fit(): see interrupt.py
        self._stop_agreed = False        # every rank's verdict of the last step's all-reduce
        self._lock = self._lock_run_dir()
        try:
            self._check_run_dir()
            self.writer = None
            self.device, self.rank, self.local_rank, self.world_size, self._owns_group = _setup_distributed(device_)
        except BaseException:
            self._lock.release()
            raise
        self.is_main = self.rank == 0
        self.show_progress = show_progress and self.is_main
        if not self.is_main:
            _quiet_logger()
        try:
            self._build()
        except BaseException:
            self._lock.release()
            self._close_distributed(ok=False)
            raise

    def _build(self) -> None:
        cfg = self.cfg
        parts = self.world_size * cfg.grad_accum
        if cfg.batch_size % parts:
            raise TrainingError(f"[train] batch_size = {cfg.batch_size} is the global batch: it must be divisible by "
                                f"the number of processes ({self.world_size}) × [train] grad_accum ({cfg.grad_accum})")
        torch.manual_seed(cfg.seed)
        self.model = build_network(self.recipe.model).to(self.device)
        self.precision = resolve_precision(cfg.precision, self.device)   # "fp32" | "bf16"
        self.diffusion = GaussianDiffusion.from_config(self.config["diffusion"])
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        self._ema_update = EMAUpdate(self.ema, self.model, cfg.ema_decay)
        # fused: one kernel for every parameter's update, on CPU too (the default on CPU is a Python loop)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                           weight_decay=cfg.weight_decay, fused=self.device.type in ("cpu", "cuda"))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: self.lr_factor(s))
        self.noise_rng = torch.Generator(device=self.device).manual_seed(cfg.seed + 1 + RANK_SEED_STRIDE * self.rank)
        if self.rank:   # rank 0 keeps the one-process stream, so a one-process run is unchanged
            torch.manual_seed(cfg.seed + RANK_SEED_STRIDE * self.rank)
        self.step = 0
        self.bad_steps = 0
        self.skipped_total = 0
        self.last_checkpoint_step: int | None = None
        self._bad_what = "loss"
        self.features = None        # mel / vocoder runs: set in _fit, statistics from the data or the run
        self._dataset = None
        self._resume()
        # What the loss calls: compiled (its parameters are self.model's) and/or DDP-wrapped.  The EMA,
        # the optimizer and checkpoints always use the plain self.model.
        net = torch.compile(self.model) if cfg.compile else self.model
        self.ddp = None
        if self.world_size > 1:
            self.ddp = DistributedDataParallel(net, device_ids=[self.device.index] if self.device.type == "cuda"
                                               else None)
        self.train_model = self.ddp if self.ddp is not None else net
        self._loss_bins = torch.zeros(2, LOSS_BINS, device=self.device)    # per-bin sums and counts
        self._grad_norm_sum = 0.0

    def lr_factor(self, s: int) -> float:
        """Multiplier of [train] learning_rate for the optimiser update after `s` earlier ones."""
        warmup, total = self.cfg.warmup_steps, self.cfg.max_steps
        if warmup and s + 1 < warmup:
            return (s + 1) / warmup
        if self.cfg.lr_schedule == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, max(0.0, (s + 1 - warmup) / (total - warmup)))
        floor = self.cfg.min_lr_ratio
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    # ----------------------------------------------------------------- run directory
    def _lock_run_dir(self) -> RunLock:
        """Rank 0 (the process that writes the run) takes the run directory's lock, creating the folder;
        a run another trainer holds is refused, naming that process (see runlock.py)."""
        lock = RunLock(self.run_dir)
        if _launch_rank() != 0:
            return lock
        try:
            holder = lock.acquire()
        except OSError as exc:
            raise TrainingError(f"cannot use {self.run_dir} as a run directory ({exc.strerror or exc}); "
                                f"choose another --out") from None
        if holder is not None:
            who = f"PID {holder}" if holder else "another process"
            raise TrainingError(f"{self.run_dir} is in use by another audiodiff train ({who}): wait for it to "
                                f"finish or stop it, or choose another --out")
        return lock

    def _check_run_dir(self) -> None:
        path = self.run_dir / ckpt.CONFIG
        if not path.is_file():
            return
        old = ckpt.load_config(self.run_dir)
        for key in ("model", "diffusion", "sample_rate", "clip_length", "domain"):
            if old.get(key, "waveform" if key == "domain" else None) != self.config.get(key):
                raise TrainingError(f"{self.run_dir} holds a run with a different {key} "
                                    f"({old.get(key)} vs {self.config.get(key)}); choose another --out")

    def _resume(self) -> None:
        if self.restart:
            if self.is_main and (self.run_dir / ckpt.WEIGHTS).is_file():
                log.info("--restart: training %s again from step 0; its checkpoint is replaced at the first save",
                         self.run_dir)
            return
        state = ckpt.load_state(self.run_dir)
        if state is None:
            if (self.run_dir / ckpt.WEIGHTS).is_file():
                raise TrainingError(f"{self.run_dir} holds trained weights ({ckpt.WEIGHTS}) but no {ckpt.STATE} "
                                    f"to resume from: pass --restart to train it again from step 0 (replacing "
                                    f"them), or choose another --out")
            return
        try:
            self._load_state(state)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = " ".join(lines[:2])[:200] or type(exc).__name__     # torch's size mismatch is on line 2
            raise TrainingError(f"{self.run_dir / ckpt.STATE} does not fit this run ({type(exc).__name__}: "
                                f"{reason}): restore it from a backup, or pass --restart to train from step 0 "
                                f"(replacing {ckpt.WEIGHTS})") from None
        if self.is_main:
            log.info("resuming %s from step %d", self.run_dir, self.step)

    def _load_state(self, state: dict[str, Any]) -> None:
        """Model, EMA, optimiser, scheduler, step and RNG streams from a training_state.pt dict."""
        if not isinstance(state, dict) or not isinstance(state.get("step"), int) or state["step"] < 0:
            raise ValueError("not a training state: no step count")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.skipped_total = int(state.get("skipped", 0))
        self.last_checkpoint_step = self.step
        ranks = state.get("ranks")
        if ranks is not None and len(ranks) == self.world_size:
            mine = ranks[self.rank]
        elif self.rank == 0:
            mine = state
        else:   # a different number of processes than the checkpoint's: fresh, distinct streams
            mine = None
            self.noise_rng.manual_seed(self.cfg.seed + 1 + RANK_SEED_STRIDE * self.rank + self.step)
            torch.manual_seed(self.cfg.seed + RANK_SEED_STRIDE * self.rank + self.step)
        if mine is not None:
            self.noise_rng.set_state(mine["noise_rng"])
            _set_rng_state(mine["rng"])

    def save_checkpoint(self) -> None:
        """Training state, EMA weights and config, replaced together (see checkpoint.save_checkpoint).

        Every rank calls it (the ranks' RNG states are gathered); only rank 0 writes."""
        rng = {"noise_rng": self.noise_rng.get_state(), "rng": _rng_state()}
        ranks = None
        if self.world_size > 1:
            ranks = [None] * self.world_size
            dist.all_gather_object(ranks, rng)
        if self.is_main:
            state = {"step": self.step, "skipped": self.skipped_total, "model": self.model.state_dict(),
                     "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), **rng}
            if ranks is not None:
                state["ranks"] = ranks
            with self._disk_errors():
                ckpt.save_checkpoint(self.run_dir, state, self.ema.module, {**self.config, "step": self.step},
                                     metadata={"step": str(self.step)})
            if self.writer is not None:
                self.writer.flush()
        self.last_checkpoint_step = self.step

    @contextlib.contextmanager
    def _disk_errors(self):
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
                if shutil.disk_usage(self.run_dir).free < 1 << 20:
                    reason = f"the disk is full; {reason}"
            kept = f"the checkpoint of step {self.last_checkpoint_step} is kept" \
                if self.last_checkpoint_step is not None else "no checkpoint was written yet"
            raise TrainingError(f"cannot write a checkpoint to {self.run_dir} ({reason}): {kept}; free some space "
                                f"and run the same command to resume") from exc

    # ----------------------------------------------------------------- distributed helpers
    def _barrier(self) -> None:
        if self.world_size > 1:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def _close_distributed(self, ok: bool) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            return
        if ok:
            self._barrier()
        if self._owns_group:
            dist.destroy_process_group()
            self._owns_group = False

    def _use_labels(self, dataset) -> None:
        """Class-conditional models ([model] num_classes > 0) train on the dataset's labels."""
        self.num_classes = int(self.recipe.model.get("num_classes", 0) or 0)
        if not self.num_classes:
            return
        names = getattr(dataset, "class_names", None)
        if getattr(dataset, "labels", None) is None or not names:
            raise TrainingError(f"[model] num_classes = {self.num_classes} needs a labelled dataset "
                                f"(e.g. dataset = \"speechcommands\"); {self.recipe.data.dataset!r} has no labels")
        if self.num_classes < len(names):
            raise TrainingError(f"[model] num_classes = {self.num_classes} but the dataset has {len(names)} "
                                f"classes ({', '.join(names)})")
        dataset.return_labels = True
        self.config["class_names"] = list(names)

    def _drop_labels(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Labels on the device, each replaced by "unlabelled" with probability [train] cond_drop."""
        if labels is None:
            return None
        labels = labels.to(self.device, non_blocking=True)
        if self.cfg.cond_drop > 0:
            drop = torch.rand(labels.shape, device=self.device, generator=self.noise_rng) < self.cfg.cond_drop
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return labels

    def _build_dataset(self):
        if self.world_size == 1:
            return build_dataset(self.recipe.data, seed=self.cfg.seed, show_progress=self.show_progress)
        # Rank 0 first (it may generate or fetch the data), then the first rank on every other machine
        # (node-local disks), then the rest, who find the files ready.
        dataset = None
        for turn in (self.rank == 0, self.rank != 0 and self.local_rank == 0, self.local_rank != 0):
            if turn:
                dataset = build_dataset(self.recipe.data, seed=self.cfg.seed, show_progress=self.show_progress)
            self._barrier()
        return dataset

    # ----------------------------------------------------------------- loop
    def _loader(self, dataset) -> DataLoader:
        sampler = EpochBatchSampler(len(dataset), self.cfg.batch_size, seed=self.cfg.seed, start_step=self.step,
                                    rank=self.rank, world_size=self.world_size)
        workers = self._loader_workers()
        # Its own generator: otherwise creating the iterator draws a seed from the global RNG after a resume
        # has restored it, and dropout in the resumed run no longer matches the uninterrupted one.
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=self.device.type == "cuda",
                          persistent_workers=workers > 0, generator=torch.Generator().manual_seed(self.cfg.seed))

    def _loader_workers(self) -> int:
        """[data] num_workers, but on a CPU run no more than the cores the compute threads leave free: clips
        come from memory or the decode cache (tens of µs each), so there workers bring nothing and their
        processes take cores from the network's threads."""
        asked = self.recipe.data.num_workers
        if self.device.type != "cpu" or not asked:
            return asked
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = min(asked, max(0, cores - torch.get_num_threads()))
        if workers < asked and self.is_main:
            log.info("CPU run: %d DataLoader worker(s) instead of [data] num_workers = %d (%d cores, %d compute "
                     "threads)", workers, asked, cores, torch.get_num_threads())
        return workers

    def _draw(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps t [B] and noise like x0 for the whole batch, in the order GaussianDiffusion.loss_terms
        draws them, so micro-batching does not change the random numbers."""
        t = torch.randint(0, self.diffusion.num_steps, (x0.shape[0],), device=x0.device, generator=self.noise_rng)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=self.noise_rng)
        return t, noise

    def _reduce_and_step(self, loss_sum: torch.Tensor) -> float | None:
        """After backward: clip, average loss and gradient norm over the processes (with the stop flag), then
        the optimiser, learning-rate and EMA steps.  Returns the loss, or None when the loss or the gradient
        norm was not finite and the step was skipped (on every rank alike).  Shared by every objective."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        stats = [loss_sum.float(), grad_norm.float().to(loss_sum.device)]
        if self.world_size > 1:   # + this rank's stop flag: a signal to any rank stops all after this step
            stats.append(loss_sum.new_full((), float(self._stop.requested)))   # a fill kernel, no copy
        stats = torch.stack(stats)
        if self.world_size > 1:
            dist.all_reduce(stats)   # a NaN on any rank reaches every rank, so all of them skip together
            stats = stats / self.world_size
        loss_value, norm_value, *stop = stats.tolist()   # the one host sync per step
        self._stop_agreed = stop[0] > 0 if stop else self._stop.requested
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            self._bad_what = "loss" if not math.isfinite(loss_value) else "gradient norm"
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self._ema_update.update()
        self._grad_norm_sum += norm_value
        return loss_value

    def train_step(self, x0: torch.Tensor, **cond: torch.Tensor) -> float | None:
        """One optimiser step on this process's share of the batch, x0: [B, 1, L] (conditioning tensors
        [B, …] as keywords), in grad_accum micro-batches.  Returns the loss (averaged over all processes),
        or None when the loss or the gradient norm was not finite and the step was skipped."""
        self.train_model.train()
        t, noise = self._draw(x0)
        n = self.cfg.grad_accum
        conds = [dict(zip(cond, parts)) for parts in zip(*(v.chunk(n) for v in cond.values()))] if cond else None
        chunks = list(zip(x0.chunk(n), t.chunk(n), noise.chunk(n)))
        batch = x0.shape[0]
        loss_sum = None
        per_example = []
        for i, (xb, tb, nb) in enumerate(chunks):
            last = i == len(chunks) - 1
            sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
            with sync:
                with precision_autocast(self.precision, self.device):
                    terms, _ = self.diffusion.loss_terms(self.train_model, xb, t=tb, noise=nb,
                                                         **(conds[i] if conds else {}))
                loss = terms.mean()
                if len(chunks) > 1:
                    loss = loss * (xb.shape[0] / batch)
                loss.backward()
            loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
            per_example.append(terms.detach())
        loss_value = self._reduce_and_step(loss_sum)
        if loss_value is None:
            return None
        bins = (t * LOSS_BINS // self.diffusion.num_steps).clamp_(max=LOSS_BINS - 1)
        values = torch.cat(per_example).float()
        self._loss_bins[0].index_add_(0, bins, values)
        self._loss_bins[1].index_add_(0, bins, torch.ones_like(values))
        return loss_value

    def fit(self) -> Path:
        """Train until max_steps; returns the run directory.  A distributed run leaves its process group
        at the end (when the trainer created it)."""
        ok = False
        try:
            with self._stop:
                self._fit()
            ok = True
        except Interrupted as exc:
            ok = exc.step is not None    # an agreed stop: every rank is here and meets at the barrier
            raise
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            self._close_distributed(ok)
            self._lock.release()
        return self.run_dir

    def _fit(self) -> None:
        if self.step >= self.max_steps:
            if self.is_main:
                log.info("%s is already trained to step %d (max_steps %d): nothing to do",
                         self.run_dir, self.step, self.max_steps)
            return
        dataset = self._build_dataset()
        self._use_labels(dataset)
        self.features = fit_features(self.config, dataset, self.run_dir, seed=self.cfg.seed)
        self._dataset = dataset
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            stale = ckpt.remove_stale_temp_files(self.run_dir)
            if stale:
                log.info("removed %d temp file(s) left by an interrupted checkpoint", len(stale))
            with self._disk_errors():
                ckpt.save_config(self.run_dir, {**self.config, "step": self.step})
            n_params = sum(p.numel() for p in self.model.parameters())
            procs = f" × {self.world_size} processes" if self.world_size > 1 else ""
            log.info("training %s (%s, %.2fM parameters) on %s%s in %s, %d clips, steps %d → %d, run dir %s",
                     self.recipe.name, self.recipe.model["type"], n_params / 1e6, self.device, procs, self.precision,
                     len(dataset), self.step, self.max_steps, self.run_dir)
            self.writer = self._open_writer()
        batches = iter(self._loader(dataset))
        losses: list[float] = []
        start_step, t0 = self.step, time.perf_counter()
        last_log = (self.step, t0)
        bar = make_progress(transient=False) if self.show_progress else None
        if bar:
            bar.start()
            task = bar.add_task("training", total=self.max_steps, completed=self.step, info="")
        self._stop.deferring = True      # from here on a signal stops after the current step
        try:
            while self.step < self.max_steps:
                wave, labels = split_item(next(batches))
                wave = wave.to(self.device, non_blocking=True)
                x0, cond = prepare_batch(self.config["domain"], self.features, wave, self._drop_labels(labels))
                value = self.train_step(x0, **cond)
                self.step += 1
                if value is None:
                    self._on_bad_step()
                else:
                    self.bad_steps = 0
                    losses.append(value)
                if self.step % self.cfg.log_every == 0 or self.step == self.max_steps:
                    now = time.perf_counter()
                    rate = (self.step - start_step) / (now - t0)
                    mean = sum(losses) / max(len(losses), 1)
                    info = f"loss {mean:.4f}  {rate:.2f} steps/s" + (
                        f"  skipped {self.skipped_total}" if self.skipped_total else "")
                    if self.cfg.tensorboard:
                        self._log_scalars(losses, (self.step - last_log[0]) / max(now - last_log[1], 1e-9))
                    last_log = (self.step, now)
                    losses.clear()
                    if bar:
                        bar.update(task, info=info)
                    if self.is_main and (not bar or not sys.stderr.isatty()):
                        log.info("step %d/%d  %s", self.step, self.max_steps, info)
                if bar:
                    bar.advance(task)
                if self._stop_agreed:
                    break
                if self.writer is not None and self.cfg.preview_every and self.step % self.cfg.preview_every == 0:
                    self._preview()
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    self._evaluate()
                if self.step % self.cfg.checkpoint_every == 0 and self.step < self.max_steps:
                    self.save_checkpoint()
        finally:
            if bar:
                bar.stop()
        if self._stop_agreed and self.step < self.max_steps:
            if self.last_checkpoint_step != self.step:
                self.save_checkpoint()
            raise Interrupted(self._stop.signum or signal.SIGTERM, self.step)
        self.save_checkpoint()
        if self.is_main:
            log.info("done: %d steps in %.1f s; model saved to %s", self.step - start_step,
                     time.perf_counter() - t0, self.run_dir / ckpt.WEIGHTS)

    def _on_bad_step(self) -> None:
        self.bad_steps += 1
        self.skipped_total += 1
        if self.is_main:
            log.warning("step %d: non-finite %s, step skipped (%d in a row)", self.step, self._bad_what,
                        self.bad_steps)
        if self.bad_steps >= MAX_BAD_STEPS:
            if self.last_checkpoint_step is None:
                where = f"no checkpoint was written to {self.run_dir} before it"
            else:
                where = f"the last good checkpoint is {self.run_dir} at step {self.last_checkpoint_step}"
            raise TrainingError(f"{self.bad_steps} steps in a row with a non-finite loss or gradient: training "
                                f"diverged; {where} (lower the learning rate?)")

    # ----------------------------------------------------------------- TensorBoard
    def _open_writer(self):
        if not self.cfg.tensorboard:
            return None
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events a killed run logged after its last checkpoint are replaced, not doubled
        return SummaryWriter(log_dir=str(self.run_dir / TB_DIR), purge_step=self.step or None)

    def _log_scalars(self, losses: list[float], rate: float) -> None:
        """Every rank calls it (the per-bin sums are reduced across ranks); rank 0 writes."""
        bins = self._loss_bins
        if self.world_size > 1:
            bins = bins.clone()
            dist.all_reduce(bins)
        sums, counts = bins.tolist()
        self._loss_bins.zero_()
        grad_norm, self._grad_norm_sum = self._grad_norm_sum, 0.0
        w = self.writer
        if w is None:
            return
        step = self.step
        if losses:
            w.add_scalar("train/loss", sum(losses) / len(losses), step)
            w.add_scalar("train/grad_norm", grad_norm / len(losses), step)
        w.add_scalar("train/lr", self.scheduler.get_last_lr()[0], step)
        w.add_scalar("train/steps_per_s", rate, step)
        w.add_scalar("train/skipped_steps", self.skipped_total, step)
        width = self.diffusion.num_steps / LOSS_BINS
        for i, (s, c) in enumerate(zip(sums, counts)):
            if c:
                lo, hi = math.ceil(i * width), math.ceil((i + 1) * width) - 1
                w.add_scalar(f"loss_by_t/{i}_t{lo}-{hi}", s / c, step)

    def _preview(self) -> None:
        """Clips from the EMA weights, made as `audiodiff sample` makes them by default, into TensorBoard."""
        start = time.perf_counter()
        pipe = Pipeline(self.ema.module, self.diffusion, self.config, device=self.device)
        wav = preview_clips(pipe, self.cfg.preview_n, self._dataset, seed=0)
        for i, clip in enumerate(wav):
            self.writer.add_audio(f"preview/audio_{i}", clip[None], self.step, sample_rate=pipe.sample_rate)
        self.writer.add_image("preview/mel", mel_image(wav, pipe.sample_rate), self.step)
        log.info("step %d: %d preview clip(s) written to TensorBoard in %.1f s", self.step, len(wav),
                 time.perf_counter() - start)
        if self._dataset is not None and len(self._dataset):
            data = torch.stack([c.reshape(-1) for c in clip_sample(self._dataset, len(wav), seed=0)])
            stats = compare_to_data(wav.reshape(len(wav), -1), data, pipe.sample_rate)
            for name, value in stats.items():   # early warning: level, spread, clipping, band energy vs the data
                self.writer.add_scalar(f"preview_stats/{name}", value, self.step)
            log.info("step %d: preview std %.3g (data %.3g), %.2g%% at full scale, largest octave-band gap %.1f dB",
                     self.step, stats["std"], stats["data_std"], 100 * stats["clipped"], stats["band_gap_db"])


    def _evaluate(self) -> None:
        """[train] eval_every: FID / IS of EMA samples against [train] eval_classifier (see
        audiodiff/train_eval.py); every rank calls it, rank 0 samples and scores."""
        if self.is_main:
            if getattr(self, "_evaluator", None) is None:
                from .train_eval import TrainingEvaluator

                self._evaluator = TrainingEvaluator(self)
            self._evaluator.run()
        self._barrier()


def _launch_rank() -> int:
    """This process's rank before the process group exists (torchrun's RANK; 0 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0



def train(recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
          show_progress: bool = True, restart: bool = False) -> Path:
    """Train (or resume) `recipe` into run_dir; returns run_dir.  Raises interrupt.Interrupted after
    checkpointing when SIGINT / SIGTERM / SIGHUP stops it.  A classification network ([model] type =
    "classifier") is trained by audiodiff.classifier.ClassifierTrainer, everything else by Trainer."""
    from .classifier import ClassifierTrainer, is_classifier_config

    cls = ClassifierTrainer if is_classifier_config(recipe.model) else Trainer
    return cls(recipe, run_dir, device=device, max_steps=max_steps, show_progress=show_progress,
               restart=restart).fit()
