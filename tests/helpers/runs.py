"""Tiny runs trained in-process (unconditional, class-conditional); reading what a training run wrote (weights,
training state, TensorBoard events) and comparing tensors."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from audiodiff import checkpoint as ckpt
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import Trainer
from helpers.audio import write_tone_wavs
from helpers.corpora import make_speechcommands
from helpers.recipes import tiny_recipe_dict


def weights(run: Path) -> dict[str, torch.Tensor]:
    """The run's model.safetensors (the EMA weights)."""
    return load_file(str(run / ckpt.WEIGHTS))


def state_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the run's training state: model.*, ema.*, opt.<param>.<slot>."""
    state = ckpt.load_state(run)
    out = {f"model.{k}": v for k, v in state["model"].items()}
    out.update({f"ema.{k}": v for k, v in state["ema"].items() if torch.is_tensor(v)})
    for pid, s in state["optimizer"]["state"].items():
        out.update({f"opt.{pid}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return out


def assert_close_dicts(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str, atol: float = 1e-6) -> None:
    """Same names, and each pair of tensors equal to within atol (rtol 0); `what` names the comparison."""
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k].float(), b[k].float(), rtol=0, atol=atol, msg=f"{what}: {k}")


def read_events(folder: Path):
    """A loaded TensorBoard EventAccumulator over folder, keeping every scalar, image and audio event."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "audio": 0})
    acc.Reload()
    return acc


def train_tiny_run(root: Path, **train) -> Path:
    """root/run: the tiny DiffWave recipe trained in this process on four tones written to root/audio
    ([train] overrides as keywords, e.g. max_steps=1)."""
    write_tone_wavs(root / "audio")
    Trainer(recipe_from_dict(tiny_recipe_dict(root / "audio", **train)), root / "run", show_progress=False).fit()
    return root / "run"


def train_labelled_run(root: Path) -> Path:
    """root/run: a tiny class-conditional DiffWave (ten classes) trained 3 steps in this process on a generated Speech
    Commands tree written to root/sc."""
    make_speechcommands(root / "sc", rate=8000, n=300)
    raw = tiny_recipe_dict(root / "sc", model={"type": "diffwave", "residual_layers": 2, "residual_channels": 8,
                                               "dilation_cycle": 2, "num_classes": 10}, max_steps=3)
    raw["data"].update(dataset="speechcommands")
    Trainer(recipe_from_dict(raw), root / "run", show_progress=False).fit()
    return root / "run"
