"""The trainer's EMA step: ema ← ema + (1 − d)·(θ − ema) over parameters and buffers, in one foreach call.

d warms up: d = min(decay, (1 + n)/(10 + n)) at the n-th update after the first (diffusers' EMA warm-up), so the
average forgets the initial weights within the first hundreds of steps.  Without it a 1,500-step run at decay
0.999 keeps 22 % of its initial weights (0.999^1500) and its EMA samples are noise while its raw weights work.

Once d has reached `decay`, the same arithmetic as `AveragedModel.update_parameters` with
`get_ema_multi_avg_fn` (the EMA still lives in that AveragedModel, so checkpoints and its state_dict are
unchanged), without what that method repeats on every step: detaching and regrouping every tensor by device
and dtype, and reading its `n_averaged` counter on the host twice (two device synchronisations per step on
CUDA).  The counter is read once (a resumed
run goes on with its warm-up where it stopped); the first update copies the weights, as AveragedModel's does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_up_decay(decay: float, n: int) -> float:
    """The decay of the n-th update after the first (n ≥ 1): min(decay, (1 + n)/(10 + n))."""
    return min(decay, (1.0 + n) / (10.0 + n))


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
        self.count: int | None = None   # updates so far: n_averaged, read at the first update (after any resume)

    @torch.no_grad()
    def update(self) -> None:
        if self.count is None:
            self.count = int(self.averaged.n_averaged)   # the one host read
        if self.count == 0:
            for t, s in self.all_pairs:
                t.copy_(s)
        else:
            decay = warmed_up_decay(self.decay, self.count)
            if self.float_pairs[0]:
                torch._foreach_lerp_(self.float_pairs[0], self.float_pairs[1], 1 - decay)
            for t, s in self.other_pairs:
                t.copy_(t * decay + s * (1 - decay))
        self.count += 1
        self.averaged.n_averaged += 1
