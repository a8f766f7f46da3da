"""The trainer's EMA step: ema ← ema + (1 − decay)·(θ − ema) over parameters and buffers, in one foreach call.

Same arithmetic as `AveragedModel.update_parameters` with `get_ema_multi_avg_fn` (the EMA still lives in
that AveragedModel, so checkpoints and its state_dict are unchanged), without what that method repeats on
every step: detaching and regrouping every tensor by device and dtype, and reading its `n_averaged`
counter on the host twice (two device synchronisations per step on CUDA).  Whether the EMA has started is
read once; the first update copies the weights, as AveragedModel's does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


class EMAUpdate:
    """`update()` moves `averaged.module` (an AveragedModel built with use_buffers=True) towards `model`."""

    def __init__(self, averaged: AveragedModel, model: nn.Module, decay: float):
        self.averaged = averaged
        targets = [*averaged.module.parameters(), *averaged.module.buffers()]
        sources = [*model.parameters(), *model.buffers()]
        if len(targets) != len(sources):
            raise ValueError("the EMA and the model have different parameters")
        self.float_pairs = ([t.detach() for t, s in zip(targets, sources) if t.is_floating_point()],
                            [s.detach() for t, s in zip(targets, sources) if t.is_floating_point()])
        self.other_pairs = [(t.detach(), s.detach()) for t, s in zip(targets, sources) if not t.is_floating_point()]
        self.all_pairs = list(zip([t.detach() for t in targets], [s.detach() for s in sources]))
        self.decay = float(decay)
        self.started: bool | None = None   # read from n_averaged at the first update (after any resume)

    @torch.no_grad()
    def update(self) -> None:
        if self.started is None:
            self.started = bool(self.averaged.n_averaged > 0)   # the one host read
        if not self.started:
            for t, s in self.all_pairs:
                t.copy_(s)
            self.started = True
        else:
            if self.float_pairs[0]:
                torch._foreach_lerp_(self.float_pairs[0], self.float_pairs[1], 1 - self.decay)
            for t, s in self.other_pairs:
                t.copy_(t * self.decay + s * (1 - self.decay))
        self.averaged.n_averaged += 1
