"""Checks an untrusted run directory before anything is built: config.json values, then the weights' shapes.

`audiodiff.load` may be pointed at a model someone else made.  Its config.json decides how large the
network, the noise schedule and the mel filters are, so a hostile one (10⁵ channels, 10¹¹ steps, a
clip_length of 10¹²) could ask for terabytes before a single weight is read.  `check_config` therefore
judges every value first, with the bounds the recipe tables declare (sample_rate, clip_length, [sample] in
audiodiff/recipe.py, [diffusion] in diffusion.py, [features] in features_config.py) and the network
constructors' annotations and option limits (audiodiff/nets: check_network_config), and
`check_weights` builds the network on the `meta` device (shapes, no memory) and compares every
parameter's shape with model.safetensors' header (read without loading a tensor).  Only when both pass
is the real network built, so what it allocates is what the weights file holds.

Every failure is a ModelFileError (a ValueError) whose one-line message names the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from .nets import build_network, check_network_config
from .options import RecipeError, check_field
from .diffusion import DiffusionConfig, GaussianDiffusion
from .domains import get_domain
from .features_config import FeaturesConfig
from .recipe import DataConfig, SampleConfig

MAX_LIST = 100_000   # β lists: the recipe's most diffusion steps


class ModelFileError(ValueError):
    """A run directory or export that cannot be loaded safely; the message names the file and key."""


def _field_check(file: Path, cls: type, key: str, value: Any, name: str) -> Any:
    """`value` judged by recipe table `cls`'s field `key` (type, range, choices)."""
    try:
        return check_field(cls, key, value, name, str(file))
    except RecipeError as exc:
        raise ModelFileError(str(exc)) from None


def _table(file: Path, config: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    value = config.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ModelFileError(f"{file}: {key!r} must be a JSON object, got {type(value).__name__}")
    return value


def _number_list(file: Path, name: str, value: Any, open_unit: bool = True) -> None:
    ok = isinstance(value, list) and 0 < len(value) <= MAX_LIST and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in value)
    if not ok:
        raise ModelFileError(f"{file}: {name} must be a list of 1 to {MAX_LIST} numbers in (0, 1)")


def check_config(config: Any, file: Path) -> None:
    """Raise ModelFileError unless config.json's contents (`config`, parsed) are safe to build from."""
    if not isinstance(config, dict):
        raise ModelFileError(f"{file} must hold a JSON object, got {type(config).__name__}")
    for key in ("model", "diffusion", "sample_rate", "clip_length"):
        if key not in config:
            raise ModelFileError(f"{file} lacks {key!r}: not an audiodiff model config")
    for key in ("sample_rate", "clip_length"):
        _field_check(file, DataConfig, key, config[key], key)
    _field_check(file, DataConfig, "domain", config.get("domain", "waveform"), "domain")
    if "level_rms" in config:
        _field_check(file, DataConfig, "level_rms", config["level_rms"], "level_rms")
    _check_model(file, _table(file, config, "model"))
    steps = _check_diffusion(file, _table(file, config, "diffusion"))
    _check_sample(file, _table(file, config, "sample", required=False), steps)
    if get_domain(config.get("domain", "waveform")).uses_features:
        _check_features(file, _table(file, config, "features"))


def _check_model(file: Path, model: dict[str, Any]) -> None:
    try:
        check_network_config(model, str(file), prefix="model.")
    except RecipeError as exc:
        raise ModelFileError(str(exc)) from None


def _check_diffusion(file: Path, d: dict[str, Any]) -> int:
    """Check the [diffusion] values; returns the number of diffusion steps."""
    for key in ("schedule", "num_steps", "beta_start", "beta_end", "prediction", "loss"):
        if key in d:
            _field_check(file, DiffusionConfig, key, d[key], f"diffusion.{key}")
    gamma = d.get("min_snr_gamma")
    if gamma is not None:
        _field_check(file, DiffusionConfig, "min_snr_gamma", gamma, "diffusion.min_snr_gamma")
    for key in ("s", "max_beta"):
        if key in d and not (isinstance(d[key], (int, float)) and not isinstance(d[key], bool)
                             and math.isfinite(d[key])):
            raise ModelFileError(f"{file}: diffusion.{key} = {d[key]!r}: must be a finite number")
    if d.get("schedule") == "betas":
        _number_list(file, "diffusion.betas", d.get("betas"))   # the size limit; the values are the schedule's
    try:
        return GaussianDiffusion.from_config(d).num_steps        # the values that must go together (β order, …)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{file}: diffusion: {exc}") from None


def _check_sample(file: Path, s: dict[str, Any], steps: int) -> None:
    for key in ("sampler", "steps", "denoise_steps", "denoise_noise", "eta", "variance", "guidance", "label"):
        if key in s:
            _field_check(file, SampleConfig, key, s[key], f"sample.{key}")
    if "fast_betas" in s:
        _number_list(file, "sample.fast_betas", s["fast_betas"])
    try:   # the sampler's own checks against the schedule's length (steps, levels)
        SampleConfig.from_config(s).check(steps)
    except ValueError as exc:
        raise ModelFileError(f"{file}: sample.{exc}") from None


def _check_features(file: Path, f: dict[str, Any]) -> None:
    names = {field.name for field in dataclasses.fields(FeaturesConfig)}
    for key, value in f.items():
        if key in names:
            _field_check(file, FeaturesConfig, key, value, f"features.{key}")
    if "sample_rate" not in f:
        raise ModelFileError(f"{file} lacks features.sample_rate: the mel settings are incomplete")
    _field_check(file, DataConfig, "sample_rate", f["sample_rate"], "features.sample_rate")
    stats = f.get("stats")
    if stats is not None and not (isinstance(stats, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in stats.values())):
        raise ModelFileError(f"{file}: features.stats must be an object of numbers")


def expected_shapes(model_cfg: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every state_dict entry of the network `model_cfg` describes → its shape, built on the meta device."""
    with torch.device("meta"):
        net = build_network(model_cfg)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def header_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape from a safetensors file's header, without reading any tensor data.

    safetensors refuses a header over 100 MB and one whose offsets do not cover the file exactly."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # SafetensorError, OSError, …
        raise ModelFileError(f"{weights} is not a readable safetensors file ({exc})") from None


def check_weights(model_cfg: dict[str, Any], config_file: Path, weights: Path) -> None:
    """Raise ModelFileError unless weights' tensors are exactly the network's, name for name, shape for shape."""
    try:
        expected = expected_shapes(model_cfg)
    except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
        raise ModelFileError(f"{config_file}: model: {exc}") from None
    found = header_shapes(weights)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{weights} does not match the model in {config_file.name}: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
    for key in expected:
        if expected[key] != found[key]:
            raise ModelFileError(f"{weights}: {key} has shape {list(found[key])}, but model in {config_file.name} "
                                 f"needs {list(expected[key])}")
