"""Audio domains: prepare_batch for waveform / mel / vocoder, normalisation statistics in config.json, a
mel-domain run (U-Net over mel bins) sampled through Griffin-Lim or a vocoder run, the CLI around it, and
the shipped mel recipes."""

from __future__ import annotations

import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.domains import chunk_cond, prepare_batch
from audiodiff.run_features import domain_config
from audiodiff.features import MelFeatures
from audiodiff.nets import DiffWave, build_network
from audiodiff.recipe import load_recipe, recipe_from_dict
from helpers.mel import MEL_UNET, TINY_VOCODER, features, raw_recipe, tones
from helpers.recipes import REPO


# ----------------------------------------------------------------- prepare_batch
@pytest.mark.parametrize("length", [512, 513, 543, 100])
def test_prepare_batch_for_every_domain(length):
    f = features()
    wave = torch.randn(3, 1, length) * 0.1
    labels = torch.tensor([0, 1, 2])
    frames = length // 32
    x0, cond = prepare_batch("waveform", None, wave, labels)
    assert x0 is wave and set(cond) == {"labels"}
    x0, cond = prepare_batch("mel", f, wave)
    assert x0.shape == (3, 16, frames) and cond == {}
    assert torch.allclose(x0, f.encode(wave[:, 0]))
    x0, cond = prepare_batch("vocoder", f, wave, labels)
    assert x0.shape == (3, 1, frames * 32) and torch.equal(x0, wave[..., :frames * 32])
    assert cond["mel"].shape == (3, 16, frames) and torch.equal(cond["labels"], labels)
    assert prepare_batch("mel", f, wave[:, 0])[0].shape == (3, 16, frames)     # [B, L] works too


def test_prepare_batch_errors():
    with pytest.raises(ValueError, match="unknown domain"):
        prepare_batch("spectrogram", None, torch.zeros(1, 1, 64))
    with pytest.raises(ValueError, match="needs mel features"):
        prepare_batch("vocoder", None, torch.zeros(1, 1, 64))
    with pytest.raises(ValueError, match=r"\[B, 1, L\]"):
        prepare_batch("waveform", None, torch.zeros(1, 2, 64))


def test_chunk_cond_follows_x0_chunks():
    cond = {"mel": torch.arange(12.0).reshape(6, 2), "labels": torch.arange(6)}
    parts = chunk_cond(cond, 3)
    assert [p["labels"].tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    assert chunk_cond({}, 2) == [{}, {}]


def test_one_loss_call_for_every_domain():
    f = features()
    wave = torch.stack(tones(2))
    models = {"waveform": DiffWave(**{k: v for k, v in TINY_VOCODER.items() if k != "type"}),
              "mel": build_network({**MEL_UNET, "in_channels": 16}),
              "vocoder": DiffWave(**{k: v for k, v in TINY_VOCODER.items() if k != "type"}, n_mels=16, hop_length=32)}
    d = GaussianDiffusion.from_config({"schedule": "linear", "num_steps": 10})
    for domain, model in models.items():
        x0, cond = prepare_batch(domain, f, wave)
        assert torch.isfinite(d.loss(model, x0, **cond)), domain


# ----------------------------------------------------------------- statistics in config.json
def test_waveform_config_has_no_features():
    recipe = recipe_from_dict(raw_recipe("waveform", TINY_VOCODER) | {"features": {}})
    assert domain_config(recipe) == {"domain": "waveform"}


# ----------------------------------------------------------------- shipped recipes
def test_sc09_mel_recipe():
    r = load_recipe(REPO / "recipes" / "sc09-mel")
    assert r.data.domain == "mel" and r.data.sample_rate == 16000 and r.features.n_mels == 80
    assert r.model["type"] == "unet2d" and r.model["in_channels"] == 80
    f = MelFeatures.from_recipe(r)
    assert f.frames(r.data.clip_length) == 64
    net = build_network(r.model)
    assert sum(p.numel() for p in net.parameters()) == 14_592_129   # the size its README states (14.6M)
    with torch.no_grad():   # the image (80 bins × 64 frames) passes all four levels and comes back whole
        assert net(torch.zeros(1, 80, 64), torch.tensor([500])).shape == (1, 80, 64)
    voc = load_recipe(REPO / "recipes" / "sc09-mel" / "vocoder.toml")
    assert voc.data.domain == "vocoder" and MelFeatures.from_recipe(voc).same_transform(f) == []


def test_ljspeech_vocoder_recipe_is_diffwave_base():
    r = load_recipe(REPO / "recipes" / "ljspeech-vocoder")
    assert r.data.dataset == "ljspeech" and r.data.sample_rate == 22050 and r.data.domain == "vocoder"
    assert r.model == {"type": "diffwave", "residual_layers": 30, "residual_channels": 64, "dilation_cycle": 10,
                       "n_mels": 80, "hop_length": 256}
    assert (r.diffusion.num_steps, r.diffusion.beta_start, r.diffusion.beta_end) == (50, 1e-4, 0.05)
    assert r.sample.sampler == "fast" and r.sample.fast_betas == [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    assert r.data.clip_length % r.features.hop_length == 0
    assert sum(p.numel() for p in build_network(r.model).parameters()) == 2_619_971
