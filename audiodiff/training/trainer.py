"""Trainer: AdamW + warm-up (then constant or cosine), EMA of weights, gradient clipping and accumulation,
bf16 autocast ([train] precision), optional torch.compile, DistributedDataParallel, TensorBoard, atomic checkpoints
and exact resume.  Pointing it at an existing run directory continues that run.

Objectives.  What one step optimises is an Objective (objectives.py): the diffusion loss for ε-networks, a spectral
regression for one-call denoisers, cross-entropy for classifiers, progressive distillation (distillation.py);
`train_step` below is the one loop over micro-batches that runs any of them.

Batches.  [train] batch_size is the *global* batch of one optimiser step, whatever the hardware: it is
split across the processes of a distributed run, and each process's share is split again into
[train] grad_accum micro-batches (so batch_size must be divisible by processes × grad_accum).  Which
clips form step s's batch depends only on (seed, s), never on the number of processes, so changing the
hardware or the accumulation changes memory use, not the data a step sees.

Distributed training (torchrun, DDP, per-rank seeds, barriers): see distributed.py.

Gradient accumulation: micro-batches on every rank run backward under DDP's no_sync except the last one,
so gradients are all-reduced once per optimiser step.  t and the noise are drawn for the whole share
first, so grad_accum = k trains the same model as grad_accum = 1, up to float rounding.

Learning rate: see lr.py (warm-up, then constant or cosine over max_steps, or over a time budget: budget.py).

TensorBoard (RUN_DIR/tb): see monitor.py.  Run directory, checkpoints and resume: see state.py.

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
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .. import checkpoint as ckpt
from ..device import resolve_device
from ..diffusion import GaussianDiffusion
from ..domains import chunk_cond
from ..ema import EMAUpdate
from ..install import cores_available, machine_record
from ..interrupt import Interrupted, StopFlag
from ..nets import build_network
from ..precision import autocast as precision_autocast, resolve_precision
from .distributed import barrier, close_distributed, local_world_size, quiet_logger, rank_seed, setup_distributed
from .training_data import TrainingData
from .budget import Budget, TrainingClock, check_minutes, format_minutes, resolve_budget
from .lr import lr_factor
from .objectives import objective_for
from .errors import TrainingError
from .evaluation import TrainingEvaluator
from .monitor import LOSS_BINS, Monitoring, ProgressBar, StepMeter, open_writer
from .state import RunState, check_run_dir, disk_errors, lock_run_dir, run_config

if TYPE_CHECKING:
    from ..recipe import Recipe

log = logging.getLogger("audiodiff")

MAX_BAD_STEPS = 20  # consecutive non-finite steps before the run stops


class Trainer(RunState, Monitoring, TrainingData):
    """Trains recipe's model into run_dir; `fit()` runs until max_steps, checkpointing on the way."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
                 show_progress: bool = True, restart: bool = False, minutes: float | None = None):
        """restart: train from step 0 even though run_dir holds a checkpoint or weights (they are replaced
        at the first checkpoint); without it a run is resumed, and weights without a training state are
        refused rather than silently overwritten.  minutes: train this much longer (wall clock, see budget.py);
        with max_steps, whichever comes first."""
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.cfg = recipe.train
        self.max_steps = int(max_steps) if max_steps is not None else self.cfg.max_steps
        if self.max_steps < 1:
            raise TrainingError(f"--max-steps must be >= 1, got {self.max_steps}")
        if minutes is not None:
            check_minutes(minutes, "--minutes")     # before the run folder exists
        device_ = resolve_device(device if device != "auto" else self.cfg.device)
        # at most the cores this process may use, shared among a run's local processes: torch's default can
        # exceed them, and spinning threads then slow every step (a third of the fair share on a busy machine);
        # never more than the caller set (a script or test that asked for fewer keeps them)
        torch.set_num_threads(self.cfg.threads or
                              max(1, min(torch.get_num_threads(), cores_available() // local_world_size())))
        self.clock = TrainingClock()
        self.saved_budget: float | None = None      # set by a resumed checkpoint
        self.budget = Budget(None, self.clock)      # resolved once the checkpoint is read (_build)
        self._cli_minutes = minutes
        self.config = run_config(recipe)
        self.restart = restart
        self._stop = StopFlag()          # SIGINT / SIGTERM / SIGHUP during fit(): see interrupt.py
        self._stop_agreed = False        # every rank's verdict of the last step's all-reduce
        self._lock = lock_run_dir(self.run_dir)
        try:
            check_run_dir(self.run_dir, self.config)
            self.writer = None
            self.device, self.rank, self.local_rank, self.world_size, self._owns_group = setup_distributed(device_)
        except BaseException:
            self._lock.release()
            raise
        self.is_main = self.rank == 0
        self.show_progress = show_progress and self.is_main
        if not self.is_main:
            quiet_logger()
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
        self.objective = objective_for(self.recipe.model, self.diffusion)
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        self._ema_update = EMAUpdate(self.ema, self.model, cfg.ema_decay)
        # fused: one kernel for every parameter's update, on CPU too (the default on CPU is a Python loop)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                           weight_decay=cfg.weight_decay, fused=self.device.type in ("cpu", "cuda"))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: self.lr_factor(s))
        self.noise_rng = torch.Generator(device=self.device).manual_seed(rank_seed(cfg.seed + 1, self.rank))
        if self.rank:   # rank 0 keeps the one-process stream, so a one-process run is unchanged
            torch.manual_seed(rank_seed(cfg.seed, self.rank))
        self.step = 0
        self.bad_steps = 0
        self.skipped_total = 0
        self.last_checkpoint_step: int | None = None
        self._bad_what = "loss"
        self.features = None        # mel / vocoder runs: set in _fit, statistics from the data or the run
        self._dataset = None
        self._mixer = None          # denoiser runs: the noise mixer, set in _fit (training/training_data.py)
        self._evaluator: TrainingEvaluator | None = None
        self._resume()
        self.budget = Budget(resolve_budget(self._cli_minutes, self.cfg.minutes, self.saved_budget, self.clock.spent),
                             self.clock)
        self.machine = machine_record(str(self.device)) if self.is_main else {}
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
        """Multiplier of [train] learning_rate for the optimiser update after `s` earlier ones (lr.py)."""
        return lr_factor(s, self.cfg, self.budget.fraction)

    # ----------------------------------------------------------------- one optimiser step
    def _micro_batch_sync(self, last: bool):
        """DDP all-reduces gradients on the last micro-batch only (no_sync on the others)."""
        return contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()

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
        if self.budget.seconds is not None:   # the ranks' mean clock: one learning rate and one last step for all
            stats.append(loss_sum.new_full((), self.clock.elapsed(), dtype=torch.float32))   # ulp 0.25 ms at 1 h
        if self.world_size > 1:   # + this rank's stop flag: a signal to any rank stops all after this step
            stats.append(loss_sum.new_full((), float(self._stop.requested)))   # a fill kernel, no copy
        stats = torch.stack(stats)
        if self.world_size > 1:
            dist.all_reduce(stats)   # a NaN on any rank reaches every rank, so all of them skip together
            stats = stats / self.world_size
        loss_value, norm_value, *rest = stats.tolist()   # the one host sync per step
        if self.budget.seconds is not None:
            self.budget.agreed = rest.pop(0)
        self._stop_agreed = rest[0] > 0 if rest else self._stop.requested
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
        [B, …] as keywords), in grad_accum micro-batches of the run's objective (objectives.py).  Returns the
        loss (averaged over all processes), or None when the loss or the gradient norm was not finite and the
        step was skipped."""
        self.train_model.train()
        drawn = self.objective.draw(x0, self.noise_rng)   # for the whole share: micro-batching keeps the numbers
        n = self.cfg.grad_accum
        chunks = list(zip(x0.chunk(n), chunk_cond(drawn, n), chunk_cond(cond, n)))
        batch = x0.shape[0]
        loss_sum = None
        per_example = []
        for i, (xb, db, cb) in enumerate(chunks):
            with self._micro_batch_sync(last=i == len(chunks) - 1):
                with precision_autocast(self.precision, self.device):
                    terms = self.objective.loss_terms(self.train_model, xb, db, cb)
                loss = terms.mean()
                if len(chunks) > 1:
                    loss = loss * (xb.shape[0] / batch)
                loss.backward()
            loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
            per_example.append(terms.detach())
        loss_value = self._reduce_and_step(loss_sum)
        if loss_value is None:
            return None
        if "t" in drawn:   # losses by diffusion step, for TensorBoard
            self._record_loss_bins(drawn["t"], torch.cat(per_example))
        return loss_value

    # ----------------------------------------------------------------- the run
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
        """Data, then the loop: a step, its log line, then previews, evaluation and checkpoints when due."""
        if self.step >= self.max_steps or self.budget.over:
            if self.is_main:
                why = f"max_steps {self.max_steps}" if self.step >= self.max_steps else \
                    f"its time budget of {format_minutes(self.budget.seconds)}; --minutes M trains M more"
                log.info("%s is already trained to step %d (%s): nothing to do", self.run_dir, self.step, why)
            return
        prepared = time.perf_counter()
        dataset = self._prepare_data()
        if self.is_main:
            log.info("data ready in %.1f s (not counted in the time budget)", time.perf_counter() - prepared)
            self._start_run_dir(len(dataset))
            self._start_evaluation()
        batches = iter(self._loader(dataset))
        meter = StepMeter(self.step)
        bar = ProgressBar(self.show_progress, self.step, self.max_steps, self.budget)
        self._stop.deferring = True      # from here on a signal stops after the current step
        self.clock.start()
        try:
            while self.step < self.max_steps:
                x0, cond = self._next_batch(batches)
                value = self.train_step(x0, **cond)
                self.step += 1
                self._count(value, meter)
                if self.step % self.cfg.log_every == 0 or self.step == self.max_steps or self.budget.over:
                    self._log(meter, bar)
                bar.advance()
                if self._stop_agreed or self.budget.over:   # the budget: at the first step boundary past it
                    break
                self._when_due()
        finally:
            bar.stop()
        self._finish(meter)

    def _start_run_dir(self, n_clips: int) -> None:
        """Rank 0: the run directory, its config.json, the opening log line and the TensorBoard writer."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stale = ckpt.remove_stale_temp_files(self.run_dir)
        if stale:
            log.info("removed %d temp file(s) left by an interrupted checkpoint", len(stale))
        with self._disk_errors():
            ckpt.save_config(self.run_dir, {**self.config, **self.progress_record()})
        n_params = sum(p.numel() for p in self.model.parameters())
        procs = f" × {self.world_size} processes" if self.world_size > 1 else ""
        log.info("training %s (%s, %.2fM parameters) on %s%s (%d threads) in %s, %d clips, steps %d → %d%s, "
                 "run dir %s", self.recipe.name, self.recipe.model["type"], n_params / 1e6, self.device, procs,
                 torch.get_num_threads(), self.precision, n_clips, self.step, self.max_steps, self.budget.opening(),
                 self.run_dir)
        self.writer = open_writer(self.run_dir, self.step) if self.cfg.tensorboard else None

    def _count(self, value: float | None, meter: StepMeter) -> None:
        """A step's loss into the log window, or a skipped (non-finite) step counted."""
        if value is None:
            self._on_bad_step()
        else:
            self.bad_steps = 0
            meter.losses.append(value)

    def _log(self, meter: StepMeter, bar: ProgressBar) -> None:
        """Every log_every steps (every rank: the TensorBoard scalars are reduced across ranks)."""
        now = time.perf_counter()
        rate = (self.step - meter.start_step) / (now - meter.t0)
        losses = meter.losses
        info = f"loss {sum(losses) / max(len(losses), 1):.4f}  {rate:.2f} steps/s" + (
            f"  skipped {self.skipped_total}" if self.skipped_total else "")
        if self.cfg.tensorboard:
            self._log_scalars(losses, meter.window_rate(self.step, now))
        meter.new_window(self.step, now)
        bar.update(info)
        if self.is_main and (not bar.shown or not sys.stderr.isatty()):
            log.info("step %d/%d  %s", self.step, self.max_steps, info)

    def _when_due(self) -> None:
        """Previews, evaluation and the periodic checkpoint, each on its own schedule."""
        if self.writer is not None and self.cfg.preview_every and self.step % self.cfg.preview_every == 0:
            self._preview()
        if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
            self._evaluate()
        if self.step % self.cfg.checkpoint_every == 0 and self.step < self.max_steps:
            self.save_checkpoint()

    def _finish(self, meter: StepMeter) -> None:
        """The last checkpoint; a stop asked for by a signal is raised as Interrupted after it."""
        if self._stop_agreed and self.step < self.max_steps and not self.budget.over:
            if self.last_checkpoint_step != self.step:
                self.save_checkpoint()
            raise Interrupted(self._stop.signum or signal.SIGTERM, self.step)
        self.save_checkpoint()
        if self.is_main:
            log.info("done: %d steps in %.1f s, step %d%s; model saved to %s", self.step - meter.start_step,
                     time.perf_counter() - meter.t0, self.step, self.budget.closing(), self.run_dir / ckpt.WEIGHTS)

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

    def _start_evaluation(self) -> None:
        """Build the evaluator before the first step: a missing classifier or reference set stops the run now,
        not after eval_every steps of training."""
        if self.cfg.eval_every:
            self._evaluator = TrainingEvaluator(self)

    def _evaluate(self) -> None:
        """[train] eval_every: FID / IS of EMA samples against [train] eval_classifier (see evaluation.py);
        every rank calls it, rank 0 samples and scores."""
        if self.is_main:
            if self._evaluator is None:
                self._evaluator = TrainingEvaluator(self)
            self._evaluator.run()
        self._barrier()

    # ----------------------------------------------------------------- helpers bound to this run
    def _disk_errors(self):
        return disk_errors(self.run_dir, self.last_checkpoint_step)

    def _barrier(self) -> None:
        barrier(self.device, self.world_size)

    def _close_distributed(self, ok: bool) -> None:
        self._owns_group = close_distributed(self.device, self.world_size, ok, self._owns_group)

