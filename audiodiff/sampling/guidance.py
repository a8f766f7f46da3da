"""Classifier-free guidance (Ho & Salimans 2022) as a model wrapper the reverse loop calls like any network."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor, nn


class ClassifierFreeGuidance(nn.Module):
    """A class-conditional model called as u + scale·(c − u): c with `labels` [B], u with the null label
    (index num_classes); both passes run as one batch.  The wrapped model is a submodule when it is an
    nn.Module, so `parameters()` (and with it the loop's default device) are the wrapped network's own."""

    def __init__(self, model: Callable[..., Tensor], labels: Tensor, scale: float):
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

    def forward(self, x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        y = self.labels.to(x.device)
        if self.scale == 1.0:
            return self.model(x, t, labels=y, **cond)
        null = torch.full_like(y, self.num_classes)
        doubled = {k: torch.cat([v, v]) for k, v in cond.items()}
        c, u = self.model(torch.cat([x, x]), torch.cat([t, t]), labels=torch.cat([y, null]), **doubled).chunk(2)
        return u + self.scale * (c - u)


def classifier_free_guidance(model: Callable[..., Tensor], labels: Tensor, scale: float) -> ClassifierFreeGuidance:
    """Wrap a class-conditional model: output u + scale·(c − u), c with `labels`, u unlabelled.

    scale 1 is plain conditional sampling, 0 unconditional, > 1 sharper classes (Ho & Salimans 2022;
    their w is scale − 1).  The model must have `num_classes` > 0."""
    return ClassifierFreeGuidance(model, labels, scale)
