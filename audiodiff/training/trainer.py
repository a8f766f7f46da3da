"""Trainer: AdamW + warm-up (then constant or cosine), EMA of weights, gradient clipping and accumulation,
bf16 autocast ([train] precision), optional torch.compile, DistributedDataParallel, TensorBoard, atomic checkpoints
and exact resume.  Pointing it at an existing run directory continues that run.

Objectives.  What one step optimises is an Objective (objectives.py): the diffusion loss for ε-networks, a spectral
regression for one-call denoisers, cross-entropy for classifiers (classification.py), progressive distillation
(distillation.py); `train_step` below is the one loop over micro-batches that runs any of them, and the objective's
hooks are the only place a kind of training changes the run (its learning rate, rounds, checkpoints, evaluation).

Parts.  The trainer holds its parts and passes them what they need: the run directory's state (state.RunState:
resume and checkpoints), the data (training_data.TrainingData), TensorBoard (monitor.Monitor), the evaluator.
Learning rate: lr.py (warm-up, then constant or cosine over max_steps, or over a time budget: budget.py).
Distributed training (torchrun, DDP, per-rank seeds, barriers): distributed.py.

Batches.  [train] batch_size is the *global* batch of one optimiser step, whatever the hardware: it is
split across the processes of a distributed run, and each process's share is split again into
[train] grad_accum micro-batches (so batch_size must be divisible by processes × grad_accum).  Which
clips form step s's batch depends only on (seed, s), never on the number of processes, so changing the
hardware or the accumulation changes memory use, not the data a step sees.

Gradient accumulation: micro-batches on every rank run backward under DDP's no_sync except the last one,
so gradients are all-reduced once per optimiser step.  t and the noise are drawn for the whole share
first, so grad_accum = k trains the same model as grad_accum = 1, up to float rounding.

Fault tolerance: checkpoints, exact resume, the run lock and refused damaged states are state.py's.
Non-finite losses or gradient norms skip the step (counted in the log); MAX_BAD_STEPS in a row stop the
run, naming the last checkpoint.  SIGINT / SIGTERM / SIGHUP stop the run after the current step with a
checkpoint (every rank after the same step; see interrupt.py).

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
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .. import checkpoint as ckpt
from ..device import resolve_device
from ..diffusion import GaussianDiffusion
from ..recipe import diffusion_config
from ..domains import chunk_cond
from ..ema import EMAUpdate
from ..install import machine_record
from ..interrupt import Interrupted, StopFlag
from ..nets import build_network
from ..pipeline import Pipeline
from ..precision import autocast as precision_autocast, resolve_precision
from .distributed import barrier, close_distributed, compute_threads, quiet_logger, rank_seed, setup_distributed
from .training_data import TrainingData
from .budget import Budget, TrainingClock, check_minutes, format_minutes, resolve_budget
from .lr import lr_factor
from .objectives import Objective, objective_for
from .errors import TrainingError
from .monitor import Monitor, ProgressBar, StepMeter
from .state import Checkpointed, Progress, RunState, check_run_dir, disk_errors, lock_run_dir, run_config

if TYPE_CHECKING:
    from ..recipe import Recipe

log = logging.getLogger("audiodiff")

MAX_BAD_STEPS = 20  # consecutive non-finite steps before the run stops


class Trainer:
    """Trains recipe's model into run_dir; `fit()` runs until max_steps, checkpointing on the way."""

    def __init__(self, recipe: Recipe, run_dir: str | Path, device: str = "auto", max_steps: int | None = None,
                 show_progress: bool = True, restart: bool = False, minutes: float | None = None,
                 objective: Objective | None = None):
        """restart: train from step 0 even though run_dir holds a checkpoint or weights (they are replaced
        at the first checkpoint); without it a run is resumed, and weights without a training state are
        refused rather than silently overwritten.  minutes: train this much longer (wall clock, see budget.py);
        with max_steps, whichever comes first.  objective: what a step optimises (default: the one the network
        declares, objectives.objective_for)."""
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.cfg = recipe.train
        self.max_steps = int(max_steps) if max_steps is not None else self.cfg.max_steps
        if self.max_steps < 1:
            raise TrainingError(f"--max-steps must be >= 1, got {self.max_steps}")
        if minutes is not None:
            check_minutes(minutes, "--minutes")     # before the run folder exists
        device_ = resolve_device(device if device != "auto" else self.cfg.device)
        torch.set_num_threads(compute_threads(self.cfg.threads))
        self.clock = TrainingClock()
        self.budget = Budget(None, self.clock)      # resolved once the checkpoint is read (_build)
        self._cli_minutes = minutes
        self.diffusion = GaussianDiffusion.from_config(diffusion_config(recipe.diffusion))
        # before config.json is made: a classifier's [model] sample_rate follows [data] (classification.py)
        self.objective = objective or objective_for(recipe.model, self.diffusion, recipe.data.sample_rate)
        self.config = run_config(recipe)
        self._stop = StopFlag()          # SIGINT / SIGTERM / SIGHUP during fit(): see interrupt.py
        self._stop_agreed = False        # every rank's verdict of the last step's all-reduce
        self._lock = lock_run_dir(self.run_dir)
        try:
            check_run_dir(self.run_dir, self.config)
            self.device, self.rank, self.local_rank, self.world_size, self._owns_group = setup_distributed(device_)
        except BaseException:
            self._lock.release()
            raise
        self.is_main = self.rank == 0
        self.show_progress = show_progress and self.is_main
        if not self.is_main:
            quiet_logger()
        self.state = RunState(self.run_dir, restart, self.cfg.seed, self.rank, self.world_size)
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
        self.objective.attach(self)      # before the seed: what it builds (a teacher) leaves the network's init alone
        torch.manual_seed(cfg.seed)
        self.model = build_network(self.recipe.model).to(self.device)
        self.precision = resolve_precision(cfg.precision, self.device)   # "fp32" | "bf16"
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        self._ema_update = EMAUpdate(self.ema, self.model, cfg.ema_decay)
        # fused: one kernel for every parameter's update, on CPU too (the default on CPU is a Python loop)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                           weight_decay=cfg.weight_decay, fused=self.device.type in ("cpu", "cuda"))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: self.lr_factor(s))
        self.noise_rng = torch.Generator(device=self.device).manual_seed(rank_seed(cfg.seed + 1, self.rank))
        if self.rank:   # rank 0 keeps the one-process stream, so a one-process run is unchanged
            torch.manual_seed(rank_seed(cfg.seed, self.rank))
        self.bad_steps = 0
        self._bad_what = "loss"
        self.data = TrainingData(self.recipe, self.config, self.device, self.rank, self.local_rank, self.world_size,
                                 self.show_progress, int(getattr(self.model, "num_classes", 0) or 0),
                                 self.objective.labels_are_targets)
        self.monitor = Monitor(self.diffusion.num_steps, self.device, self.world_size)
        self.evaluator = None       # built when the run starts (_fit): see Objective.evaluator
        progress = self.state.resume(self._checkpointed())
        self.step, self.skipped_total = progress.step, progress.skipped
        self.clock.spent = progress.train_seconds
        self.budget = Budget(resolve_budget(self._cli_minutes, self.cfg.minutes, progress.budget_seconds,
                                            self.clock.spent), self.clock)
        self.machine = machine_record(str(self.device)) if self.is_main else {}
        # What the loss calls: compiled (its parameters are self.model's) and/or DDP-wrapped.  The EMA,
        # the optimizer and checkpoints always use the plain self.model.
        net = torch.compile(self.model) if cfg.compile else self.model
        self.ddp = None
        if self.world_size > 1:
            self.ddp = DistributedDataParallel(net, device_ids=[self.device.index] if self.device.type == "cuda"
                                               else None)
        self.train_model = self.ddp if self.ddp is not None else net
        self.objective.start(self)

    def lr_factor(self, s: int) -> float:
        """Multiplier of [train] learning_rate for the optimiser update after `s` earlier ones: the objective's,
        else the run's schedule (lr.py)."""
        own = self.objective.lr_factor(s)
        return lr_factor(s, self.cfg, self.budget.fraction) if own is None else own

    @property
    def last_checkpoint_step(self) -> int | None:
        return self.state.last_checkpoint_step

    @property
    def writer(self):
        """The TensorBoard writer (rank 0 of a run with [train] tensorboard, once it started), else None."""
        return self.monitor.writer

    def _checkpointed(self) -> Checkpointed:
        return Checkpointed(self.model, self.ema, self.optimizer, self.scheduler, self.noise_rng, self.objective)

    def _config_now(self) -> tuple[Progress, dict[str, Any]]:
        """The run's progress, and config.json with it (steps, training minutes, the budget, the machine)."""
        progress = Progress(self.step, self.skipped_total, self.clock.elapsed(), self.budget.seconds)
        return progress, {**self.config, **progress.record(self.machine)}

    def save_checkpoint(self) -> None:
        """Training state, EMA weights and config, replaced together (state.RunState.save); every rank calls it."""
        self.state.save(self._checkpointed(), *self._config_now())
        if self.writer is not None:
            self.writer.flush()

    # ----------------------------------------------------------------- one optimiser step
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
        self.monitor.grad_norm_sum += norm_value
        return loss_value

    def train_step(self, x0: torch.Tensor, **cond: torch.Tensor) -> float | None:
        """One optimiser step on this process's share of the batch, x0: [B, 1, L] (conditioning tensors
        [B, …] as keywords), in grad_accum micro-batches of the run's objective (objectives.py).  Returns the
        loss (averaged over all processes), or None when the loss or the gradient norm was not finite and the
        step was skipped."""
        self.objective.before_step(self)
        self.train_model.train()
        drawn = self.objective.draw(x0, self.noise_rng)   # for the whole share: micro-batching keeps the numbers
        n = self.cfg.grad_accum
        chunks = list(zip(x0.chunk(n), chunk_cond(drawn, n), chunk_cond(cond, n)))
        batch = x0.shape[0]
        loss_sum = None
        per_example = []
        for i, (xb, db, cb) in enumerate(chunks):
            last = i == len(chunks) - 1      # DDP all-reduces gradients on the last micro-batch only
            with contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync():
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
            self.monitor.record_loss_bins(drawn["t"], torch.cat(per_example))
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
            self.monitor.close()
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
            self.objective.after_fit(self)
            return
        prepared = time.perf_counter()
        dataset = self.data.prepare(self.run_dir)
        if self.is_main:
            log.info("data ready in %.1f s (not counted in the time budget)", time.perf_counter() - prepared)
            self._start_run_dir(len(dataset))
            # before the first step: a missing classifier or reference set stops the run now, not eval_every steps on
            self.evaluator = self.objective.evaluator(self)
        batches = iter(self.data.loader(self.step))
        meter = StepMeter(self.step)
        bar = ProgressBar(self.show_progress, self.step, self.max_steps, self.budget)
        self._stop.deferring = True      # from here on a signal stops after the current step
        self.clock.start()
        try:
            while self.step < self.max_steps:
                x0, cond = self.data.next_batch(batches, self.step, self.noise_rng)
                value = self.train_step(x0, **cond)
                self.step += 1
                if value is None:        # skipped (non-finite)
                    self._on_bad_step()
                else:
                    self.bad_steps = 0
                    meter.losses.append(value)
                if self.step % self.cfg.log_every == 0 or self.step == self.max_steps or self.budget.over:
                    self._log(meter, bar)
                bar.advance()
                if self._stop_agreed or self.budget.over:   # the budget: at the first step boundary past it
                    break
                self._when_due()
        finally:
            bar.stop()
        self._finish(meter)
        self.objective.after_fit(self)

    def _start_run_dir(self, n_clips: int) -> None:
        """Rank 0: the run directory, its config.json, the opening log line and the TensorBoard writer."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stale = ckpt.remove_stale_temp_files(self.run_dir)
        if stale:
            log.info("removed %d temp file(s) left by an interrupted checkpoint", len(stale))
        with disk_errors(self.run_dir, self.last_checkpoint_step):
            ckpt.save_config(self.run_dir, self._config_now()[1])
        n_params = sum(p.numel() for p in self.model.parameters())
        procs = f" × {self.world_size} processes" if self.world_size > 1 else ""
        log.info("training %s (%s, %.2fM parameters) on %s%s (%d threads) in %s, %d clips, steps %d → %d%s, "
                 "run dir %s", self.recipe.name, self.recipe.model["type"], n_params / 1e6, self.device, procs,
                 torch.get_num_threads(), self.precision, n_clips, self.step, self.max_steps, self.budget.opening(),
                 self.run_dir)
        if self.cfg.tensorboard:
            self.monitor.open(self.run_dir, self.step)

    def _log(self, meter: StepMeter, bar: ProgressBar) -> None:
        """Every log_every steps (every rank: the TensorBoard scalars are reduced across ranks)."""
        info, window_rate = meter.close_window(self.step, self.skipped_total)
        if self.cfg.tensorboard:
            self.monitor.log_scalars(self.step, meter.losses, window_rate, self.scheduler.get_last_lr()[0],
                                     self.skipped_total, self.objective.scalars())
        meter.losses.clear()
        bar.update(info)
        if self.is_main and (not bar.shown or not sys.stderr.isatty()):
            log.info("step %d/%d  %s", self.step, self.max_steps, info)

    def _when_due(self) -> None:
        """Previews, evaluation and the periodic checkpoint (and any the objective asks for), each on its own
        schedule."""
        if self.writer is not None and self.objective.makes_audio and self.cfg.preview_every \
                and self.step % self.cfg.preview_every == 0:
            pipe = Pipeline.for_config(self.ema.module, self.diffusion, self.config, device=self.device)
            self.monitor.preview(self.step, pipe, self.cfg.preview_n, self.data.dataset)
        if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
            self._evaluate()
        if (self.step % self.cfg.checkpoint_every == 0 or self.objective.checkpoint_due(self.step)) \
                and self.step < self.max_steps:
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

    def _evaluate(self) -> None:
        """[train] eval_every: the objective's evaluator (by default FID / IS of EMA samples against [train]
        eval_classifier, evaluation.py); every rank calls it, rank 0 scores."""
        if self.is_main and self.evaluator is not None:
            self.evaluator.run()
        barrier(self.device, self.world_size)

    def _close_distributed(self, ok: bool) -> None:
        self._owns_group = close_distributed(self.device, self.world_size, ok, self._owns_group)

