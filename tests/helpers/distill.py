"""Teachers for the distillation tests (tests/training/test_distill.py and its end-to-end half): a tiny DiffWave
run trained in-process on four tones, and the v-prediction teacher both files distil."""

from __future__ import annotations

from pathlib import Path

from audiodiff.recipe import recipe_from_dict
from audiodiff.training import Trainer
from helpers.audio import write_tone_wavs
from helpers.recipes import tiny_recipe_dict

# ~5k parameters: the 2.6k-parameter tiny DiffWave learns a v-prediction student's correction too slowly
SMALL_DIFFWAVE = {"type": "diffwave", "residual_layers": 3, "residual_channels": 16, "dilation_cycle": 3,
                  "embed_dim": 16, "sinusoid_dim": 16}


def train_teacher(root: Path, prediction: str = "v", steps: int = 60, **recipe) -> Path:
    """root/run: the tiny DiffWave (T = 20) trained `steps` steps on four tones, predicting `prediction`
    (`recipe`: tables of the recipe to update, e.g. model={...}, data={"domain": "mel"})."""
    write_tone_wavs(root / "audio")
    raw = tiny_recipe_dict(root / "audio", max_steps=steps, checkpoint_every=steps, log_every=steps)
    raw["diffusion"]["prediction"] = prediction
    for table, values in recipe.items():
        raw.setdefault(table, {}).update(values)
    Trainer(recipe_from_dict(raw), root / "run", show_progress=False).fit()
    return root / "run"


def v_teacher(root: Path) -> Path:
    """root/run: a v-prediction run (the paper's natural case) of SMALL_DIFFWAVE, trained 60 steps."""
    return train_teacher(root, model=SMALL_DIFFWAVE)
