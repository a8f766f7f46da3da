"""The trainer's EMA step gives exactly what AveragedModel.update_parameters gives (first update copies,
later ones lerp; a resumed EMA lerps at once), and the trainer uses it."""

from __future__ import annotations

import copy

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from audiodiff.ema import EMAUpdate
from audiodiff.nets import DiffWave, UNet1D
from helpers.recipes import TINY_UNET


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def test_ema_update_is_averaged_models_update_bit_for_bit():
    for model in (DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16),
                  UNet1D(**{k: v for k, v in TINY_UNET.items() if k != "type"})):
        decay = 0.9
        reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        ours = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        update = EMAUpdate(ours, model, decay)
        _perturb(model, 0)   # the first update copies these weights
        for step in range(4):
            reference.update_parameters(model)
            update.update()
            for (name, a), b in zip(reference.module.state_dict().items(), ours.module.state_dict().values()):
                assert torch.equal(a, b), (step, name)
            assert int(ours.n_averaged) == int(reference.n_averaged) == step + 1
            _perturb(model, step + 1)
        assert not torch.equal(next(ours.module.parameters()), next(model.parameters()))   # it averages


def test_a_resumed_ema_averages_from_its_first_update():
    model = DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16)
    saved = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    saved.update_parameters(model)
    state = copy.deepcopy(saved.state_dict())
    _perturb(model, 3)
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    resumed = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    reference.load_state_dict(state)
    resumed.load_state_dict(state)
    update = EMAUpdate(resumed, model, 0.5)   # built before loading would work too: the tensors are the same
    reference.update_parameters(model)
    update.update()
    for a, b in zip(reference.module.parameters(), resumed.module.parameters()):
        assert torch.equal(a, b)
