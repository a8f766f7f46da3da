"""recipe.toml → Recipe: the shipped recipes load; every bad key is a RecipeError that names it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from audiodiff.recipe import (DataConfig, Recipe, RecipeError, TrainConfig, diffusion_config, load_recipe,
                              recipe_from_dict)
from audiodiff.schedule import NoiseSchedule
from helpers.recipes import REPO, TINY_DIFFWAVE, TINY_UNET, tiny_recipe_dict, to_toml, write_recipe


def base() -> dict:
    return tiny_recipe_dict(Path("data/x"))


def with_(section: str | None, key: str, value) -> dict:
    raw = copy.deepcopy(base())
    if section is None:
        raw[key] = value
    else:
        raw.setdefault(section, {})[key] = value
    return raw


# ----------------------------------------------------------------- shipped recipes
def test_quickstart_recipe_loads():
    r = load_recipe(REPO / "recipes" / "quickstart")
    assert isinstance(r, Recipe)
    assert r.name == "quickstart"
    assert r.data.dataset == "notes" and r.data.clip_length >= 16
    assert r.model["type"] == "unet1d"
    assert r.path == REPO / "recipes" / "quickstart"
    from audiodiff.nets import build_network
    net = build_network(r.model)                         # the model section really builds
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.skipif(not (REPO / "recipes" / "sc09" / "recipe.toml").is_file(), reason="no recipes/sc09 yet")
def test_sc09_recipe_loads():
    r = load_recipe(REPO / "recipes" / "sc09")
    assert r.data.sample_rate == 16000
    assert r.model["type"] in ("diffwave", "unet1d")


@pytest.mark.parametrize("recipe_dir", sorted(p.parent for p in (REPO / "recipes").glob("*/recipe.toml")),
                         ids=lambda p: p.name)
def test_every_shipped_recipe_loads(recipe_dir):
    r = load_recipe(recipe_dir)
    assert r.to_dict()["name"] == r.name
    NoiseSchedule.from_config(diffusion_config(r.diffusion))


def test_load_recipe_accepts_toml_file_and_defaults(tmp_path):
    file = tmp_path / "my.toml"
    file.write_text('[data]\nroot = "somewhere"\n')
    r = load_recipe(file)
    assert r.name == tmp_path.name                     # defaults to the folder's name
    assert r.data.root == "somewhere"
    assert r.data == DataConfig(root="somewhere")
    assert r.train == TrainConfig()
    assert r.model == {"type": "diffwave"}


def test_tiny_recipe_roundtrip(tmp_path):
    raw = base()
    r = load_recipe(write_recipe(tmp_path / "r", raw))
    assert r.model == TINY_DIFFWAVE
    assert r.train.batch_size == 2 and r.diffusion.num_steps == 20
    d = r.to_dict()
    for section in ("data", "diffusion", "train", "sample"):
        for key, value in raw[section].items():
            assert d[section][key] == value, (section, key)
    unet = recipe_from_dict({**raw, "model": TINY_UNET})
    assert unet.model == TINY_UNET


def test_int_accepted_for_float_key():
    r = recipe_from_dict(with_("train", "learning_rate", 1))
    assert r.train.learning_rate == 1.0 and isinstance(r.train.learning_rate, float)


# ----------------------------------------------------------------- errors name the key
BAD = [
    (None, "optimiser", {"lr": 1.0}, "optimiser"),                 # unknown table
    (None, "nmae", "x", "nmae"),                                   # unknown top-level key
    ("train", "batchsize", 4, "batchsize"),                        # unknown key
    ("data", "smaple_rate", 8000, "smaple_rate"),
    ("train", "batch_size", "16", "batch_size"),                   # wrong types
    ("train", "batch_size", 2.5, "batch_size"),
    ("train", "batch_size", True, "batch_size"),
    ("train", "learning_rate", "fast", "learning_rate"),
    ("data", "root", 5, "root"),
    ("data", "notes", 60, "notes"),
    ("diffusion", "beta_end", 1.0, "beta_end"),                    # out of range
    ("diffusion", "beta_end", 1.5, "beta_end"),
    ("diffusion", "beta_start", 0.0, "beta_start"),
    ("train", "batch_size", 0, "batch_size"),
    ("train", "learning_rate", 0.0, "learning_rate"),
    ("train", "learning_rate", -1e-3, "learning_rate"),
    ("train", "learning_rate", float("nan"), "learning_rate"),
    ("train", "grad_clip", float("inf"), "grad_clip"),
    ("train", "ema_decay", 1.0, "ema_decay"),
    ("train", "max_steps", 0, "max_steps"),
    ("data", "sample_rate", 10, "sample_rate"),
    ("sample", "sampler", "nope", "sampler"),                     # bad choices
    ("diffusion", "schedule", "sigmoid", "schedule"),
    ("diffusion", "prediction", "score", "prediction"),
    ("train", "device", "tpu", "device"),
    ("model", "residual_layers", 0, "residual_layers"),          # [model]
    ("model", "residual_channels", -8, "residual_channels"),
    ("model", "residual_layers", 2.5, "residual_layers"),
    ("model", "residual_chanels", 8, "residual_chanels"),
    ("model", "type", "wavenet", "type"),
    ("model", "in_channels", 2, "in_channels"),
    ("sample", "steps", 21, "steps"),                             # more than num_steps = 20
    ("sample", "fast_betas", [0.1, 1.0], "fast_betas"),
    ("diffusion", "beta_start", 0.5, "beta_start"),               # > beta_end
]


@pytest.mark.parametrize("section,key,value,named", BAD, ids=[f"{s}.{k}={v!r}" for s, k, v, _ in BAD])
def test_bad_recipe_raises_naming_key(tmp_path, section, key, value, named):
    raw = with_(section, key, value)
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="tiny.toml")
    msg = str(info.value)
    assert named in msg and "tiny.toml" in msg
    assert "\n" not in msg
    # the same error reaches users through a file, naming the file
    recipe_dir = write_recipe(tmp_path / "r", raw)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_dir)
    assert named in str(info.value) and str(recipe_dir / "recipe.toml") in str(info.value)


def test_unet_model_keys_are_checked():
    raw = {**base(), "model": {**TINY_UNET, "down_factors": [4, -1]}}
    with pytest.raises(RecipeError, match="down_factors"):
        recipe_from_dict(raw)
    raw = {**base(), "model": {**TINY_UNET, "dropout": 1.5}}
    with pytest.raises(RecipeError, match="dropout"):
        recipe_from_dict(raw)
    raw = {**base(), "model": {"type": "unet1d", "residual_layers": 4}}        # a diffwave key on a unet
    with pytest.raises(RecipeError, match="residual_layers"):
        recipe_from_dict(raw)


def test_nan_in_toml_file_is_refused(tmp_path):
    (tmp_path / "recipe.toml").write_text(to_toml(base()).replace("learning_rate = 0.001",
                                                                   "learning_rate = nan"))
    with pytest.raises(RecipeError, match="learning_rate"):
        load_recipe(tmp_path)


def test_betas_schedule_needs_betas():
    raw = with_("diffusion", "schedule", "betas")
    with pytest.raises(RecipeError, match="betas"):
        recipe_from_dict(raw)
    raw["diffusion"]["betas"] = [0.01, 0.02, 0.05]
    raw["sample"]["steps"] = 3
    r = recipe_from_dict(raw)
    assert diffusion_config(r.diffusion)["betas"] == [0.01, 0.02, 0.05]


def test_table_that_is_not_a_table():
    raw = base()
    raw["train"] = 5
    with pytest.raises(RecipeError, match=r"\[train\]"):
        recipe_from_dict(raw)


def test_toml_syntax_error_names_file(tmp_path):
    file = tmp_path / "recipe.toml"
    file.write_text('name = "x"\n[train\nbatch_size = 4\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path)
    assert str(file) in str(info.value) and "TOML" in str(info.value)


def test_missing_recipe_names_path(tmp_path):
    with pytest.raises(RecipeError, match="no recipe at"):
        load_recipe(tmp_path / "nowhere")
    with pytest.raises(RecipeError, match=str(tmp_path)):
        load_recipe(tmp_path)                        # a directory without recipe.toml
