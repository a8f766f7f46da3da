"""The trainer's process group: joining and leaving it, barriers, per-rank seeds and quiet logging.

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

Rank 0 keeps the one-process random streams, so a one-process run is unchanged; rank r > 0 seeds its noise
and dropout with seed + r · RANK_SEED_STRIDE.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from .errors import TrainingError

log = logging.getLogger("audiodiff")

RANK_SEED_STRIDE = 1_000_003  # rank r > 0 seeds its noise and dropout with seed + r * stride

T = TypeVar("T")


def launch_rank() -> int:
    """This process's rank before the process group exists (torchrun's RANK; 0 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def local_world_size() -> int:
    """Processes of this run on this machine (torchrun's LOCAL_WORLD_SIZE; 1 without torchrun)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def compute_threads(asked: int) -> int:
    """torch's thread count for a run: `asked` ([train] threads) when set, else at most the cores this process
    may use shared among the run's local processes (torch's default can exceed them, and spinning threads then
    slow every step: a third of the fair share on a busy machine), never more than the caller set (a script or
    test that asked for fewer keeps them)."""
    from ..install import cores_available

    return asked or max(1, min(torch.get_num_threads(), cores_available() // local_world_size()))


def setup_distributed(device: torch.device) -> tuple[torch.device, int, int, int, bool]:
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


def barrier(device: torch.device, world_size: int) -> None:
    """Wait for every rank (nothing to wait for in a one-process run)."""
    if world_size > 1:
        if device.type == "cuda":
            dist.barrier(device_ids=[device.index])
        else:
            dist.barrier()


def close_distributed(device: torch.device, world_size: int, ok: bool, owns_group: bool) -> bool:
    """Meet at a barrier (when the run ended normally on every rank), then leave the process group if we
    created it.  Returns whether this process still owns a process group (False once destroyed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return owns_group
    if ok:
        barrier(device, world_size)
    if owns_group:
        dist.destroy_process_group()
        return False
    return owns_group


def rank_seed(seed: int, rank: int, offset: int = 0) -> int:
    """The seed of rank `rank`'s stream `seed` (+ offset: a step, when a resume cannot restore the stream)."""
    return seed + RANK_SEED_STRIDE * rank + offset


def in_turns(build: Callable[[], T], rank: int, local_rank: int, world_size: int, device: torch.device) -> T:
    """`build()` on every rank, in turns: rank 0 first (it may generate or fetch data), then the first rank
    on every other machine (node-local disks), then the rest, who find the files ready."""
    if world_size == 1:
        return build()
    result = None
    for turn in (rank == 0, rank != 0 and local_rank == 0, local_rank != 0):
        if turn:
            result = build()
        barrier(device, world_size)
    return result


def _drop_info(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_logger() -> None:
    """Ranks other than 0 keep the 'audiodiff' logger's warnings and errors only (data loading, for one,
    would otherwise report the same clips once per process)."""
    if _drop_info not in log.filters:
        log.addFilter(_drop_info)
