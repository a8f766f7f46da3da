"""Which device a run uses: the `--device` / [train] device choices and their resolution to a torch.device.

Kept apart from the trainer so that sampling, evaluation and the CLI resolve a device without importing the
distributed-training code.
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")   # auto: CUDA when present, else CPU


class DeviceError(ValueError):
    """A device that was asked for but is not there."""


def device_choices() -> str:
    """DEVICES as a phrase for error messages: 'auto, cpu or cuda'."""
    return f"{', '.join(DEVICES[:-1])} or {DEVICES[-1]}"


def resolve_device(name: str) -> torch.device:
    """A device name ("auto" or a torch device string) → the torch.device to run on; DeviceError when cuda
    is asked for but absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(name)
