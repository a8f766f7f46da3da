"""Batch order: a pure function of (seed, epoch, step), so a resumed run sees exactly the batches an
uninterrupted one would."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def class_balanced_weights(labels: Sequence[int]) -> torch.Tensor:
    """Per-clip weights [N] that make every class equally likely in a weighted draw: 1 / (clips of its class)."""
    labels = torch.as_tensor(list(labels), dtype=torch.long)
    if labels.numel() == 0:
        raise ValueError("no labels to balance")
    counts = torch.bincount(labels)
    return 1.0 / counts[labels].double()


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (index, epoch) keys from a fresh permutation each epoch (seeded by seed + epoch).

    Step s is batch s mod n of epoch s // n, so starting at `start_step` resumes exactly.  With
    `world_size` > 1 each rank takes its own slice of every global batch.  With `weights` [N] an epoch is N draws
    with replacement in proportion to them instead of a permutation (class_balanced_weights: rare classes as
    often as common ones), seeded the same way, so it resumes as exactly.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int = 0, start_step: int = 0,
                 rank: int = 0, world_size: int = 1, weights: Sequence[float] | torch.Tensor | None = None):
        self.n = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = max(1, dataset_size // batch_size)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if self.weights is not None and (self.weights.shape != (dataset_size,) or bool((self.weights < 0).any())
                                         or not float(self.weights.sum()) > 0):
            raise ValueError(f"weights must be {dataset_size} numbers >= 0 with a positive sum")

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """The clip indices of one epoch: a permutation, or N weighted draws with replacement."""
        g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, max(self.n, self.batch_size), replacement=True, generator=g)
        perm = torch.randperm(self.n, generator=g)
        if self.n < self.batch_size:  # tiny datasets: repeat to fill a batch
            perm = perm.repeat(math.ceil(self.batch_size / self.n))[: self.batch_size]
        return perm

    def __len__(self) -> int:  # endless; DataLoader only needs it for progress display
        return 2 ** 62

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            epoch, pos = divmod(step, self.batches_per_epoch)
            if pos == 0 or step == self.start_step:
                perm = self._epoch_order(epoch)
            batch = perm[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()
            per_rank = len(batch) // self.world_size
            yield [(i, epoch) for i in batch[self.rank * per_rank:(self.rank + 1) * per_rank]]
            step += 1
