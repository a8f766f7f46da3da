"""The trainer's data: the dataset (built rank by rank), its labels and features, the loader, and each batch as
the run's domain feeds the network."""

from __future__ import annotations

import logging

import torch
from torch.utils.data import DataLoader

from ..data import EpochBatchSampler, build_dataset, mixer_for
from ..domains import fit_features, prepare_batch, split_item
from ..install import cores_available
from .distributed import in_turns, rank_seed
from .errors import TrainingError

log = logging.getLogger("audiodiff")


class TrainingData:
    """Trainer mixin: reads self.recipe, self.cfg, self.config, self.device, self.step and the rank attributes."""

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
        self.config["class_names"] = list(names)

    def _drop_labels(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Labels on the device, each replaced by "unlabelled" with probability [train] cond_drop; None for an
        unconditional model (batches of a labelled corpus carry labels it does not use)."""
        if labels is None or not self.num_classes:
            return None
        labels = labels.to(self.device, non_blocking=True)
        if self.cfg.cond_drop > 0:
            drop = torch.rand(labels.shape, device=self.device, generator=self.noise_rng) < self.cfg.cond_drop
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return labels

    def _build_dataset(self):
        return in_turns(lambda: build_dataset(self.recipe.data, seed=self.cfg.seed, show_progress=self.show_progress),
                        self.rank, self.local_rank, self.world_size, self.device)

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
        cores = cores_available()
        workers = min(asked, max(0, cores - torch.get_num_threads()))
        if workers < asked and self.is_main:
            log.info("CPU run: %d DataLoader worker(s) instead of [data] num_workers = %d (%d cores, %d compute "
                     "threads)", workers, asked, cores, torch.get_num_threads())
        return workers

    def _next_batch(self, batches) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The next batch on the device as the domain feeds the net: x0 [B, C, L] and its conditioning."""
        wave, labels = split_item(next(batches))
        wave = wave.to(self.device, non_blocking=True)
        return prepare_batch(self.config["domain"], self.features, wave, self._drop_labels(labels), mix=self._mix())

    def _mix(self):
        """A denoiser's pairing for this step: noise and SNRs drawn from (seed, rank, step), so a resumed run
        mixes exactly what an uninterrupted one would; None for other domains."""
        if self._mixer is None:
            return None
        g = torch.Generator().manual_seed(rank_seed(self.cfg.seed + 2, self.rank, self.step))
        return lambda wave: self._mixer(wave, g)

    def _prepare_data(self):
        """The dataset, its labels (class-conditional runs) and its features (mel / vocoder runs)."""
        dataset = self._build_dataset()
        self._use_labels(dataset)
        self.features = fit_features(self.config, dataset.clips, self.run_dir, seed=self.cfg.seed)
        if self.config["domain"] == "denoiser":
            self._mixer = in_turns(lambda: mixer_for(self.recipe.data, self.cfg.seed, self.show_progress),
                                   self.rank, self.local_rank, self.world_size, self.device)
        self._dataset = dataset
        return dataset
