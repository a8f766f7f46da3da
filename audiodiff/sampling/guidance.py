"""Classifier-free guidance (Ho & Salimans 2022) as a model wrapper the reverse loop calls like any network,
optionally only inside an interval of noise levels (Kynkäänniemi et al. 2024: guidance at the noisiest levels costs
diversity and at the cleanest does nothing, so outside the interval the plain conditional output is used, one pass).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ..schedule import NoiseSchedule


class ClassifierFreeGuidance(nn.Module):
    """A class-conditional model called as u + scale·(c − u): c with `labels` [B], u with the null label
    (index num_classes); both passes run as one batch.  The wrapped model is a submodule when it is an
    nn.Module, so `parameters()` (and with it the loop's default device) are the wrapped network's own."""

    def __init__(self, model: Callable[..., Tensor], labels: Tensor, scale: float,
                 steps: tuple[float, float] | None = None):
        super().__init__()
        if not math.isfinite(float(scale)):
            raise ValueError(f"the guidance scale must be a finite number, got {scale}")
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        if not num_classes:
            raise ValueError("labels need a class-conditional model (model.num_classes > 0)")
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"labels must lie in 0..{num_classes - 1}")
        self.model = model
        self.labels = labels
        self.scale = float(scale)
        self.num_classes = num_classes
        self.steps = None if steps is None else (float(steps[0]), float(steps[1]))

    def forward(self, x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        y = self.labels.to(x.device)
        inside = None if self.steps is None else self._inside(t, x.shape[0])
        if self.scale == 1.0 or (inside is not None and not bool(inside.any())):
            return self.model(x, t, labels=y, **cond)
        null = torch.full_like(y, self.num_classes)
        doubled = {k: torch.cat([v, v]) for k, v in cond.items()}
        c, u = self.model(torch.cat([x, x]), torch.cat([t, t]), labels=torch.cat([y, null]), **doubled).chunk(2)
        if inside is None:
            return u + self.scale * (c - u)
        scale = torch.where(inside, self.scale, 1.0).to(device=c.device, dtype=c.dtype)
        return u + scale.reshape(-1, *[1] * (c.dim() - 1)) * (c - u)

    def _inside(self, t: Tensor, batch: int) -> Tensor:
        """Which examples ([B] bool) are at a step inside the guidance interval `steps`."""
        lo, hi = self.steps
        t = torch.as_tensor(t).reshape(-1).expand(batch)
        return (t >= lo) & (t <= hi)


def classifier_free_guidance(model: Callable[..., Tensor], labels: Tensor, scale: float,
                             steps: tuple[float, float] | None = None) -> ClassifierFreeGuidance:
    """Wrap a class-conditional model: output u + scale·(c − u), c with `labels`, u unlabelled.

    scale 1 is plain conditional sampling, 0 unconditional, > 1 sharper classes (Ho & Salimans 2022;
    their w is scale − 1).  steps (lo, hi): the (fractional) training steps between which the scale applies,
    plain conditional output elsewhere (`guidance_steps` turns a σ interval into them); None: every step.
    The model must have `num_classes` > 0."""
    return ClassifierFreeGuidance(model, labels, scale, steps)


def check_guidance_interval(interval: Sequence[float]) -> None:
    """An interval of noise levels σ = √((1 − ᾱ) / ᾱ): empty (guidance at every step) or [lo, hi] with
    0 <= lo < hi, finite; ValueError naming the key otherwise."""
    if isinstance(interval, (list, tuple)) and not interval:
        return
    numbers = isinstance(interval, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in interval)
    if not numbers or len(interval) != 2:
        raise ValueError(f"guidance_interval = {interval!r}: give two noise levels [lo, hi] (σ), or [] for "
                         f"guidance at every step")
    lo, hi = (float(v) for v in interval)
    if not 0 <= lo < hi:
        raise ValueError(f"guidance_interval = [{lo:g}, {hi:g}]: needs 0 <= lo < hi (noise levels σ)")


def guidance_steps(schedule: NoiseSchedule, interval: Sequence[float]) -> tuple[float, float] | None:
    """The fractional training steps (lo, hi) where σ_t = √((1 − ᾱ_t) / ᾱ_t) lies in the σ `interval`
    (check_guidance_interval), for `classifier_free_guidance`; None for an empty interval.  σ grows with t, so
    the σ bounds map to step bounds (schedule.continuous_step; levels past the schedule's ends clamp to them)."""
    check_guidance_interval(interval)
    if not len(interval):
        return None
    sigma = torch.tensor([float(v) for v in interval], dtype=torch.float64)
    lo, hi = schedule.continuous_step(1.0 / (1.0 + sigma ** 2)).tolist()
    return lo, hi
