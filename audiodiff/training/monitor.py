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


class Monitoring:
    """The Trainer's TensorBoard steps (a mixin: it reads the trainer's writer, step, scheduler and ranks).
    `_loss_bins` [2, LOSS_BINS] holds the per-bin loss sums and counts since the last log, on the device."""

    def _record_loss_bins(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Per-example losses [B] at steps t [B] into the loss_by_t bins (no host sync)."""
        bins = (t * LOSS_BINS // self.diffusion.num_steps).clamp_(max=LOSS_BINS - 1)
        values = losses.float()
        self._loss_bins[0].index_add_(0, bins, values)
        self._loss_bins[1].index_add_(0, bins, torch.ones_like(values))

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
        wav = preview_clips(pipe, self.cfg.preview_n, self._dataset.clips, seed=0)
        for i, clip in enumerate(wav):
            self.writer.add_audio(f"preview/audio_{i}", clip[None], self.step, sample_rate=pipe.sample_rate)
        self.writer.add_image("preview/mel", mel_image(wav, pipe.sample_rate), self.step)
        log.info("step %d: %d preview clip(s) written to TensorBoard in %.1f s", self.step, len(wav),
                 time.perf_counter() - start)
        if self._dataset is not None and len(self._dataset):
            data = torch.stack([c.reshape(-1) for c in clip_sample(self._dataset.clips, len(wav), seed=0)])
            stats = compare_to_data(wav.reshape(len(wav), -1), data, pipe.sample_rate)
            for name, value in stats.items():   # early warning: level, spread, clipping, band energy vs the data
                self.writer.add_scalar(f"preview_stats/{name}", value, self.step)
            log.info("step %d: preview std %.3g (data %.3g), %.2g%% at full scale, largest octave-band gap %.1f dB",
                     self.step, stats["std"], stats["data_std"], 100 * stats["clipped"], stats["band_gap_db"])


class StepMeter:
    """The losses and timings of the current log window (train/steps_per_s is per window)."""

    def __init__(self, step: int):
        self.start_step, self.t0 = step, time.perf_counter()
        self.losses: list[float] = []
        self._window = (step, self.t0)

    def window_rate(self, step: int, now: float) -> float:
        return (step - self._window[0]) / max(now - self._window[1], 1e-9)

    def new_window(self, step: int, now: float) -> None:
        self._window = (step, now)
        self.losses.clear()


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
