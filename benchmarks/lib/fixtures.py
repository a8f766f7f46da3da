"""Generated inputs the benchmarks share: a folder of tones to train on, and the regression suite's DiffWave at its
sizes with a fixed batch and its raw training step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf
import torch

# (DiffWave residual_layers, residual_channels, dilation_cycle, batch, length, repeats) by size; full is the SC09
# DiffWave at batch 2 × 4,000
DIFFWAVE = {"smallest": (2, 8, 2, 1, 256, 2), "quick": (12, 64, 6, 2, 4000, 8), "full": (36, 256, 12, 2, 4000, 10)}


def write_tones(folder: Path, count: int, length: int, rate: int) -> None:
    """`count` clips of two harmonics plus a little noise, 16-bit WAV."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(length) / rate
    for i in range(count):
        f = 110.0 * 2 ** (i % 24 / 12)
        wave = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t) + 0.01 * rng.standard_normal(length)
        sf.write(str(folder / f"tone_{i:03d}.wav"), wave.astype(np.float32), rate, subtype="PCM_16")


def diffwave(size: str) -> tuple[torch.nn.Module, Any, torch.Tensor, int]:
    """(network, diffusion, x0, repeats) at DIFFWAVE[size]: T = 200 linear β 1e-4 → 0.02, x0 ~ U[-0.8, 0.8],
    seeded."""
    from audiodiff import DiffWave, GaussianDiffusion, NoiseSchedule

    layers, channels, cycle, batch, length, repeats = DIFFWAVE[size]
    torch.manual_seed(0)
    net = DiffWave(residual_layers=layers, residual_channels=channels, dilation_cycle=cycle)
    diffusion = GaussianDiffusion(NoiseSchedule.linear(200, 1e-4, 0.02))
    x0 = torch.rand(batch, 1, length) * 1.6 - 0.8
    return net, diffusion, x0, repeats


def train_step(net: torch.nn.Module, diffusion: Any, x0: torch.Tensor) -> Callable[[], None]:
    """The raw training step on fixed x0: the diffusion loss, backward, fused AdamW."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        diffusion.loss(net, x0).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step
