"""Shared fixtures: tiny generated WAV folders and tiny recipes (a few thousand parameters, short clips)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]

SAMPLE_RATE = 8000
CLIP_LENGTH = 256

@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Every test runs on one intra-op thread: the models are tiny, and 2 CPU cores shared by several
    threads (or pytest processes) spin-wait far slower than one thread alone."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# A DiffWave of ~2.6k parameters: 2 residual layers of 8 channels and a 16-wide step embedding.
TINY_DIFFWAVE = {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2,
                 "embed_dim": 16, "sinusoid_dim": 16}
# A 1-D U-Net of a few thousand parameters, with dropout so that resume must restore the global RNG too.
TINY_UNET = {"type": "unet1d", "base_channels": 4, "channel_mults": [1, 2], "down_factors": [4],
             "blocks_per_level": 1, "attention_heads": 2, "dropout": 0.1}


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


def write_tone_wavs(folder: Path, count: int = 4, sample_rate: int = SAMPLE_RATE, length: int = 400) -> list[Path]:
    """`count` short sine tones (different pitches and lengths, some shorter than a clip) as 16-bit WAVs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        n = length + 37 * i - (250 if i == count - 1 else 0)   # the last one is shorter than CLIP_LENGTH
        t = np.arange(n) / sample_rate
        wave = 0.5 * np.sin(2 * np.pi * (220.0 * (i + 1)) * t)
        path = folder / f"tone_{i}.wav"
        sf.write(str(path), wave.astype(np.float32), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths


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


def write_recipe(folder: Path, raw: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.toml").write_text(to_toml(raw))
    return folder


@pytest.fixture
def wav_folder(tmp_path: Path) -> Path:
    """tmp_path/audio holding four short generated tones."""
    folder = tmp_path / "audio"
    write_tone_wavs(folder)
    return folder


@pytest.fixture
def tiny_recipe_dir(tmp_path: Path, wav_folder: Path) -> Path:
    """tmp_path/recipe/recipe.toml: a folder dataset of the generated tones and a ~2.6k-parameter DiffWave."""
    return write_recipe(tmp_path / "recipe", tiny_recipe_dict(wav_folder))


@pytest.fixture
def audiodiff_log(caplog: pytest.LogCaptureFixture):
    """caplog wired straight to the 'audiodiff' logger (which the CLI may set not to propagate)."""
    logger = logging.getLogger("audiodiff")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False          # each record reaches caplog once
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


@pytest.fixture(scope="session")
def sound_classifier(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, trained classifier run) on ten synthetic sound classes (tests/sound_classes.py), trained
    once per session (120 steps, a few seconds of CPU)."""
    import audiodiff
    from audiodiff.recipe import load_recipe
    from sound_classes import classifier_recipe, write_sound_classes

    root = tmp_path_factory.mktemp("classes")
    data = write_sound_classes(root / "data")
    run = root / "classifier"
    audiodiff.train(load_recipe(classifier_recipe(data, root / "recipe")), run, device="cpu", show_progress=False)
    return data, run
