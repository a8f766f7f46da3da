"""A network whose first layer is narrower than its input is reported when the recipe is read (issue 14)."""

from __future__ import annotations

import logging

import pytest

from audiodiff.nets import UNet1D, entry_bottleneck
from audiodiff.recipe import recipe_from_dict


def mel_recipe(model: dict, n_mels: int = 80) -> dict:
    return {"name": "m", "data": {"dataset": "folder", "root": "x", "sample_rate": 16000, "clip_length": 16384,
                                  "domain": "mel"},
            "features": {"n_mels": n_mels, "hop_length": 256}, "model": model}


UNET = {"type": "unet1d", "channel_mults": [1, 2], "down_factors": [2], "blocks_per_level": 1}


@pytest.mark.parametrize("model, key, values", [
    ({**UNET, "base_channels": 64}, "base_channels", 80),                       # issue 14's crippled sc09-mel
    ({"type": "diffwave", "residual_layers": 2, "residual_channels": 32, "dilation_cycle": 2}, "residual_channels",
     80),
])
def test_mel_network_narrower_than_its_bins_warns_with_the_fix(caplog, model, key, values):
    with caplog.at_level(logging.WARNING, logger="audiodiff"):
        recipe_from_dict(mel_recipe(model), source="r.toml")
    [record] = [r for r in caplog.records if "bottleneck" in r.getMessage()]
    msg = record.getMessage()
    assert msg.startswith("r.toml: [model]") and f"[model] {key}" in msg and f"at least {values}" in msg


def test_wide_enough_networks_are_quiet(caplog):
    with caplog.at_level(logging.WARNING, logger="audiodiff"):
        recipe_from_dict(mel_recipe({**UNET, "base_channels": 128}), source="r.toml")
        recipe_from_dict(mel_recipe({**UNET, "base_channels": 16}, n_mels=16), source="r.toml")
    assert not [r for r in caplog.records if "bottleneck" in r.getMessage()]


def test_a_strided_stem_counts_the_frames_it_folds_together():
    assert entry_bottleneck(UNet1D(in_channels=1, base_channels=4, stem_factor=8, channel_mults=[1],
                                   down_factors=[])) == (8, 4)
    assert entry_bottleneck(UNet1D(in_channels=1, base_channels=64, stem_factor=4, channel_mults=[1],
                                   down_factors=[])) is None
