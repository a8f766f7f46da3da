"""Step placement end to end: a run trained with [sample] spacing = "karras" samples at the Karras levels, takes
another spacing per call (not for 'fast'), and `audiodiff sample --spacing / --clip-x0` works or fails as one line;
bad [sample] levels and spacing are refused by the recipe.  (Every spacing's levels are checked in
tests/sampling/test_spacing.py.)"""

from __future__ import annotations

import pytest

import audiodiff
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.sampling import make_plan
from audiodiff.training import Trainer
from helpers.audio import write_tone_wavs
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import tiny_recipe_dict


def test_recipe_and_pipeline_take_spacing_and_levels(tmp_path):
    write_tone_wavs(tmp_path / "audio")
    raw = tiny_recipe_dict(tmp_path / "audio")
    raw["sample"] = {"sampler": "ddim", "steps": 3, "spacing": "karras"}
    Trainer(recipe_from_dict(raw), tmp_path / "run", show_progress=False).fit()
    pipe = audiodiff.load(tmp_path / "run", device="cpu", precision="fp32")   # the hooked forward is the one called
    assert pipe.sample_defaults["spacing"] == "karras"
    calls = []
    real = pipe.model.forward
    pipe.model.forward = lambda x, t, **c: (calls.append(t[0].item()), real(x, t, **c))[1]
    pipe.sample(1, seed=0)
    t_top = pipe.diffusion.num_steps - 1
    karras = make_plan(pipe.diffusion, "ddim", 3, None, spacing="karras").t_model.tolist()
    assert calls[0] == t_top and calls == pytest.approx(karras, abs=1e-4)
    calls.clear()
    pipe.sample(1, seed=0, spacing="trailing")
    assert calls == pytest.approx(make_plan(pipe.diffusion, "ddim", 3, None, spacing="trailing").t_model.tolist())

    calls.clear()
    pipe.sample(1, seed=0, sampler="fast")                    # the run's spacing does not apply to 'fast'
    assert len(calls) == 6

    ok = run_cli("sample", "--model", str(tmp_path / "run"), "--n", "1", "--spacing", "leading", "--clip-x0",
                 "dynamic", "--out", str(tmp_path / "wavs"), "--no-progress")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "wavs" / "sample_000.wav").exists()
    assert_one_line_error(run_cli("sample", "--model", str(tmp_path / "run"), "--spacing", "nope"), "--spacing")
    assert_one_line_error(run_cli("sample", "--model", str(tmp_path / "run"), "--clip-x0", "soft"), "--clip-x0")
    assert_one_line_error(run_cli("sample", "--model", str(tmp_path / "run"), "--sampler", "fast", "--spacing",
                                  "karras", "--out", str(tmp_path / "w2"), "--no-progress"), "fast", "spacing")

    bad = dict(raw, sample={"levels": [3, 5]})
    with pytest.raises(RecipeError, match=r"\[sample\] levels"):
        recipe_from_dict(bad)
    with pytest.raises(RecipeError, match="spacing"):
        recipe_from_dict(dict(raw, sample={"spacing": "nope"}))
