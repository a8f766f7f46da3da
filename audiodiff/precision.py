"""How the network runs: one place decides fp32 or bf16 (for training, sampling and `audiodiff env`), and
compiles the network for the reverse chains.

"auto" means bf16 where the hardware computes it natively, fp32 elsewhere:

- CUDA: compute capability ≥ 8.0 (Ampere and later have bf16 tensor cores; older cards emulate it slowly);
- CPU: the `amx_bf16` or `avx512_bf16` flag in /proc/cpuinfo (Sapphire Rapids / Cooper Lake Xeons, Zen 4
  EPYCs).  Without them oneDNN converts bf16 to fp32 around every kernel, which is slower than fp32.
  Outside Linux the flags cannot be read and auto stays fp32.

Only the network runs in bf16.  The schedule (float64), the sampler's update rules and the loss
reduction stay in float32/float64, as before: training wraps the loss in `torch.autocast` (weights and
optimizer state stay fp32), and sampling calls a bf16 copy of the network made once (`cast_network`)
rather than autocast, whose weight casts are repeated on every call of the reverse chain.  A module that
declares `keep_float32` (DiffWave's mel upsampler) computes in float32 either way.
"""

from __future__ import annotations

import contextlib
import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") or line.startswith("Features"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_native(device: torch.device | str) -> bool:
    """Whether `device` computes bf16 natively (see the module docstring for the rule)."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """"auto" | "fp32" | "bf16" → "fp32" or "bf16" on `device` (auto: bf16 where `bf16_native`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device | str):
    """Training's context: torch.autocast to bf16 for "bf16", nothing for "fp32" (a resolved precision)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


class CastNetwork(nn.Module):
    """A network whose weights were cast to `dtype` once: floating inputs are cast to it, the output
    comes back as float32, so the sampler's arithmetic is unchanged.  x: [B, C, L] → [B, C, L] float32.

    The step t of an ε-network is passed as it is (the networks' sinusoidal embeddings compute in float32 and cast
    to their MLP's dtype: step indices up to 1000 times frequencies up to 10⁴ do not survive bf16); a one-call
    network (spectral_mask) takes x alone."""

    def __init__(self, net: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.net = copy.deepcopy(net).to(dtype).eval().requires_grad_(False)
        _keep_float32_parts(net, self.net)
        self.dtype = dtype
        self.num_classes = int(getattr(net, "num_classes", 0) or 0)
        self.in_channels = int(getattr(net, "in_channels", 1))

    def forward(self, x: Tensor, *step: Tensor, **cond: Any) -> Tensor:
        cond = {k: v.to(self.dtype) if torch.is_tensor(v) and v.is_floating_point() else v for k, v in cond.items()}
        return self.net(x.to(self.dtype), *step, **cond).float()


def _keep_float32_parts(source: nn.Module, cast: nn.Module) -> None:
    """Give the cast copy's sinusoidal embeddings the source's float32 frequency tables back (the cast has
    rounded them to bf16, which would scramble the phases t·f of the step features), and put back in float32
    the modules that declare `keep_float32` (they compute in float32 themselves, e.g. DiffWave's MelUpsampler)."""
    from .nets.layers import SinusoidalEmbedding

    for original, copied in zip(source.modules(), cast.modules()):
        if isinstance(copied, SinusoidalEmbedding):
            copied.freqs = original.freqs.detach().clone()
        if getattr(copied, "keep_float32", False):
            copied.float()
            copied.load_state_dict(original.state_dict())   # the source's values, not their bf16 rounding


def cast_network(net: nn.Module, precision: str) -> nn.Module:
    """The network sampling should call at a resolved precision: `net` itself for fp32, a bf16 copy for bf16."""
    return net if precision == "fp32" else CastNetwork(net, torch.bfloat16)


class CompiledNetwork(nn.Module):
    """torch.compile of an ε-network for the reverse chain.  On CUDA the mode is "reduce-overhead": the
    network call is captured as a CUDA graph and replayed, so a 200-step chain launches its kernels without
    per-step Python work.  A CUDA graph writes every replay's output into the same memory, so each call
    starts a new graph step and hands back a copy (x: [B, C, L] → [B, C, L]); samplers keep earlier
    outputs (DPM-Solver++ reuses the previous x̂0).  Shapes are static: a new batch size or length
    records one more graph."""

    def __init__(self, net: nn.Module, device: torch.device | str):
        super().__init__()
        self.net = net
        self.cuda_graphs = torch.device(device).type == "cuda"
        self.compiled = torch.compile(net, mode="reduce-overhead" if self.cuda_graphs else None, dynamic=False)
        self.num_classes = int(getattr(net, "num_classes", 0) or 0)
        self.in_channels = int(getattr(net, "in_channels", 1))

    def forward(self, x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
            return self.compiled(x, t, **cond).clone()
        return self.compiled(x, t, **cond)


def compile_network(net: nn.Module, device: torch.device | str) -> nn.Module:
    """`net` compiled for sampling on `device` (see CompiledNetwork)."""
    return CompiledNetwork(net, device)
