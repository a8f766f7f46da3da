"""[diffusion] is declared by the diffusion code (audiodiff/diffusion.py) with the schedule's own defaults, and
its one check of values that go together (NoiseSchedule) reaches recipe users as one line naming file and key."""

from __future__ import annotations

import inspect

import pytest

from audiodiff import recipe
from audiodiff.diffusion import DiffusionConfig, GaussianDiffusion
from audiodiff.model_check import ModelFileError, check_config
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.schedule import NoiseSchedule


def test_recipe_keeps_the_name_and_the_defaults_are_the_schedules():
    assert recipe.DiffusionConfig is DiffusionConfig
    linear = inspect.signature(NoiseSchedule.linear).parameters
    d = DiffusionConfig()
    assert (d.num_steps, d.beta_start, d.beta_end) == tuple(linear[k].default
                                                             for k in ("num_steps", "beta_start", "beta_end"))
    built = d.build()
    assert isinstance(built, GaussianDiffusion)
    assert built.schedule.to_config() == NoiseSchedule.linear().to_config()


@pytest.mark.parametrize("table, words", [
    ({"beta_start": 0.05, "beta_end": 0.01}, ["[diffusion] beta_start (0.05) must be <= beta_end (0.01)"]),
    ({"schedule": "betas", "betas": ["x", 0.1]}, ["[diffusion] betas must be a non-empty list"]),
    ({"schedule": "betas", "betas": [0.1, 1.0]}, ["[diffusion] betas", "(0, 1)"]),
    ({"schedule": "betas"}, ["[diffusion] betas must be a non-empty list"]),
])
def test_values_that_do_not_go_together_are_one_line(table, words):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"data": {"root": "x"}, "diffusion": table}, source="tiny.toml")
    message = str(info.value)
    assert message.startswith("tiny.toml: ") and "\n" not in message
    for w in words:
        assert w in message, (w, message)


def test_config_json_gets_the_same_check(tmp_path):
    config = {"model": {"type": "diffwave"}, "sample_rate": 16000, "clip_length": 16000,
              "diffusion": {"schedule": "linear", "num_steps": 50, "beta_start": 0.05, "beta_end": 0.01}}
    with pytest.raises(ModelFileError) as info:
        check_config(config, tmp_path / "config.json")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.json'}: diffusion: beta_start (0.05) must be <= beta_end")
