"""Audio domains: what a model generates, and how a batch of training clips becomes (x0, conditioning).

    domain      x0 (what is diffused)                 conditioning (keywords to the model)
    waveform    wave [B, 1, L]                        labels, when given
    mel         normalised log-mel [B, n_mels, F]     labels, when given
    vocoder     wave [B, 1, F·hop]                    mel = normalised log-mel [B, n_mels, F]; labels

F = L // hop_length (see audiodiff/features.py).  The trainer calls `prepare_batch` on every batch and
passes the conditioning to the loss: `diffusion.loss(model, x0, **cond)`.  The mel settings and their
normalisation statistics live in the run's config.json under "features" (`fit_features` computes the
statistics once per run, from a sample of training clips, and reuses them when the run resumes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from . import checkpoint as ckpt
from .features import MelFeatures, clip_sample

log = logging.getLogger("audiodiff")

DOMAINS = ("waveform", "mel", "vocoder")


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: choose one of {', '.join(DOMAINS)}")
    return domain


def prepare_batch(domain: str, features: MelFeatures | None, wave: Tensor,
                  labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """A batch of clips wave [B, 1, L] (and optional class labels [B]) → (x0, cond) for the loss.

    waveform: x0 = wave.  mel: x0 = features.encode(wave) [B, n_mels, L // hop].  vocoder: x0 = wave
    cropped to (L // hop)·hop samples, cond["mel"] = features.encode(wave) of the same samples.
    Labels, when given, go into cond["labels"].  Mels are computed without gradient, on wave's device.
    """
    check_domain(domain)
    if wave.ndim == 2:
        wave = wave[:, None]
    if wave.ndim != 3 or wave.shape[1] != 1:
        raise ValueError(f"expected a batch of mono clips [B, 1, L], got shape {tuple(wave.shape)}")
    cond: dict[str, Tensor] = {}
    if labels is not None:
        cond["labels"] = torch.as_tensor(labels, dtype=torch.long, device=wave.device).reshape(-1)
    if domain == "waveform":
        return wave, cond
    if features is None:
        raise ValueError(f"the {domain!r} domain needs mel features (config.json's \"features\")")
    with torch.no_grad():
        if domain == "mel":
            return features.encode(wave).to(wave.dtype), cond
        wave = wave[..., :features.samples(features.frames(wave.shape[-1]))]
        cond["mel"] = features.encode(wave).to(wave.dtype)
    return wave, cond


def split_item(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    """A dataset item or data-loader batch {"audio": clips, "label": labels (when the corpus has them)} →
    (clips, labels or None)."""
    return batch["audio"], batch.get("label")


def chunk_cond(cond: dict[str, Tensor], chunks: int) -> list[dict[str, Tensor]]:
    """Split every conditioning tensor along the batch like x0.chunk(chunks) (for gradient accumulation)."""
    if not cond:
        return [{} for _ in range(chunks)]
    parts = {k: v.chunk(chunks) for k, v in cond.items()}
    n = len(next(iter(parts.values())))
    return [{k: v[i] for k, v in parts.items()} for i in range(n)]


# ----------------------------------------------------------------- run configuration
def domain_config(recipe: Any) -> dict[str, Any]:
    """config.json's "domain" and, for mel / vocoder runs, "features" (settings; stats filled by fit_features)."""
    domain = check_domain(getattr(recipe.data, "domain", "waveform"))
    if domain == "waveform":
        return {"domain": domain}
    features = MelFeatures.from_recipe(recipe).to_config()
    features["stats_clips"] = int(recipe.features.stats_clips)
    return {"domain": domain, "features": features}


def features_from_config(config: dict[str, Any]) -> MelFeatures | None:
    """The run's MelFeatures (None for waveform runs); raises when a mel run's config lacks them."""
    domain = check_domain(config.get("domain", "waveform"))
    if domain == "waveform":
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
    if check_domain(config.get("domain", "waveform")) == "waveform":
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


def preview_clips(pipe: Any, n: int, clips: Sequence[Tensor] | None = None, seed: int = 0) -> Tensor:
    """What the trainer's TensorBoard preview plays, [n, L]: samples, as `audiodiff sample` makes them by
    default (a mel run's through Griffin-Lim); a vocoder run re-synthesises the first n training clips."""
    if pipe.domain != "vocoder":
        return pipe.sample(n=n, seed=seed)
    if clips is None or not len(clips):
        raise ValueError("a vocoder preview needs training clips to re-synthesise")
    return pipe.resynthesize(torch.cat([clips[i].reshape(1, -1) for i in range(min(n, len(clips)))]), seed=seed)
