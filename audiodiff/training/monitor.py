"""What a run shows while it trains: TensorBoard scalars, audio and mel previews, and the mel image renderer.

TensorBoard (RUN_DIR/tb, [train] tensorboard = true): every log_every steps train/loss, train/lr,
train/grad_norm, train/steps_per_s, train/skipped_steps and loss_by_t/* (the loss in LOSS_BINS bins of the
diffusion step t, 0 = least noisy); every preview_every steps preview/audio_i clips and a preview/mel image
of them, generated from the EMA weights exactly as `audiodiff sample` would by default (the run's [sample]
settings, seed 0).  A resumed run purges the events logged after its checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..domains import preview_clips
from ..features import clip_sample, preview_features, preview_range
from ..pipeline import Pipeline
from ..progress import make_progress
from ..eval.wavestats import compare_to_data

log = logging.getLogger("audiodiff")

LOSS_BINS = 10      # TensorBoard loss_by_t: bins of the diffusion step t
TB_DIR = "tb"


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


def open_writer(run_dir: Path, step: int):
    """A TensorBoard SummaryWriter on RUN_DIR/tb; events a killed run logged after its last checkpoint
    (`step`) are replaced, not doubled (purge_step)."""
    from torch.utils.tensorboard import SummaryWriter   # tensorboard is imported only by runs that log

    return SummaryWriter(log_dir=str(run_dir / TB_DIR), purge_step=step or None)


class Monitor:
    """A run's TensorBoard: the writer (rank 0, [train] tensorboard), the per-bin losses [2, LOSS_BINS] (sums and
    counts since the last log, on the device) and the gradient norms since the last log.  Every rank holds one:
    the per-bin sums are reduced across ranks."""

    def __init__(self, num_steps: int, device: torch.device, world_size: int):
        self.num_steps, self.world_size = num_steps, world_size
        self.writer = None
        self.loss_bins = torch.zeros(2, LOSS_BINS, device=device)
        self.grad_norm_sum = 0.0

    def open(self, run_dir: Path, step: int) -> None:
        """Rank 0 of a run with [train] tensorboard: the writer on RUN_DIR/tb (see open_writer)."""
        self.writer = open_writer(run_dir, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def record_loss_bins(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Per-example losses [B] at steps t [B] into the loss_by_t bins (no host sync)."""
        bins = (t * LOSS_BINS // self.num_steps).clamp_(max=LOSS_BINS - 1)
        values = losses.float()
        self.loss_bins[0].index_add_(0, bins, values)
        self.loss_bins[1].index_add_(0, bins, torch.ones_like(values))

    def log_scalars(self, step: int, losses: list[float], rate: float, lr: float, skipped: int,
                    extra: dict[str, float]) -> None:
        """Every rank calls it (the per-bin sums are reduced across ranks); rank 0 writes."""
        bins = self.loss_bins
        if self.world_size > 1:
            bins = bins.clone()
            dist.all_reduce(bins)
        sums, counts = bins.tolist()
        self.loss_bins.zero_()
        grad_norm, self.grad_norm_sum = self.grad_norm_sum, 0.0
        w = self.writer
        if w is None:
            return
        if losses:
            w.add_scalar("train/loss", sum(losses) / len(losses), step)
            w.add_scalar("train/grad_norm", grad_norm / len(losses), step)
        w.add_scalar("train/lr", lr, step)
        w.add_scalar("train/steps_per_s", rate, step)
        w.add_scalar("train/skipped_steps", skipped, step)
        width = self.num_steps / LOSS_BINS
        for i, (s, c) in enumerate(zip(sums, counts)):
            if c:
                lo, hi = math.ceil(i * width), math.ceil((i + 1) * width) - 1
                w.add_scalar(f"loss_by_t/{i}_t{lo}-{hi}", s / c, step)
        for name, value in extra.items():
            w.add_scalar(name, value, step)

    def preview(self, step: int, pipe: Pipeline, n: int, dataset) -> None:
        """n clips from `pipe` (the EMA weights, made as `audiodiff sample` makes them by default) into
        TensorBoard, with their level, clipping and band energy against the training clips of `dataset`."""
        start = time.perf_counter()
        wav = preview_clips(pipe, n, dataset.clips, seed=0)
        for i, clip in enumerate(wav):
            self.writer.add_audio(f"preview/audio_{i}", clip[None], step, sample_rate=pipe.sample_rate)
        self.writer.add_image("preview/mel", mel_image(wav, pipe.sample_rate), step)
        log.info("step %d: %d preview clip(s) written to TensorBoard in %.1f s", step, len(wav),
                 time.perf_counter() - start)
        if len(dataset):
            data = torch.stack([c.reshape(-1) for c in clip_sample(dataset.clips, len(wav), seed=0)])
            stats = compare_to_data(wav.reshape(len(wav), -1), data, pipe.sample_rate)
            for name, value in stats.items():   # early warning: level, spread, clipping, band energy vs the data
                self.writer.add_scalar(f"preview_stats/{name}", value, step)
            log.info("step %d: preview std %.3g (data %.3g), %.2g%% at full scale, largest octave-band gap %.1f dB",
                     step, stats["std"], stats["data_std"], 100 * stats["clipped"], stats["band_gap_db"])


class StepMeter:
    """The losses and timings of the current log window (train/steps_per_s is per window)."""

    def __init__(self, step: int):
        self.start_step, self.t0 = step, time.perf_counter()
        self.losses: list[float] = []
        self._window = (step, self.t0)

    def close_window(self, step: int, skipped: int) -> tuple[str, float]:
        """At a log step: the progress line ("loss … steps/s", the rate since the run started) and the rate of
        this window (train/steps_per_s); the next window starts now (the caller clears `losses` once logged)."""
        now = time.perf_counter()
        rate = (step - self.start_step) / (now - self.t0)
        info = f"loss {sum(self.losses) / max(len(self.losses), 1):.4f}  {rate:.2f} steps/s" + (
            f"  skipped {skipped}" if skipped else "")
        window_rate = (step - self._window[0]) / max(now - self._window[1], 1e-9)
        self._window = (step, now)
        return info, window_rate


class ProgressBar:
    """The rich progress bar (rank 0, when asked for); every method is a no-op without one.  Counts steps
    toward max_steps, or, with a time budget (budget.py), training seconds toward the budget."""

    def __init__(self, shown: bool, step: int, total: int, budget=None):
        """budget: the run's budget.Budget; one with seconds set makes the bar count training seconds."""
        self.shown = shown
        self._clock = budget.clock if budget is not None and budget.seconds is not None else None
        self._bar = make_progress(transient=False) if shown else None
        if self._bar:
            self._bar.start()
            if self._clock is not None:
                self._task = self._bar.add_task("training (seconds of the time budget)", total=budget.seconds,
                                                completed=self._clock.spent, info="")
            else:
                self._task = self._bar.add_task("training", total=total, completed=step, info="")

    def update(self, info: str) -> None:
        if self._bar:
            self._bar.update(self._task, info=info)

    def advance(self) -> None:
        if self._bar:
            if self._clock is not None:
                self._bar.update(self._task, completed=self._clock.elapsed())
            else:
                self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar:
            self._bar.stop()
