"""A trained model bound to its schedule and audio settings: load, sample, save."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from . import checkpoint as ckpt
from .diffusion import GaussianDiffusion
from .nets import build_network


class Pipeline:
    """Network + GaussianDiffusion + sample rate/length + default sampler settings from config.json."""

    def __init__(self, model: nn.Module, diffusion: GaussianDiffusion, config: dict[str, Any],
                 device: torch.device | str = "cpu"):
        self.model = model.eval().to(device)
        self.diffusion = diffusion
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> "Pipeline":
        """Load a run directory (or an export) from config.json + model.safetensors (no pickle)."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no model at {path}: expected a run directory holding {ckpt.CONFIG} "
                                    f"and {ckpt.WEIGHTS}")
        config = ckpt.load_config(path)
        for key in ("model", "diffusion", "sample_rate", "clip_length"):
            if key not in config:
                raise ValueError(f"{path / ckpt.CONFIG} lacks {key!r}: not an audiodiff model config")
        model = build_network(config["model"])
        ckpt.load_weights(path, model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(model, GaussianDiffusion.from_config(config["diffusion"]), config, device)

    # ----------------------------------------------------------------- properties
    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def clip_length(self) -> int:
        return int(self.config["clip_length"])

    @property
    def sample_defaults(self) -> dict[str, Any]:
        return dict(self.config.get("sample", {}))

    # ----------------------------------------------------------------- generation
    def sample(self, n: int = 1, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
               length: int | None = None, eta: float | None = None, fast_betas: Sequence[float] | None = None,
               generator: torch.Generator | None = None, progress: bool = False) -> Tensor:
        """Generate n waveforms: float32 [n, length] in [−1, 1] at `sample_rate`.

        Unset options take the run's [sample] defaults (sampler, steps, eta, fast_betas).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        defaults = self.sample_defaults
        sampler = sampler or defaults.get("sampler", "ddpm")
        if steps is None and sampler != "fast":
            steps = defaults.get("steps") or None
        if sampler == "ddim" and eta is None:
            eta = defaults.get("eta", 0.0)
        if sampler == "fast" and fast_betas is None:
            fast_betas = defaults.get("fast_betas")
        options: dict[str, Any] = {}
        if sampler == "ddpm":
            options["variance"] = defaults.get("variance", "posterior")
        if generator is None:
            generator = torch.Generator(device=self.device)
            if seed is None:
                generator.seed()  # fresh non-deterministic seed, global RNG untouched
            else:
                generator.manual_seed(seed)
        length = length or self.clip_length
        x = self.diffusion.sample(self.model, (n, self.model_channels, length), sampler=sampler, steps=steps,
                                  eta=eta, fast_betas=fast_betas, generator=generator, device=self.device,
                                  progress_bar=progress, **options)
        return x[:, 0].clamp(-1.0, 1.0).float().cpu()

    @property
    def model_channels(self) -> int:
        return int(getattr(self.model, "in_channels", 1))

    # ----------------------------------------------------------------- export
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json + model.safetensors into `path`, loadable with `audiodiff.load`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ckpt.save_weights(path, self.model)
        ckpt.save_config(path, copy.deepcopy(self.config))
        return path

    def to(self, device: str | torch.device) -> "Pipeline":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self


def load(path: str | Path, device: str | torch.device | None = None) -> Pipeline:
    """`audiodiff.load("runs/sc09")` → Pipeline with .sample(), .sample_rate, .save_pretrained()."""
    return Pipeline.from_pretrained(path, device=device)
