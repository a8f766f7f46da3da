"""benchmarks/drums.py on generated audio only: three synthetic instrument classes laid out as a sample pack
(<class>/<kit>__<n>.wav with train / test lists by kit), a tiny classifier and a tiny class-conditional mel run
trained here for a few steps; checks the result's structure and that its figures are the ones it says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiodiff
from audiodiff.recipe import load_recipe
from helpers.recipes import write_recipe
from helpers.sound_classes import TINY_CLASSIFIER, sound

RATE, LENGTH = 8000, 2048
CLASSES = ["kick", "snare", "hat"]


def pack(root: Path) -> dict:
    """root/<class>/kit<k>__<i>.wav: kits 0-3 train, kits 4-5 test; returns the recipe's [data] table."""
    rng = np.random.default_rng(0)
    lists: dict[str, list[str]] = {"train": [], "test": []}
    for c, cls in enumerate(CLASSES):
        for kit in range(6):
            for i in range(2):
                rel = f"{cls}/kit{kit}__{i}.wav"
                (root / cls).mkdir(parents=True, exist_ok=True)
                sf.write(str(root / rel), sound(3 * c, rng, RATE, LENGTH), RATE, subtype="PCM_16")
                lists["train" if kit < 4 else "test"].append(rel)
    for split, rels in lists.items():
        (root / f"{split}_list.txt").write_text("".join(f"{r}\n" for r in rels))
    return {"dataset": "classes", "root": str(root), "file_list": "train_list.txt", "test_list": "test_list.txt",
            "classes": CLASSES, "sample_rate": RATE, "clip_length": LENGTH, "cache": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(mel recipe folder, classifier run, mel run)."""
    root = tmp_path_factory.mktemp("drums")
    data = pack(root / "pack")
    classifier = write_recipe(root / "cls-recipe", {
        "name": "tiny-drums-classifier", "data": data, "model": {**TINY_CLASSIFIER, "num_classes": 3},
        "train": {"batch_size": 16, "learning_rate": 1e-2, "max_steps": 40, "warmup_steps": 5, "log_every": 20,
                  "checkpoint_every": 40, "ema_decay": 0.9, "seed": 0, "device": "cpu", "eval_every": 0,
                  "preview_every": 0, "tensorboard": False}})
    audiodiff.train(load_recipe(classifier), root / "classifier", device="cpu", show_progress=False)
    mel = write_recipe(root / "mel-recipe", {
        "name": "tiny-drums", "data": {**data, "domain": "mel"},
        "features": {"n_fft": 128, "hop_length": 32, "n_mels": 16, "griffin_lim_iters": 4},
        "model": {"type": "unet1d", "base_channels": 8, "channel_mults": [1, 2], "down_factors": [2],
                  "blocks_per_level": 1, "attention_heads": 2, "num_classes": 3},
        "diffusion": {"schedule": "linear", "num_steps": 10, "beta_start": 1e-3, "beta_end": 0.2},
        "train": {"batch_size": 4, "max_steps": 2, "checkpoint_every": 2, "log_every": 1, "device": "cpu",
                  "cond_drop": 0.1, "preview_every": 0, "tensorboard": False},
        "sample": {"sampler": "ddim", "steps": 2, "label": "each", "trim_db": -40.0}})
    audiodiff.train(load_recipe(mel), root / "mel", device="cpu", show_progress=False)
    return mel, root / "classifier", root / "mel"


def test_the_drum_benchmark_scores_real_kits_the_decoder_floor_and_the_samples(runs, tmp_path):
    from benchmarks import drums

    recipe, classifier, model = runs
    out = tmp_path / "drums.json"
    result = drums.main(["--classifier", str(classifier), "--model", str(model),   # the kits: the classifier's [data]
                         "--per-class", "3", "--configs", "ddim:2,ddpm:3,run:2:0.1-5", "--splits", "3",
                         "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "drums" and saved["classes"] == CLASSES
    assert saved["n_test"] == 12 and saved["n_train"] == 24
    assert set(saved["real_rate"]) == set(CLASSES) and all(0 <= v <= 1 for v in saved["real_rate"].values())
    assert saved["fid_halves"] >= 0 and saved["fid_train_kits"] >= 0
    assert set(saved["griffin_lim_floor"]["rate"]) == set(CLASSES)
    assert set(saved["models"]) == {"ddim:2", "ddpm:3", "run:2:0.1-5"}   # run: the run's own sampler and steps
    for entry in saved["models"].values():
        assert entry["per_class"] == 3 and sum(entry["predicted"].values()) == 9
        for name, ratio in entry["rate_vs_real"].items():
            real = saved["real_rate"][name]
            assert ratio is None if real == 0 else ratio == pytest.approx(entry["rate"][name] / real)
        assert entry["goal_fid"] == (entry["fid_vs_half"] <= 2 * saved["fid_halves"])
        assert entry["fid_vs_half_any_mix"] >= 0
    assert result["models"].keys() == saved["models"].keys()


def test_a_recipe_without_a_test_list_is_refused_in_one_line(runs, tmp_path):
    from benchmarks import drums

    recipe, classifier, _ = runs
    text = (recipe / "recipe.toml").read_text().replace('test_list = "test_list.txt"\n', "")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "recipe.toml").write_text(text)
    with pytest.raises(SystemExit, match="no test split"):
        drums.main(["--classifier", str(classifier), "--data", str(bare), "--json", str(tmp_path / "x.json")])


def test_class_matched_draws_the_real_half_s_count_of_every_class():
    import numpy as np
    from benchmarks.drums import class_matched

    labels = np.repeat([0, 1, 2], [5, 5, 2])                          # generated: 5, 5 and 2 clips
    wanted = np.array([0, 0, 0, 2, 2, 2, 2])                          # a real half: 3 of class 0, 4 of class 2
    rng = np.random.default_rng(0)
    picks = class_matched(labels, wanted, rng)
    assert sorted(labels[picks].tolist()) == [0, 0, 0, 2, 2, 2, 2]
    assert len(set(picks[:3].tolist())) == 3                          # enough of class 0: no repeats
    assert set(picks[3:].tolist()) <= {10, 11} and len(picks) == 7    # class 2 has 2 clips: drawn with repeats
    with pytest.raises(ValueError, match="no clips of class 1"):
        class_matched(np.zeros(4, dtype=int), np.array([1]), rng)
