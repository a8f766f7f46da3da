"""audiodiff: denoising diffusion (DDPM) for 1-D audio.  Public API re-exports only."""

from .diffusion import GaussianDiffusion
from .features import MelFeatures
from .nets import DiffWave, UNet1D
from .pipeline import Pipeline, load
from .recipe import Recipe, RecipeError, load_recipe
from .sampling import SAMPLERS
from .schedule import NoiseSchedule
from .train import Trainer, train

__version__ = "0.1.0"

__all__ = ["GaussianDiffusion", "MelFeatures", "NoiseSchedule", "DiffWave", "UNet1D", "Pipeline", "load", "Recipe",
           "RecipeError", "load_recipe", "SAMPLERS", "Trainer", "train", "__version__"]
