"""Batch order: a pure function of (seed, epoch, step), so a resumed run sees exactly the batches an
uninterrupted one would."""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (index, epoch) keys from a fresh permutation each epoch (seeded by seed + epoch).

    Step s is batch s mod n of epoch s // n, so starting at `start_step` resumes exactly.  With
    `world_size` > 1 each rank takes its own slice of every global batch.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int = 0, start_step: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.n = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = max(1, dataset_size // batch_size)

    def __len__(self) -> int:  # endless; DataLoader only needs it for progress display
        return 2 ** 62

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            epoch, pos = divmod(step, self.batches_per_epoch)
            if pos == 0 or step == self.start_step:
                g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
                perm = torch.randperm(self.n, generator=g)
                if self.n < self.batch_size:  # tiny datasets: repeat to fill a batch
                    perm = perm.repeat(math.ceil(self.batch_size / self.n))[: self.batch_size]
            batch = perm[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()
            per_rank = len(batch) // self.world_size
            yield [(i, epoch) for i in batch[self.rank * per_rank:(self.rank + 1) * per_rank]]
            step += 1
