"""Run-directory files, each written atomically (temp file in the same folder, then rename).

config.json          everything needed to rebuild model, schedule and audio settings
model.safetensors    EMA weights (what `audiodiff.load` uses)
training_state.pt    model, optimizer, EMA, scheduler, step and RNG states for resume (tensors only,
                     loaded with weights_only=True, so no arbitrary unpickling)

A training checkpoint writes all three as one unit (`save_checkpoint`): every file goes to a temp file
first, and only when all are written and fsynced are they renamed over the old ones.  An exception or a
kill while they are being written (disk full, kill -9) leaves the previous checkpoint whole.  Only the
three renames at the very end, microseconds apart, are not one atomic step; a kill between them still
leaves every file whole and loadable, the training state merely a checkpoint ahead of the weights.  The
temp files a kill leaves behind are removed by `remove_stale_temp_files` when the run resumes.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

from .atomic import TEMP_SUFFIX, atomic_write_many, remove_files

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
STATE = "training_state.pt"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename over `path`, so readers see the old or the new file, never half."""
    atomic_write_many([(path, write)])


def remove_stale_temp_files(run_dir: Path) -> list[Path]:
    """Delete the temp files a killed writer left in run_dir (.config.json.*.tmp, …); returns them."""
    return remove_files(p for name in (CONFIG, WEIGHTS, STATE) for p in Path(run_dir).glob(f".{name}.*{TEMP_SUFFIX}"))


def _config_writer(config: dict[str, Any]) -> Callable[[str], None]:
    text = json.dumps(config, indent=2, sort_keys=False) + "\n"
    return lambda tmp: Path(tmp).write_text(text)


def _weights_writer(module: torch.nn.Module, metadata: dict[str, str] | None) -> Callable[[str], None]:
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    return lambda tmp: save_file(tensors, tmp, metadata=metadata)


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    atomic_write(run_dir / CONFIG, _config_writer(config))


MAX_CONFIG_BYTES = 16 * 2 ** 20   # a real config.json is a few kB; never read gigabytes of one


def load_config(run_dir: Path) -> dict[str, Any]:
    """config.json parsed (any JSON value: audiodiff/model_check.py judges it); ValueError when unreadable."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no {CONFIG}: not an audiodiff run or exported model")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes: too large for a model config "
                         f"(at most {MAX_CONFIG_BYTES})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: not a model config") from None
    except (ValueError, RecursionError) as exc:   # an integer of 10⁵ digits, arrays nested 10⁵ deep
        raise ValueError(f"{path} is not a usable JSON config ({type(exc).__name__}: {str(exc)[:100]})") from None


def save_weights(run_dir: Path, module: torch.nn.Module, metadata: dict[str, str] | None = None) -> None:
    atomic_write(run_dir / WEIGHTS, _weights_writer(module, metadata))


def weights_path(run_dir: Path) -> Path:
    """run_dir's model.safetensors; FileNotFoundError saying what to do when there is none."""
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no {WEIGHTS}: train it first (audiodiff train) or pick "
                                f"another run with --model")
    return path


def load_weights(run_dir: Path, module: torch.nn.Module) -> None:
    """Copy model.safetensors into `module` (names must match); ValueError for NaN / infinite weights."""
    path = weights_path(run_dir)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{path}: {bad[0]} holds NaN or infinite weights ({len(bad)} tensor(s) do); the model "
                         f"would only make noise")
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
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # truncated or empty (EOFError), random bytes, a pickle of anything but tensors
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        if isinstance(exc, pickle.UnpicklingError):   # never suggest weights_only=False, as torch's text does
            what = "not a tensors-only PyTorch file"
        else:
            what = f"{type(exc).__name__}: {reason}" if reason else f"{type(exc).__name__}: it is empty or cut short"
        raise ValueError(f"{path} is not a readable training state ({what}): restore it from a backup, or train "
                         f"again from step 0 with --restart") from None


def save_checkpoint(run_dir: Path, state: dict[str, Any], weights: torch.nn.Module, config: dict[str, Any],
                    metadata: dict[str, str] | None = None) -> None:
    """training_state.pt, model.safetensors (`weights`, the EMA module) and config.json, as one unit."""
    run_dir = Path(run_dir)
    atomic_write_many([(run_dir / STATE, lambda tmp: torch.save(state, tmp)),
                       (run_dir / WEIGHTS, _weights_writer(weights, metadata)),
                       (run_dir / CONFIG, _config_writer(config))])


def save_model(run_dir: Path, module: torch.nn.Module, config: dict[str, Any],
               metadata: dict[str, str] | None = None) -> None:
    """model.safetensors + config.json (a loadable run without training state, e.g. RUN_DIR/best), as one unit."""
    run_dir = Path(run_dir)
    atomic_write_many([(run_dir / WEIGHTS, _weights_writer(module, metadata)),
                       (run_dir / CONFIG, _config_writer(config))])
