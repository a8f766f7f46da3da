"""recipe.toml → typed, validated config.  Every bad key is reported before any work starts.

Each table is a dataclass of `options.option` fields (its allowed range or choices), declared by the code that
owns the settings: [diffusion] DiffusionConfig in diffusion.py, [features] FeaturesConfig in features_config.py,
[model] the network constructors' annotations (nets.check_network_config).  This module parses the file and
adds the checks that span tables, re-raising an owner's ValueError with the file and key.  Unknown keys are
errors (a typo never passes silently).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import torch

from .data.data_config import DataConfig, check_data
from .diffusion import DiffusionConfig
from .domains import get_domain
from .features_config import FeaturesConfig
from .nets import (FIRST_LAYER_KEY, build_network, check_network_config, entry_bottleneck, is_classifier_config,
                   network_objective)
from .options import RecipeError, parse_table
from .sampling import SampleOptions
from .training.train_config import TrainConfig

log = logging.getLogger("audiodiff")

# The [diffusion] table as config.json stores it (GaussianDiffusion.from_config); the trainer's name for it.
diffusion_config = DiffusionConfig.to_config


# [sample]: the sampler's own options record (audiodiff/sampling/sample_options.py), under the name recipes have used.
SampleConfig = SampleOptions


@dataclass
class Recipe:
    name: str
    data: DataConfig
    model: dict
    diffusion: DiffusionConfig
    train: TrainConfig
    sample: SampleConfig
    path: Path | None = None
    features: FeaturesConfig = field(default_factory=FeaturesConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "data": dataclasses.asdict(self.data), "model": dict(self.model),
                "diffusion": dataclasses.asdict(self.diffusion), "train": dataclasses.asdict(self.train),
                "sample": dataclasses.asdict(self.sample), "features": dataclasses.asdict(self.features)}


SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "train": TrainConfig, "sample": SampleConfig,
            "features": FeaturesConfig}


def load_recipe(path: str | Path) -> Recipe:
    """A recipe directory (holding recipe.toml) or a .toml file → validated Recipe."""
    path = Path(path)
    file = path / "recipe.toml" if path.is_dir() else path
    if not file.is_file():
        raise RecipeError(f"no recipe at {path}: expected a directory with recipe.toml (see recipes/)")
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{file}: not valid TOML ({exc})") from None
    return recipe_from_dict(raw, source=str(file), path=file.parent)


def recipe_from_dict(raw: dict[str, Any], source: str = "recipe", path: Path | None = None) -> Recipe:
    """Validate a recipe's tables; raise RecipeError naming the first bad key."""
    allowed_top = {"name", "model", *SECTIONS}
    for key in raw:
        if key not in allowed_top:
            raise RecipeError(f"{source}: unknown table or key {key!r}; allowed: {', '.join(sorted(allowed_top))}")
    name = raw.get("name", path.name if path else "run")
    if not isinstance(name, str) or not name:
        raise RecipeError(f"{source}: name must be a non-empty string")
    parts = {sec: parse_table(cls, raw.get(sec, {}), sec, source) for sec, cls in SECTIONS.items()}
    model = check_network_config(raw.get("model", {}), source)
    recipe = Recipe(name=name, model=model, path=path, **parts)
    _cross_checks(recipe, source)
    return recipe


def _cross_checks(recipe: Recipe, source: str) -> None:
    tr = recipe.train
    if tr.batch_size % tr.grad_accum:
        raise RecipeError(f"{source}: [train] grad_accum = {tr.grad_accum}: must divide [train] batch_size "
                          f"({tr.batch_size}), which is split into grad_accum micro-batches")
    d = recipe.diffusion
    try:
        d.build()
    except ValueError as exc:
        raise RecipeError(f"{source}: [diffusion] {exc}") from None
    try:   # the sampler's own checks against the schedule's length
        recipe.sample.check(len(d.betas) if d.schedule == "betas" else d.num_steps)
    except ValueError as exc:
        raise RecipeError(f"{source}: [sample] {exc}") from None
    try:
        check_data(recipe.data)
    except ValueError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    if tr.eval_every and not tr.eval_classifier and not is_classifier_config(recipe.model):
        raise RecipeError(f"{source}: [train] eval_every = {tr.eval_every} scores samples with a classifier: set "
                          f"[train] eval_classifier = its run directory (audiodiff train recipes/sc09-classifier)")
    if recipe.sample.label and not recipe.model.get("num_classes"):
        raise RecipeError(f"{source}: [sample] label = {recipe.sample.label!r} needs a class-conditional model "
                          f"([model] num_classes); leave it out to sample unconditionally")
    if network_objective(recipe.model) == "regression" and not get_domain(recipe.data.domain).supervised:
        raise RecipeError(f"{source}: [model] type = {recipe.model['type']!r} maps a degraded recording to a clean "
                          f"one in one call: it trains on (degraded, clean) pairs, [data] domain = \"denoiser\" "
                          f"or \"bandwidth\"")
    if network_objective(recipe.model) == "magnitude" and recipe.data.domain != "vocoder":
        raise RecipeError(f"{source}: [model] type = {recipe.model['type']!r} turns a mel into a spectrogram for "
                          f"Griffin-Lim: it trains on (mel, audio) pairs, [data] domain = \"vocoder\"")
    get_domain(recipe.data.domain).check_recipe(recipe, source)   # [features] and the mel keys of [model]
    _warn_bottleneck(recipe, source)


def _warn_bottleneck(recipe: Recipe, source: str) -> None:
    """Warn (with the fix) when the network's first layer is narrower than its input; built on the meta device,
    so it costs no memory."""
    if is_classifier_config(recipe.model):   # it reads audio through its own mel front end, not an ε-network's input
        return
    with torch.device("meta"):
        narrow = entry_bottleneck(build_network(recipe.model))
    if narrow:
        values, width = narrow
        kind = recipe.model["type"]
        log.warning(f"{source}: [model] the first layer maps {values} input values per position (input channels × "
                    f"stem stride) into {width} channels, a bottleneck the network cannot learn around; widen it ([model] {FIRST_LAYER_KEY.get(kind, 'channels')} for {kind}) to at least "
                    f"{values}")
