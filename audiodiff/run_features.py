"""A run's domain entries and mel features in its config.json: what `train` writes (domain_config, fit_features with
the normalisation statistics, kept when a run resumes) and what loading reads back (features_from_config)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from torch import Tensor

from . import checkpoint as ckpt
from .domains import get_domain
from .features import MelFeatures, clip_sample

log = logging.getLogger("audiodiff")


def domain_config(recipe: Any) -> dict[str, Any]:
    """config.json's "domain", the domain's own entries (a bandwidth run's "narrow_rate") and, for mel / vocoder
    runs, "features" (settings; stats filled by fit_features)."""
    domain = recipe.data.domain
    entries = {"domain": domain, **get_domain(domain).config_entries(recipe)}
    if not get_domain(domain).uses_features:
        return entries
    features = MelFeatures.from_recipe(recipe).to_config()
    features["stats_clips"] = int(recipe.features.stats_clips)
    return {**entries, "features": features}


def features_from_config(config: dict[str, Any]) -> MelFeatures | None:
    """The run's MelFeatures (None for waveform runs); raises when a mel run's config lacks them."""
    domain = config.get("domain", "waveform")
    if not get_domain(domain).uses_features:
        return None
    if not config.get("features"):
        raise ValueError(f"a {domain!r} run needs \"features\" (mel settings and statistics) in its config.json")
    return MelFeatures.from_config(config["features"])


def fit_features(config: dict[str, Any], clips: Sequence[Tensor], run_dir: str | Path | None = None,
                 seed: int = 0) -> MelFeatures | None:
    """The run's MelFeatures with normalisation statistics, written into config["features"]["stats"].

    Statistics already in `config`, or in run_dir's config.json for the same mel settings (a resumed run),
    are kept; otherwise they are computed from up to features.stats_clips of the waveforms `clips` ([1, L]
    each; a seeded random choice).  Waveform runs: returns None and leaves config alone.
    """
    if not get_domain(config.get("domain", "waveform")).uses_features:
        return None
    cfg = config["features"]
    features = MelFeatures.from_config(cfg)
    if features.stats is None and run_dir is not None and (Path(run_dir) / ckpt.CONFIG).is_file():
        old = ckpt.load_config(Path(run_dir)).get("features") or {}
        if old.get("stats"):
            previous = MelFeatures.from_config(old)
            if not features.same_transform(previous):
                features.stats = previous.stats
    if features.stats is None:
        count = min(int(cfg.get("stats_clips", 256)), len(clips))
        features.fit_stats(clip_sample(clips, count, seed=seed))
        log.info("mel statistics (%s) from %d training clip(s): %s", features.norm, count,
                 ", ".join(f"{k} {v:.4g}" for k, v in features.stats.items()))
    config["features"] = {**cfg, "stats": dict(features.stats)}
    return features
