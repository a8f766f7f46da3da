"""One-shot generation from a folder of class folders: a class-conditional run trained on `<class>/<file>.wav`,
sampled by class name, its samples trimmed of trailing silence when written (recipes/drums-cpu)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiodiff.audio import TRIM_FADE_S, trim_trailing_silence
from audiodiff.recipe import load_recipe
from helpers.cli import run_cli
from helpers.recipes import REPO, tiny_recipe_dict, write_recipe

RATE = 8000


def test_trim_cuts_after_the_last_sample_above_the_level_and_fades_out():
    wave = torch.zeros(8000)
    wave[100:1100] = 0.5 * torch.sin(torch.arange(1000) / 3.0)     # 1000 loud samples
    wave[3000] = 0.5 * 10 ** (-40 / 20) * 1.01                     # a faint tail sample, 40 dB down
    fade = int(TRIM_FADE_S * RATE)
    cut = trim_trailing_silence(wave, RATE, -60.0)
    assert len(cut) == 3001 + fade                                 # the faint sample counts at -60 dB …
    assert len(trim_trailing_silence(wave, RATE, -30.0)) <= 1100 + fade   # … not at -30 dB
    assert torch.equal(cut[:2000], wave[:2000])                    # nothing before the fade changes
    assert float(cut[-1]) == 0.0                                   # it ends at zero: no click
    silent = torch.zeros(500)
    assert torch.equal(trim_trailing_silence(silent, RATE, -50.0), silent)
    with pytest.raises(ValueError, match="below 0"):
        trim_trailing_silence(wave, RATE, 0.0)


def hit(seed: int, cls: int, n: int = 512) -> np.ndarray:
    """A one-shot of class 0 (a low thump) or 1 (a noise burst), decaying within the first quarter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    env = np.exp(-t / 40.0)
    body = np.sin(2 * np.pi * 100 * t / RATE) if cls == 0 else rng.normal(0, 0.5, n)
    return (0.6 * env * body).astype(np.float32)


@pytest.fixture(scope="module")
def one_shot_run(tmp_path_factory) -> Path:
    """A tiny class-conditional DiffWave trained a few steps on kick/ and snare/ folders (one unknown/ skipped)."""
    root = tmp_path_factory.mktemp("oneshots")
    for c, cls in enumerate(("kick", "snare", "unknown")):
        for k in range(4):
            path = root / "pack" / cls / f"kit{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), hit(k, c % 2), RATE)
    raw = tiny_recipe_dict(root / "pack", model={"type": "diffwave", "residual_layers": 2, "residual_channels": 8,
                                                 "dilation_cycle": 2, "num_classes": 2}, cond_drop=0.2)
    raw["data"].update(dataset="classes", classes=["kick", "snare"], skip_classes=["unknown"], clip_length=512)
    raw["sample"].update(label="each", trim_db=-20.0)
    recipe = write_recipe(root / "recipe", raw)
    assert run_cli("train", str(recipe), "--out", str(root / "run"), "--no-progress").returncode == 0
    return root / "run"


def test_samples_by_class_name_are_labelled_and_trimmed(one_shot_run, tmp_path):
    out = tmp_path / "wavs"
    proc = run_cli("sample", "--model", str(one_shot_run), "--n", "2", "--label", "snare", "--steps", "3",
                   "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "labels.json").read_text()) == {"sample_000.wav": "snare", "sample_001.wav": "snare"}
    lengths = [sf.info(str(out / f"sample_00{i}.wav")).frames for i in range(2)]
    assert all(0 < n <= 512 for n in lengths)
    full = tmp_path / "full"
    proc = run_cli("sample", "--model", str(one_shot_run), "--n", "2", "--steps", "3", "--trim-db", "0",
                   "--out", str(full), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert [sf.info(str(full / f"sample_00{i}.wav")).frames for i in range(2)] == [512, 512]
    assert json.loads((full / "labels.json").read_text()) == {"sample_000.wav": "kick", "sample_001.wav": "snare"}


def test_a_class_the_run_does_not_have_is_refused_in_one_line(one_shot_run, tmp_path):
    proc = run_cli("sample", "--model", str(one_shot_run), "--n", "1", "--label", "clap", "--steps", "2",
                   "--out", str(tmp_path / "w"), "--no-progress")
    assert proc.returncode != 0
    message = proc.stderr.strip()
    assert "Traceback" not in message and "'clap'" in message and "kick" in message and "snare" in message, message


@pytest.mark.parametrize("name", ["drums-cpu", "drums-classifier"])
def test_the_drum_recipes_load_and_name_the_same_classes(name):
    recipe = load_recipe(REPO / "recipes" / name)
    assert recipe.data.dataset == "classes" and recipe.data.skip_classes == ["unknown"]
    assert recipe.model["num_classes"] == len(recipe.data.classes) == 8
    assert recipe.data.classes == load_recipe(REPO / "recipes" / "drums-cpu").data.classes


def test_guidance_interval_guides_only_at_the_levels_it_names(one_shot_run):
    import audiodiff

    pipe = audiodiff.load(one_shot_run, device="cpu")

    def draw(**guide):
        return pipe.sample(2, steps=4, sampler="ddim", seed=3, labels="snare", **guide)

    plain, everywhere = draw(guidance=1.0), draw(guidance=3.0)
    assert not torch.allclose(plain, everywhere)
    assert torch.equal(draw(guidance=3.0, guidance_interval=[1e-6, 2e-6]), plain)      # never inside: conditional
    assert torch.equal(draw(guidance=3.0, guidance_interval=[0.0, 1e6]), everywhere)   # always inside
    part = draw(guidance=3.0, guidance_interval=[0.0, 1.0])                             # the cleaner steps only
    assert not torch.allclose(part, plain) and not torch.allclose(part, everywhere)
    with pytest.raises(ValueError, match="lo < hi"):
        draw(guidance=3.0, guidance_interval=[2.0, 1.0])


def test_a_bad_guidance_interval_is_one_line_from_the_command_and_the_recipe(one_shot_run, tmp_path):
    from audiodiff.recipe import RecipeError

    for value in ("3,1", "0.5", "a,b"):
        proc = run_cli("sample", "--model", str(one_shot_run), "--n", "1", "--label", "kick", "--steps", "2",
                       "--guidance-interval", value, "--out", str(tmp_path / "w"), "--no-progress")
        message = proc.stderr.strip()
        assert proc.returncode != 0 and "Traceback" not in message, message
        assert "--guidance-interval" in message and "LO < HI" in message and repr(value) in message, message
        assert not (tmp_path / "w").exists()
    proc = run_cli("sample", "--model", str(one_shot_run), "--n", "1", "--label", "kick", "--steps", "2",
                   "--guidance-interval", "0.2,4", "--out", str(tmp_path / "ok"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    raw = tiny_recipe_dict(tmp_path / "pack")
    raw["sample"].update(guidance_interval=[2.0, 1.0])
    with pytest.raises(RecipeError, match="guidance_interval"):
        load_recipe(write_recipe(tmp_path / "recipe", raw))
