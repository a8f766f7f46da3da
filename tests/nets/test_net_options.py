"""[model] values are judged by the network constructors' annotations (audiodiff/nets/__init__.py), the same way
in a recipe and in an untrusted config.json: type, Range lower bound, Literal choices, OPTION_LIMITS."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from torch import Tensor, nn

from audiodiff.model_check import ModelFileError, check_config
from audiodiff.nets import NETWORKS, Range, check_network_option, network_option_types, network_options
from audiodiff.recipe import RecipeError, recipe_from_dict


class Gain(nn.Module):
    """A stand-in network with the option kinds no built-in network has yet: a string choice, a float whose
    real range goes past 1, and a switch."""

    def __init__(self, in_channels: Annotated[int, Range(1)] = 1, shape: Literal["tanh", "relu"] = "tanh",
                 gain: Annotated[float, Range(0.0, 4.0)] = 1.0, bypass: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.proj = nn.Conv1d(in_channels, 8, 1)
        self.shape, self.gain, self.bypass = shape, gain, bypass

    def forward(self, x: Tensor, t: Tensor) -> Tensor:   # pragma: no cover - never run
        return x


@pytest.fixture
def gain_net(monkeypatch):
    monkeypatch.setitem(NETWORKS, "gain", Gain)


def recipe(model: dict) -> dict:
    return {"name": "t", "data": {"root": "x"}, "model": model, "diffusion": {"num_steps": 20}}


def refused(model: dict) -> str:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(recipe(model), source="tiny.toml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("tiny.toml: ")
    return message


def test_a_string_option_outside_its_choices_is_refused_naming_the_key(gain_net):
    message = refused({"type": "gain", "shape": "sigmoid"})
    assert "[model] shape = 'sigmoid'" in message and "tanh, relu" in message
    assert recipe_from_dict(recipe({"type": "gain", "shape": "relu"})).model["shape"] == "relu"


def test_a_float_option_keeps_its_own_range(gain_net):
    assert recipe_from_dict(recipe({"type": "gain", "gain": 2.5})).model["gain"] == 2.5   # > 1 is legitimate
    assert "[model] gain = 4.5" in refused({"type": "gain", "gain": 4.5})


def test_a_switch_takes_true_and_false(gain_net):
    assert recipe_from_dict(recipe({"type": "gain", "bypass": True})).model["bypass"] is True
    assert "[model] bypass" in refused({"type": "gain", "bypass": 1})


@pytest.mark.parametrize("model, words", [
    ({"type": "unet1d", "base_channels": 8, "dropout": 1.5}, ["[model] dropout = 1.5", "< 1.0"]),
    ({"type": "unet1d", "base_channels": 8, "dropout": True}, ["[model] dropout", "number"]),
    ({"type": "unet1d", "base_channels": 8, "down_factors": [4, 0]}, ["[model] down_factors[1] = 0", ">= 1"]),
    ({"type": "unet1d", "base_channels": 8, "channel_mults": [1, 0, 2]}, ["[model] channel_mults[1] = 0"]),
    ({"type": "unet1d", "base_channels": 8, "attention_levels": ["mid"]}, ["[model] attention_levels[0]"]),
    ({"type": "classifier", "channels": [8, 0]}, ["[model] channels[1] = 0", ">= 1"]),
    ({"type": "classifier", "dropout": -0.1}, ["[model] dropout = -0.1", ">= 0.0"]),
    ({"type": "diffwave", "hop_length": 0}, ["[model] hop_length = 0", ">= 1"]),
])
def test_bad_network_values_are_one_line_naming_the_key(model, words):
    message = refused(model)
    for w in words:
        assert w in message, (w, message)


def test_off_switches_and_level_zero_are_allowed():
    r = recipe_from_dict(recipe({"type": "unet1d", "base_channels": 8, "attention_levels": [0], "num_classes": 0}))
    assert r.model["attention_levels"] == [0]


def test_config_json_is_judged_by_the_same_annotations(tmp_path):
    config = {"model": {"type": "unet1d", "dropout": 1.5}, "diffusion": {}, "sample_rate": 16000,
              "clip_length": 16000}
    with pytest.raises(ModelFileError) as info:
        check_config(config, tmp_path / "config.json")
    assert "config.json: model.dropout = 1.5" in str(info.value)


@pytest.mark.parametrize("kind", ["diffwave", "unet1d", "classifier"])
def test_every_numeric_network_option_has_a_lower_bound(kind):
    """Each constructor declares the range of every number it takes, so a negative size never reaches it."""
    assert set(network_option_types(kind)) == set(network_options(kind))
    for key, default in network_options(kind).items():
        bad = [-1] if isinstance(default, (tuple, list)) else -1
        if isinstance(default, bool) or isinstance(default, str):
            continue
        with pytest.raises(RecipeError, match=key):
            check_network_option(kind, key, bad, f"[model] {key}", "t.toml")
