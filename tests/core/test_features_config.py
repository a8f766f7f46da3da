"""[features] is declared next to the mel code (audiodiff/features_config.py): its defaults are MelFeatures'
constructor defaults and its choices features.py's tuples, so no mel setting is written twice."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiodiff import recipe
from audiodiff.features import MEL_SCALES, NORMS, POWERS, MelFeatures
from audiodiff.features_config import FeaturesConfig
from audiodiff.options import option_meta
from audiodiff.recipe import recipe_from_dict


def test_defaults_build_the_constructors_defaults():
    assert recipe.FeaturesConfig is FeaturesConfig
    r = recipe_from_dict({"data": {"root": "x", "domain": "mel"}, "model": {"type": "unet1d", "base_channels": 80}})
    assert MelFeatures.from_recipe(r).to_config() == MelFeatures(r.data.sample_rate).to_config()


def test_choices_are_the_features_modules_tuples():
    assert option_meta(FeaturesConfig, "norm")["choices"] == NORMS
    assert option_meta(FeaturesConfig, "mel_scale")["choices"] == MEL_SCALES
    assert option_meta(FeaturesConfig, "power")["choices"] == POWERS
    assert {f.name for f in dataclasses.fields(FeaturesConfig)} - {"stats_clips"} <= set(MelFeatures(16000).to_config())


def test_one_mel_bin_check_names_its_user():
    f = MelFeatures(16000, n_fft=512, hop_length=128, n_mels=40)
    with pytest.raises(ValueError, match="this vocoder expects mel spectrograms with 40 mel bins, got 32"):
        f.check_mel(torch.zeros(1, 32, 10), "this vocoder")
    with pytest.raises(ValueError, match="no frames"):
        f.check_mel(torch.zeros(1, 40, 0))
    with pytest.raises(ValueError, match=r"\[B, n_mels, frames\]"):
        f.check_mel(torch.zeros(40, 10))
