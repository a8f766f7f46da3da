"""Tiny recipes (a few thousand parameters, short clips) and a minimal TOML writer for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from audiodiff.recipe import Recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[2]

SAMPLE_RATE = 8000
CLIP_LENGTH = 256

# A DiffWave of ~2.6k parameters: 2 residual layers of 8 channels and a 16-wide step embedding.
TINY_DIFFWAVE = {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2,
                 "embed_dim": 16, "sinusoid_dim": 16}
# A 1-D U-Net of a few thousand parameters, with dropout so that resume must restore the global RNG too.
TINY_UNET = {"type": "unet1d", "base_channels": 4, "channel_mults": [1, 2], "down_factors": [4],
             "blocks_per_level": 1, "attention_heads": 2, "dropout": 0.1}
# TINY_UNET without dropout, for the precision tests' bf16 / fp32 comparisons.
QUICK_UNET = {**TINY_UNET, "dropout": 0.0}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(raw: dict[str, Any]) -> str:
    """A minimal TOML writer for recipe dicts: top-level scalars, then one [table] per dict."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def tiny_recipe_dict(data_root: Path, model: dict[str, Any] | None = None, **train: Any) -> dict[str, Any]:
    """A recipe that trains in well under a second per step on one CPU thread."""
    return {
        "name": "tiny",
        "data": {"dataset": "folder", "root": str(data_root), "sample_rate": SAMPLE_RATE,
                 "clip_length": CLIP_LENGTH},
        "model": dict(model or TINY_DIFFWAVE),
        "diffusion": {"schedule": "linear", "num_steps": 20, "beta_start": 1e-3, "beta_end": 0.2,
                      "prediction": "eps"},
        "train": {"batch_size": 2, "learning_rate": 1e-3, "max_steps": 4, "checkpoint_every": 3,
                  "log_every": 1, "ema_decay": 0.9, "seed": 0, "device": "cpu", **train},
        "sample": {"sampler": "ddpm", "steps": 0},
    }


def make_recipe(data_root: Path, model: dict[str, Any] | None = None, **train: Any) -> Recipe:
    """tiny_recipe_dict as a checked Recipe."""
    return recipe_from_dict(tiny_recipe_dict(data_root, model=model, **train), source="tiny")


def write_recipe(folder: Path, raw: dict[str, Any]) -> Path:
    """folder/recipe.toml holding `raw`; returns the folder (what `audiodiff train FOLDER` takes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.toml").write_text(to_toml(raw))
    return folder


def write_clips(folder: Path, clips: Iterable[Any], rate: int) -> Path:
    """folder/clip<i>.wav (16-bit PCM) for each 1-D float array of clips: a folder dataset for a tiny run; returns
    folder."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(clips):
        sf.write(str(folder / f"clip{i}.wav"), clip, rate, subtype="PCM_16")
    return folder
