"""The device and machine a measurement ran on, and its peak memory: CUDA's allocator peak, or on a CPU the process's
peak resident set."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch
from audiodiff.install import cpu_name

__all__ = ["MIB", "PeakMemory", "cpu_name", "device_name", "max_rss_mib", "pick_device", "sync"]

MIB = 1024 ** 2


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA) before a timer is read; nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def pick_device(name: str | None) -> torch.device:
    """--device NAME, or CUDA when there is one; SystemExit when CUDA is asked for and absent."""
    device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    return device


class PeakMemory:
    """Peak memory of one phase: CUDA allocator peak, or the process's peak RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "cpu_max_rss_process"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        # Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM (peak RSS), so each phase gets its own peak.
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.kind = "cpu_peak_rss_phase"
        except OSError:
            self.kind = "cpu_max_rss_process"

    def read_mib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / MIB
        if self.kind == "cpu_peak_rss_phase":
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
        return max_rss_mib()


def max_rss_mib() -> float:
    """getrusage peak RSS of this process (kB on Linux, bytes on macOS); since start unless clear_refs reset it."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MIB if sys.platform == "darwin" else rss / 1024
