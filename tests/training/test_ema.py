"""The trainer's EMA step: the first update copies, later ones lerp with the warmed-up decay
min(decay, (1 + n)/(10 + n)) — AveragedModel's update bit for bit once the warm-up is over — and a resumed EMA
goes on with its warm-up where it stopped."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from audiodiff.ema import EMAUpdate, warmed_up_decay
from audiodiff.nets import DiffWave, UNet1D
from helpers.recipes import TINY_UNET


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def _averaged(model: torch.nn.Module, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def test_warmed_up_decay_rises_to_the_configured_decay():
    assert warmed_up_decay(0.999, 1) == pytest.approx(2 / 11)
    assert warmed_up_decay(0.999, 100) == pytest.approx(101 / 110)
    assert warmed_up_decay(0.999, 10_000) == 0.999
    assert warmed_up_decay(0.5, 8) == 0.5 and warmed_up_decay(0.5, 3) == pytest.approx(4 / 13)
    decays = [warmed_up_decay(0.9999, n) for n in range(1, 5000)]
    assert decays == sorted(decays)


@pytest.mark.parametrize("make", [lambda: DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16),
                                  lambda: UNet1D(**{k: v for k, v in TINY_UNET.items() if k != "type"})])
def test_ema_update_follows_the_warmed_up_decay(make):
    model = make()
    decay = 0.9
    ours = _averaged(model, decay)
    update = EMAUpdate(ours, model, decay)
    _perturb(model, 0)   # the first update copies these weights
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    for step in range(40):
        update.update()
        if step:
            d = min(decay, (1 + step) / (10 + step))
            expected = {k: torch.lerp(e, v, 1 - d) if e.is_floating_point() else e
                        for (k, e), v in zip(expected.items(), model.state_dict().values())}
        for name, value in ours.module.state_dict().items():
            torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-6, msg=f"{step} {name}")
        assert int(ours.n_averaged) == step + 1
        _perturb(model, step + 1)
    assert not torch.equal(next(ours.module.parameters()), next(model.parameters()))   # it averages


def test_after_the_warm_up_it_is_averaged_models_update_bit_for_bit():
    model = DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16)
    decay = 0.5                     # (1 + n)/(10 + n) ≥ 0.5 from n = 8 on
    reference, ours = _averaged(model, decay), _averaged(model, decay)
    update = EMAUpdate(ours, model, decay)
    for step in range(9):
        update.update()
        _perturb(model, step)
    reference.load_state_dict(ours.state_dict())
    for step in range(3):
        reference.update_parameters(model)
        update.update()
        for (name, a), b in zip(reference.module.state_dict().items(), ours.module.state_dict().values()):
            assert torch.equal(a, b), (step, name)
        _perturb(model, 100 + step)


def test_a_resumed_ema_goes_on_with_its_warm_up():
    model = DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16)
    straight = _averaged(model, 0.99)
    through = EMAUpdate(straight, model, 0.99)
    saved = _averaged(model, 0.99)
    first = EMAUpdate(saved, model, 0.99)
    for step in range(5):
        through.update()
        first.update()
        _perturb(model, step)
    state = copy.deepcopy(saved.state_dict())     # a checkpoint after 5 updates
    resumed = _averaged(model, 0.99)
    resumed.load_state_dict(state)
    again = EMAUpdate(resumed, model, 0.99)
    through.update()
    again.update()                                # the 6th update: decay (1 + 5)/(10 + 5), not a copy
    for a, b in zip(straight.module.parameters(), resumed.module.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(next(resumed.module.parameters()), next(model.parameters()))
