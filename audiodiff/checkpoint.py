"""Run-directory files, each written atomically (temp file in the same folder, then rename).

config.json          everything needed to rebuild model, schedule and audio settings
model.safetensors    EMA weights (what `audiodiff.load` uses)
training_state.pt    model, optimizer, EMA, scheduler, step and RNG states for resume (tensors only,
                     loaded with weights_only=True, so no arbitrary unpickling)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
STATE = "training_state.pt"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename over `path`, so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    text = json.dumps(config, indent=2, sort_keys=False)
    atomic_write(run_dir / CONFIG, lambda tmp: Path(tmp).write_text(text + "\n"))


def load_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no {CONFIG}: not an audiodiff run or exported model")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None


def save_weights(run_dir: Path, module: torch.nn.Module, metadata: dict[str, str] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_weights(run_dir: Path, module: torch.nn.Module) -> None:
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no {WEIGHTS}: train it first (audiodiff train) or pick "
                                f"another run with --model")
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not match the model in {CONFIG}: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    atomic_write(run_dir / STATE, lambda tmp: torch.save(state, tmp))


def load_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
