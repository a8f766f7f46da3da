"""Gap filling learned from pairs: clips with gaps cut into them on the fly (data/dropouts.py), the loss weighted on the
gap (GaussianDiffusion.loss_terms' loss_weights), and the recipe checks of [data] domain = "gapfill"."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff import GaussianDiffusion, NoiseSchedule
from audiodiff.data.dropouts import (GAP_RMS, MIN_CONTEXT_SHARE, OUTSIDE_WEIGHT, GapMaker, crossfade_fill, gap_runs,
                                 gapped_input)
from audiodiff.recipe import RecipeError, recipe_from_dict
from helpers.recipes import TINY_UNET, tiny_recipe_dict

RATE = 16000


def _clips(n: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, length, generator=g) * torch.linspace(0.01, 0.5, n)[:, None, None]


# ----------------------------------------------------------------- pairs
def test_each_clip_gets_one_gap_within_the_lengths_with_context_both_sides():
    maker = GapMaker(RATE, 20, 500)
    clean = _clips(400, 16384)
    wave, cond, weights = maker(clean, torch.Generator().manual_seed(1))
    gap = cond[:, 1:2] > 0.5
    sizes = gap.sum(-1).flatten()
    assert sizes.min() >= 320 and sizes.max() <= 8000                      # 20 ms .. 500 ms at 16 kHz
    margin = math.ceil(MIN_CONTEXT_SHARE * 16384)
    for row in gap[:, 0]:
        where = torch.nonzero(row).flatten()
        assert where[0] >= margin and where[-1] < 16384 - margin           # a tenth of the clip each side
        assert where[-1] - where[0] + 1 == where.numel()                   # one contiguous gap
    # log-uniform: about half the gaps are shorter than the geometric mean of the bounds (100 ms)
    assert 0.4 < float((sizes < 1600).float().mean()) < 0.6
    again = maker(clean, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(again, (wave, cond, weights)))   # a function of the generator


def test_the_network_hears_the_known_part_at_the_input_level_and_the_loss_weighs_the_gap():
    clean = _clips(6, 16000)                                               # a tenth is 100 ms: whole fades
    wave, cond, weights = GapMaker(RATE, 20, 100)(clean, torch.Generator().manual_seed(2))
    gap = cond[:, 1:2] > 0.5
    for heard, target, holes in zip(cond[:, 0], wave[:, 0], gap[:, 0]):    # the gap holds the crossfade around it
        (start, length), = gap_runs(holes)
        w = (torch.arange(length) + 0.5) / length
        fade = (1 - w) * target[start - length:start] + w * target[start + length:start + 2 * length]
        assert torch.allclose(heard[start:start + length], fade, atol=1e-6)
    gain = wave / clean                                                    # one gain per clip
    assert torch.allclose(gain, gain[..., :1].expand_as(gain))
    assert torch.allclose(cond[:, :1][~gap], wave[~gap])                   # the known part, as the target has it
    known_rms = torch.stack([r[0][~m[0]].pow(2).mean().sqrt() for r, m in zip(cond[:, :1], gap)])
    assert torch.allclose(known_rms, torch.full((6,), GAP_RMS), rtol=1e-4)
    assert torch.equal(weights, torch.where(gap, 1.0, OUTSIDE_WEIGHT))


def test_a_silent_context_keeps_its_level():
    audio = torch.zeros(1, 1, 1000)
    gap = torch.zeros(1, 1, 1000, dtype=torch.bool)
    gap[..., 400:600] = True
    cond, gain = gapped_input(audio, gap)
    assert torch.isfinite(gain).all() and float(gain) == pytest.approx(GAP_RMS / 1e-5)
    assert torch.equal(cond[:, 0], torch.zeros(1, 1000)) and torch.equal(cond[:, 1] > 0, gap[:, 0])


def test_crossfade_fill_fills_every_gap_from_its_own_neighbours():
    x = torch.arange(1, 101, dtype=torch.float64).repeat(2, 1, 1)          # [2, 1, 100]
    gap = torch.zeros(2, 1, 100, dtype=torch.bool)
    gap[0, 0, 20:25] = True
    gap[0, 0, 60:70] = True                                                # two gaps in one row
    gap[1, 0, :4] = True                                                   # no audio before: the audio after alone
    gap[1, 0, 97:] = True                                                  # 2 samples after none: the ones before
    y = crossfade_fill(x, gap)
    assert gap_runs(gap[0, 0]) == [(20, 5), (60, 10)]
    w5, w10 = (torch.arange(5) + 0.5) / 5, (torch.arange(10) + 0.5) / 10
    assert torch.allclose(y[0, 0, 20:25], (1 - w5) * x[0, 0, 15:20] + w5 * x[0, 0, 25:30])
    assert torch.allclose(y[0, 0, 60:70], (1 - w10) * x[0, 0, 50:60] + w10 * x[0, 0, 70:80])
    assert torch.equal(y[1, 0, :4], x[1, 0, 4:8]) and torch.equal(y[1, 0, 97:], x[1, 0, 94:97])
    assert torch.equal(y[~gap], x[~gap]) and torch.equal(x, torch.arange(1, 101, dtype=torch.float64).repeat(2, 1, 1))
    short = torch.zeros(1, 10, dtype=torch.bool)
    short[0, 2:8] = True                                                   # 2 samples each side for a 6-sample gap
    z = crossfade_fill(torch.arange(10.0)[None], short)[0]
    w6 = (torch.arange(6) + 0.5) / 6
    assert torch.allclose(z[2:8], (1 - w6) * torch.tensor([0., 1, 0, 1, 0, 1]) + w6 * torch.tensor([8., 9, 8, 9, 8, 9]))
    assert torch.equal(crossfade_fill(torch.ones(1, 8), torch.ones(1, 8, dtype=torch.bool)), torch.zeros(1, 8))


@pytest.mark.parametrize("args, words", [((RATE, 0, 100), "0 < gap_min_ms"), ((RATE, 200, 100), "gap_min_ms <= ")])
def test_impossible_gap_lengths_are_refused(args, words):
    with pytest.raises(ValueError, match=words):
        GapMaker(*args)


def test_a_clip_too_short_for_its_gaps_is_refused_by_name():
    with pytest.raises(ValueError, match="clip_length"):
        GapMaker(RATE, 100, 200)(_clips(2, 1000), torch.Generator())


# ----------------------------------------------------------------- the weighted loss
class _RightOnTheLeft(torch.nn.Module):
    """Answers the v target exactly on the first half of the clip and 0 on the second (it is told x0 and noise)."""

    def __init__(self, diffusion: GaussianDiffusion, x0: torch.Tensor, noise: torch.Tensor):
        super().__init__()
        self.diffusion, self.x0, self.noise = diffusion, x0, noise

    def forward(self, x_t, t, **cond):
        target = self.diffusion.target(self.x0, self.noise, t.long())
        half = x_t.shape[-1] // 2
        return torch.cat([target[..., :half], torch.zeros_like(target[..., half:])], dim=-1)


def test_loss_weights_count_only_where_they_are_set():
    sched = NoiseSchedule.linear(50, 1e-4, 0.2)
    diffusion = GaussianDiffusion(sched, prediction="v")
    x0, noise = _clips(3, 64), torch.randn(3, 1, 64, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([5, 20, 45])
    model = _RightOnTheLeft(diffusion, x0, noise)
    left = torch.zeros(3, 1, 64)
    left[..., :32] = 1.0
    on_left, _ = diffusion.loss_terms(model, x0, t=t, noise=noise, loss_weights=left)
    assert torch.allclose(on_left, torch.zeros(3))                         # right where the weights are
    plain, _ = diffusion.loss_terms(model, x0, t=t, noise=noise)
    on_right, _ = diffusion.loss_terms(model, x0, t=t, noise=noise, loss_weights=1 - left)
    assert torch.allclose(on_right, 2 * plain) and bool((plain > 0).all())   # the mean over the weighted half
    spectral = GaussianDiffusion(sched, prediction="v", loss_type="spectral")
    with pytest.raises(ValueError, match="loss weights"):
        spectral.loss_terms(model, x0, t=t, noise=noise, loss_weights=left)


# ----------------------------------------------------------------- recipes
def _gapfill_recipe(folder, **data):
    raw = tiny_recipe_dict(folder, model=TINY_UNET)
    raw["data"].update(domain="gapfill", clip_length=2048, gap_min_ms=10.0, gap_max_ms=50.0, **data)
    return raw


def test_a_gapfill_recipe_hears_two_channels(wav_folder):
    recipe = recipe_from_dict(_gapfill_recipe(wav_folder))
    assert recipe.model["cond_channels"] == 2 and recipe.data.gap_max_ms == 50.0


@pytest.mark.parametrize("change, words", [
    ({"data": {"gap_min_ms": 80.0}}, "gap_min_ms = 80.0 is above gap_max_ms"),
    ({"model": {"cond_channels": 1}}, "cond_channels must be 2"),
    ({"model": {"type": "diffwave"}}, "needs \\[model\\] type = \"unet1d\""),
    ({"model": {"type": "spectral_mask"}}, "needs \\[model\\] type = \"unet1d\""),
    ({"diffusion": {"loss": "spectral"}}, "cannot weigh the gap"),
])
def test_gapfill_recipe_refusals_name_the_key(wav_folder, change, words):
    raw = _gapfill_recipe(wav_folder)
    raw["data"].update(change.get("data", {}))
    raw["diffusion"].update(change.get("diffusion", {}))
    if "model" in change:
        raw["model"] = {"type": change["model"]["type"]} if "type" in change["model"] \
            else {**raw["model"], **change["model"]}
    with pytest.raises(RecipeError, match=words):
        recipe_from_dict(raw)
