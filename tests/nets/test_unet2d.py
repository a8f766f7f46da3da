"""UNet2D: the mel spectrogram as an image — shapes, padding, what it shares with UNet1D, and where recipes may use it."""

from __future__ import annotations

import pytest
import torch

from audiodiff.domains import prepare_batch
from audiodiff.options import RecipeError
from audiodiff.nets import UNet2D, build_network, entry_bottleneck
from audiodiff.recipe import recipe_from_dict

def wake(net: UNet2D) -> UNet2D:
    """Randomise the zero-initialised layers (output head, residual branches) so every path carries signal."""
    for p in net.parameters():
        if p.abs().max() == 0:
            torch.nn.init.normal_(p, std=0.1)
    return net


TINY = dict(base_channels=8, channel_mults=(1, 2, 2), blocks_per_level=1, attention_levels=(1,), attention_heads=2)


@pytest.mark.parametrize("bins,frames", [(16, 32), (13, 7), (40, 63), (1, 1)])
def test_any_mel_size_round_trips(bins, frames):
    net = UNet2D(in_channels=bins, **TINY)
    x = torch.randn(2, bins, frames)
    assert net(x, torch.tensor([3.0, 0.5])).shape == (2, bins, frames)


def test_output_zero_at_init_then_depends_on_input_and_step():
    torch.manual_seed(0)
    net = UNet2D(in_channels=16, **TINY)
    x = torch.randn(2, 16, 24)
    assert net(x, torch.zeros(2)).abs().max() == 0          # zero-initialised head: starts as ε̂ = 0
    wake(net)
    y = net(x, torch.zeros(2))
    assert not torch.allclose(y, net(x.flip(-1), torch.zeros(2)))
    assert not torch.allclose(y, net(x, torch.full((2,), 50.0)))
    assert torch.equal(y, net(x, torch.zeros(2)))


def test_batch_items_do_not_mix():
    """GroupNorm and attention act per item: changing item 1 leaves item 0's output alone."""
    torch.manual_seed(0)
    net = wake(UNet2D(in_channels=8, **TINY))
    x = torch.randn(2, 8, 16)
    y = net(x, torch.ones(2))
    x2 = x.clone()
    x2[1] = torch.randn(8, 16)
    assert torch.allclose(net(x2, torch.ones(2))[0], y[0], atol=1e-6)


def test_convolves_across_bins_a_shifted_pattern_gives_a_shifted_response():
    """The bias this network exists for: a pattern moved up two mel bins (away from the padded edges) gives the
    same response moved up two bins, which a network with the bins as channels cannot do by construction."""
    torch.manual_seed(0)
    net = UNet2D(in_channels=64, base_channels=8, channel_mults=(1,), blocks_per_level=1, attention_levels=(),
                 attention_heads=2)
    wake(net)
    x = torch.zeros(1, 64, 16)
    x[0, 30:34, 6:10] = 1.0
    shifted = torch.roll(x, 2, dims=1)
    # one level, no attention: a receptive field of ~10 bins, so away from the edges the response commutes with shifts
    net.mid.attns = torch.nn.ModuleList(torch.nn.Identity() for _ in net.mid.attns)
    y, ys = net(x, torch.ones(1)), net(shifted, torch.ones(1))
    assert torch.allclose(torch.roll(y, 2, dims=1)[0, 16:48], ys[0, 16:48], atol=1e-5)
    assert not torch.allclose(y[0, 16:48], ys[0, 16:48], atol=1e-3)   # and the response did move


def test_label_conditioning_and_registry():
    net = build_network({"type": "unet2d", "in_channels": 8, "num_classes": 3, **{k: list(v) if isinstance(v, tuple)
                                                                                   else v for k, v in TINY.items()}})
    assert isinstance(net, UNet2D)
    x = torch.randn(2, 8, 8)
    assert net(x, torch.ones(2), labels=torch.tensor([0, 2])).shape == x.shape
    assert entry_bottleneck(net) is None     # one input channel: the mel bins never squeeze through a narrow layer


def _recipe(domain: str) -> dict:
    return {"name": "t", "data": {"root": "unused", "sample_rate": 8000, "clip_length": 512, "domain": domain},
            "features": {"n_fft": 128, "hop_length": 32, "n_mels": 16},
            "model": {"type": "unet2d", "base_channels": 8, "channel_mults": [1, 2]},
            "diffusion": {"schedule": "linear", "num_steps": 10}}


def test_mel_recipe_takes_it_and_sets_the_bins():
    recipe = recipe_from_dict(_recipe("mel"), source="r.toml")
    assert recipe.model["in_channels"] == 16


@pytest.mark.parametrize("domain", ["waveform", "vocoder"])
def test_other_domains_refuse_it_in_one_line(domain):
    with pytest.raises(RecipeError, match=r"r\.toml: .*(unet2d.*mel|vocoder.*unet2d)"):
        recipe_from_dict(_recipe(domain), source="r.toml")


def test_trains_on_a_mel_batch():
    from audiodiff.diffusion import GaussianDiffusion
    from audiodiff.features import MelFeatures
    from audiodiff.schedule import NoiseSchedule
    torch.manual_seed(0)
    t = torch.arange(512) / 8000
    clips = torch.stack([(0.3 * torch.sin(2 * torch.pi * f * t))[None] for f in (300.0, 600.0)])
    feats = MelFeatures(8000, n_fft=128, hop_length=32, n_mels=16).fit_stats(list(clips))
    x0, cond = prepare_batch("mel", feats, clips)
    net = UNet2D(in_channels=16, **TINY)
    diffusion = GaussianDiffusion(NoiseSchedule.linear(10, 1e-3, 0.2))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        loss = diffusion.loss(net, x0, generator=g, **cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
