"""The trainer's data: the dataset (built rank by rank), its labels and features, the loader, and each batch as
the run's domain feeds the network."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from ..data import EpochBatchSampler, build_dataset, class_balanced_weights
from ..domains import get_domain, prepare_batch, split_item
from ..run_features import fit_features
from ..install import cores_available
from .distributed import in_turns, rank_seed
from .errors import TrainingError

if TYPE_CHECKING:
    from ..recipe import Recipe

log = logging.getLogger("audiodiff")


class TrainingData:
    """A run's data on one process: built by `prepare`, then `loader(step)` and `next_batch` per step.  Holds the
    dataset, the features fitted to it (mel / vocoder runs) and the domain's transform of each batch (the pairing
    of clean clips with degraded ones in denoiser and bandwidth runs, a vocoder's speed perturbation); writes the
    class names and features into the run's `config`.

    labels_are_targets: a classifier's labels (required, as many classes as the network's `num_classes`, never
    dropped); otherwise a class-conditional network ([model] num_classes > 0) gets them with [train] cond_drop."""

    def __init__(self, recipe: Recipe, config: dict[str, Any], device: torch.device, rank: int, local_rank: int,
                 world_size: int, show_progress: bool, num_classes: int, labels_are_targets: bool):
        self.recipe, self.cfg, self.config, self.device = recipe, recipe.train, config, device
        self.rank, self.local_rank, self.world_size = rank, local_rank, world_size
        self.show_progress, self.is_main = show_progress, rank == 0
        self.num_classes, self.labels_are_targets = num_classes, labels_are_targets
        self.dataset = None
        self.features = None
        self.transform = None

    def prepare(self, run_dir: Path):
        """The dataset, its labels (class-conditional runs and classifiers) and its features (mel / vocoder runs)."""
        dataset = in_turns(lambda: build_dataset(self.recipe.data, seed=self.cfg.seed,
                                                 show_progress=self.show_progress), self.rank, self.local_rank, self.world_size, self.device)
        self._check_labels(dataset)
        if self.cfg.balance_classes and getattr(dataset, "labels", None) is None:
            raise TrainingError(f"[train] balance_classes needs a labelled dataset (e.g. dataset = \"classes\"); "
                                f"{self.recipe.data.dataset!r} has no labels: set it to false")
        self.features = fit_features(self.config, dataset.clips, run_dir, seed=self.cfg.seed)
        domain = get_domain(self.config["domain"])
        self.transform = in_turns(lambda: domain.batch_transform(self.recipe.data, self.cfg.seed, self.show_progress),
                              self.rank, self.local_rank, self.world_size, self.device)
        self.dataset = dataset
        return dataset

    def _check_labels(self, dataset) -> None:
        """A model that uses labels needs a labelled dataset with no more classes than it has (a classifier:
        exactly as many); their names go into config.json."""
        if not self.num_classes:
            return
        names = getattr(dataset, "class_names", None)
        if getattr(dataset, "labels", None) is None or not names:
            needs = "a classifier needs" if self.labels_are_targets else \
                f"[model] num_classes = {self.num_classes} needs"
            raise TrainingError(f"{needs} a labelled dataset (e.g. dataset = \"speechcommands\"); "
                                f"{self.recipe.data.dataset!r} has no labels")
        if self.num_classes < len(names) or (self.labels_are_targets and self.num_classes != len(names)):
            raise TrainingError(f"[model] num_classes = {self.num_classes} but the dataset has {len(names)} "
                                f"classes ({', '.join(names)})")
        self.config["class_names"] = list(names)

    def _labels(self, labels: torch.Tensor | None, noise_rng: torch.Generator) -> torch.Tensor | None:
        """Labels on the device; a conditional model's each replaced by "unlabelled" with probability [train]
        cond_drop (drawn from noise_rng); None for an unconditional model (batches of a labelled corpus carry
        labels it does not use)."""
        if labels is None or not self.num_classes:
            return None
        labels = labels.to(self.device, non_blocking=True)
        if self.labels_are_targets:
            return labels
        if self.cfg.cond_drop > 0:
            drop = torch.rand(labels.shape, device=self.device, generator=noise_rng) < self.cfg.cond_drop
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return labels

    def loader(self, start_step: int) -> DataLoader:
        weights = class_balanced_weights(self.dataset.labels) if self.cfg.balance_classes else None
        sampler = EpochBatchSampler(len(self.dataset), self.cfg.batch_size, seed=self.cfg.seed, start_step=start_step,
                                    rank=self.rank, world_size=self.world_size, weights=weights)
        workers = self.loader_workers()
        # Its own generator: otherwise creating the iterator draws a seed from the global RNG after a resume
        # has restored it, and dropout in the resumed run no longer matches the uninterrupted one.
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                          pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def loader_workers(self) -> int:
        """[data] num_workers, but on a CPU run no more than the cores the compute threads leave free: clips
        come from memory or the decode cache (tens of µs each), so there workers bring nothing and their
        processes take cores from the network's threads."""
        asked = self.recipe.data.num_workers
        if self.device.type != "cpu" or not asked:
            return asked
        cores = cores_available()
        workers = min(asked, max(0, cores - torch.get_num_threads()))
        if workers < asked and self.is_main:
            log.info("CPU run: %d DataLoader worker(s) instead of [data] num_workers = %d (%d cores, %d compute "
                     "threads)", workers, asked, cores, torch.get_num_threads())
        return workers

    def next_batch(self, batches, step: int, noise_rng: torch.Generator) \
            -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The next batch on the device as the domain feeds the net: x0 [B, C, L] and its conditioning."""
        wave, labels = split_item(next(batches))
        wave = wave.to(self.device, non_blocking=True)
        return prepare_batch(self.config["domain"], self.features, wave, self._labels(labels, noise_rng),
                             transform=self._step_transform(step))

    def _step_transform(self, step: int):
        """The domain's batch_transform for this step (a denoiser's noise and SNRs, a vocoder's speeds) drawn from
        (seed, rank, step), so a resumed run sees exactly what an uninterrupted one would; None where there is none."""
        if self.transform is None:
            return None
        g = torch.Generator().manual_seed(rank_seed(self.cfg.seed + 2, self.rank, step))
        return lambda wave: self.transform(wave, g)
