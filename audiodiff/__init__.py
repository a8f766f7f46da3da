"""audiodiff: denoising diffusion (DDPM) for 1-D audio.  Public API re-exports only."""

import importlib
from typing import Any

from . import moved

moved.install()   # old import paths of moved modules (audiodiff.metrics → audiodiff.eval.metrics, …) still work

from .diffusion import GaussianDiffusion
from .features import MelFeatures
from .nets import DiffWave, UNet1D, UNet2D
from .pipeline import Pipeline, load
from .recipe import Recipe, RecipeError, load_recipe
from .sampling import SAMPLERS
from .schedule import NoiseSchedule

__version__ = "0.1.0"

# Trainer and train load on first use, so that sampling and evaluation never import the trainer's
# distributed-training and TensorBoard code (see audiodiff/training/__init__.py)
_TRAINING = ("Trainer", "train", "distill")

__all__ = ["GaussianDiffusion", "MelFeatures", "NoiseSchedule", "DiffWave", "UNet1D", "UNet2D", "Pipeline", "load", "Recipe",
           "RecipeError", "load_recipe", "SAMPLERS", "Trainer", "train", "distill", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        return getattr(importlib.import_module(".training", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
