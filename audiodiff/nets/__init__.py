"""ε-networks and the registry that builds one from a config's [model] table."""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any, Literal

from torch import nn

from ..options import RecipeError, check_value
from .audio_classifier import AudioClassifier
from .diffwave import DiffWave
from .mel_inverter import MelInverter
from .spectral_mask import SpectralMasker
from .spectral_prior import SpectralPrior
from .layers import Range
from .unet1d import UNet1D
from .unet2d import UNet2D

# "classifier", "spectral_mask" and "mel_inverter" are no ε-networks: their classes say objective =
# "classification" / "regression" / "magnitude" and the trainer trains them so (network_objective).
NETWORKS: dict[str, type[nn.Module]] = {"diffwave": DiffWave, "unet1d": UNet1D, "unet2d": UNet2D,
                                        "spectral_mask": SpectralMasker, "spectral_prior": SpectralPrior,
                                        "mel_inverter": MelInverter, "classifier": AudioClassifier}


def network_options(kind: str) -> dict[str, Any]:
    """Constructor keywords of network `kind` with their defaults."""
    params = inspect.signature(NETWORKS[kind].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self"}


def network_option_types(kind: str) -> dict[str, Any]:
    """Constructor keywords of network `kind` with their annotations (`Annotated[int, Range(1)]`,
    `tuple[Count, ...]`, `Literal["a", "b"]`, bool, …): what a [model] value is judged by."""
    hints = typing.get_type_hints(NETWORKS[kind].__init__, include_extras=True)
    missing = [k for k in network_options(kind) if k not in hints]
    if missing:
        raise TypeError(f"network {kind!r} must annotate its constructor options {', '.join(missing)}")
    return {k: hints[k] for k in network_options(kind)}


# The largest value of a network option.  Far above any published audio model, and low enough that an
# untrusted config.json cannot make building the network (even on the meta device, see
# audiodiff/model_check.py) take minutes, or a dilation / down factor pad inputs to terabytes.
OPTION_LIMITS: dict[str, int] = {"residual_layers": 256, "dilation_cycle": 16, "blocks_per_level": 16}
DEFAULT_OPTION_LIMIT = 65536   # every other integer option: channels, classes, heads, hop_length, factors
LIST_LIMIT = 8                 # entries of a list option (channel_mults: U-Net levels, …)


def _kind_and_meta(hint: Any, key: str) -> tuple[Any, dict[str, Any]]:
    """An annotation → (the plain type check_value knows, its lo/hi/choices): Range from Annotated, choices
    from Literal, and for integers the upper limit OPTION_LIMITS gives `key`."""
    meta: dict[str, Any] = {}
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        meta = next((r._asdict() for r in extras if isinstance(r, Range)), {})
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return type(choices[0]), {**meta, "choices": choices}
    if hint is int:
        limit = OPTION_LIMITS.get(key, DEFAULT_OPTION_LIMIT)
        meta = {**meta, "hi": limit if meta.get("hi") is None else min(meta["hi"], limit)}
    return hint, meta


def check_network_option(kind: str, key: str, value: Any, name: str, source: str) -> Any:
    """`value` of option `key` of network `kind` judged by the constructor's annotation (type, Range, Literal
    choices) and OPTION_LIMITS; returns it (a list for a tuple option, a float for an int given to a float) or
    raises RecipeError naming `source` and `name`."""
    hint = network_option_types(kind)[key]
    plain = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    if typing.get_origin(plain) in (tuple, list):
        entry = typing.get_args(plain)[0]
        value = list(value) if isinstance(value, tuple) else value
        check_value(name, value, list, {}, source)
        if len(value) > LIST_LIMIT:
            raise RecipeError(f"{source}: {name} = {value[:LIST_LIMIT + 1]}: at most {LIST_LIMIT} entries")
        entry_kind, entry_meta = _kind_and_meta(entry, key)
        return [check_value(f"{name}[{i}]", v, entry_kind, entry_meta, source) for i, v in enumerate(value)]
    return check_value(name, value, *_kind_and_meta(hint, key), source)


def check_network_config(cfg: Any, source: str, prefix: str = "[model] ") -> dict[str, Any]:
    """A [model] table (or config.json's "model") → the same table with its type filled in and every value
    checked (check_network_option); RecipeError naming `source` and `prefix`+key for a bad type, an unknown key
    or a bad value."""
    if not isinstance(cfg, dict):
        raise RecipeError(f"{source}: {prefix.strip(' .')} must be a table")
    kind = cfg.get("type", "diffwave")
    if not isinstance(kind, str) or kind not in NETWORKS:
        raise RecipeError(f"{source}: {prefix}type = {kind!r}: allowed values: {', '.join(NETWORKS)}")
    options = network_options(kind)
    model: dict[str, Any] = {"type": kind}
    for key, value in cfg.items():
        if key == "type":
            continue
        if key not in options:
            raise RecipeError(f"{source}: unknown key {prefix}{key} for type {kind!r}; allowed: {', '.join(options)}")
        model[key] = check_network_option(kind, key, value, f"{prefix}{key}", source)
    return model


def build_network(cfg: dict[str, Any]) -> nn.Module:
    """{"type": "diffwave", ...constructor keywords} → an initialised network."""
    cfg = dict(cfg)
    kind = cfg.pop("type", "diffwave")
    if kind not in NETWORKS:
        raise ValueError(f"unknown model type {kind!r}: choose one of {', '.join(NETWORKS)}")
    unknown = set(cfg) - set(network_options(kind))
    if unknown:
        raise ValueError(f"unknown [model] key(s) for {kind}: {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(network_options(kind))}")
    for key, value in cfg.items():
        cfg[key] = check_network_option(kind, key, value, f"[model] {key}", "model")
    return NETWORKS[kind](**cfg)


def network_objective(model_cfg: Any) -> str:
    """What a [model] table's network is trained by: "diffusion" (an ε-network: it takes x_t and the step),
    "regression" (it maps a degraded recording to the clean one in one call), "magnitude" (it maps a mel to
    the STFT magnitude under it, in one call) or "classification"."""
    kind = model_cfg.get("type", "diffwave") if isinstance(model_cfg, dict) else None
    return getattr(NETWORKS.get(kind), "objective", "diffusion") if isinstance(kind, str) else "diffusion"


def is_classifier_config(model_cfg: Any) -> bool:
    """Whether a [model] table builds a classification network (trained with training/classification.Classification, used by eval)."""
    return network_objective(model_cfg) == "classification"


# The [model] key that widens each network's first layer (named by the bottleneck warning).
FIRST_LAYER_KEY = {"unet1d": "base_channels", "unet2d": "base_channels", "diffwave": "residual_channels"}


def entry_bottleneck(net: nn.Module) -> tuple[int, int] | None:
    """(values per output position entering the first layer, channels it maps them to) when the first layer is
    narrower than its input, else None.  The first Conv1d that reads the network's input (UNet1D's stem, DiffWave's
    input projection) sees in_channels × stride values per position: fewer output channels squeeze every frame
    through a bottleneck (e.g. 80 mel bins into a 64-wide first level), which no amount of training undoes."""
    for module in net.modules():
        if isinstance(module, nn.Conv1d) and module.in_channels == getattr(net, "in_channels", None):
            values = module.in_channels * module.stride[0]
            return (values, module.out_channels) if module.out_channels < values else None
    return None


__all__ = ["AudioClassifier", "DiffWave", "MelInverter", "SpectralMasker", "UNet1D", "UNet2D", "FIRST_LAYER_KEY", "NETWORKS", "Range", "build_network",
           "check_network_config", "check_network_option", "entry_bottleneck", "is_classifier_config",
           "network_objective", "network_option_types", "network_options"]
