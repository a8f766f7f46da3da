"""ε-networks and the registry that builds one from a config's [model] table."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .classifier import AudioClassifier
from .diffwave import DiffWave
from .unet1d import UNet1D

# "classifier" is no ε-network: its class says objective = "classification" and the trainer trains it so.
NETWORKS: dict[str, type[nn.Module]] = {"diffwave": DiffWave, "unet1d": UNet1D, "classifier": AudioClassifier}


def network_options(kind: str) -> dict[str, Any]:
    """Constructor keywords of network `kind` with their defaults."""
    params = inspect.signature(NETWORKS[kind].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self"}


# The largest value of a network option.  Far above any published audio model, and low enough that an
# untrusted config.json cannot make building the network (even on the meta device, see
# audiodiff/model_check.py) take minutes, or a dilation / down factor pad inputs to terabytes.
OPTION_LIMITS: dict[str, int] = {"residual_layers": 256, "dilation_cycle": 16, "blocks_per_level": 16}
DEFAULT_OPTION_LIMIT = 65536   # every other integer option: channels, classes, heads, hop_length, factors
LIST_LIMIT = 8                 # entries of a list option (channel_mults: U-Net levels, …)


def check_network_options(kind: str, cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the first option of network `kind` whose value is above its limit.

    Types and lower bounds are the recipe's (recipe._model_value_ok); this adds the upper bounds."""
    for key, value in cfg.items():
        limit = OPTION_LIMITS.get(key, DEFAULT_OPTION_LIMIT)
        if isinstance(value, (list, tuple)):
            if len(value) > LIST_LIMIT or any(isinstance(v, int) and v > limit for v in value):
                raise ValueError(f"[model] {key} = {list(value)[:LIST_LIMIT + 1]}: at most {LIST_LIMIT} entries, "
                                 f"each <= {limit}")
        elif isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise ValueError(f"[model] {key} = {value}: must be <= {limit}")


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
    check_network_options(kind, cfg)
    return NETWORKS[kind](**cfg)


def is_classifier_config(model_cfg: Any) -> bool:
    """Whether a [model] table builds a classification network (trained by ClassifierTrainer, used by eval)."""
    kind = model_cfg.get("type", "diffwave") if isinstance(model_cfg, dict) else None
    return isinstance(kind, str) and getattr(NETWORKS.get(kind), "objective", "diffusion") == "classification"


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


__all__ = ["AudioClassifier", "DiffWave", "UNet1D", "NETWORKS", "build_network", "check_network_options",
           "entry_bottleneck", "is_classifier_config", "network_options"]
