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
    return NETWORKS[kind](**cfg)


__all__ = ["AudioClassifier", "DiffWave", "UNet1D", "NETWORKS", "build_network", "network_options"]
