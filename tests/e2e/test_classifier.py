"""The classifier recipe type: its network, augmentation, exact resume, and the errors around it."""

from __future__ import annotations

import pytest
import torch

import audiodiff
from audiodiff import checkpoint as ckpt
from audiodiff.eval.scorer import augment, load_classifier
from audiodiff.nets import build_network
from audiodiff.recipe import load_recipe
from audiodiff.training import TrainingError
from helpers.audio import write_tone_wavs
from helpers.recipes import make_recipe, write_recipe
from helpers.runs import assert_close_dicts, state_tensors
from helpers.sound_classes import LENGTH, RATE, TINY_CLASSIFIER, classifier_recipe, write_sound_classes


def test_network_shapes_and_gain_invariance():
    net = build_network({**TINY_CLASSIFIER, "sample_rate": RATE}).eval()
    x = torch.randn(3, 1, LENGTH) * 0.1
    assert net(x).shape == (3, 10) and net.features(x).shape == (3, net.feature_dim)
    torch.testing.assert_close(net(x), net(x * 4), atol=1e-3, rtol=1e-3)   # the mean-removed log-mel


def test_augment_shifts_scales_and_adds_noise_reproducibly():
    x = torch.zeros(8, 1, 4000)
    x[:, :, 1800:2200] = 0.5
    a = augment(x, 8000, torch.Generator().manual_seed(0))
    b = augment(x, 8000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    onsets = [int((row.abs() > 0.2).nonzero()[0]) for row in a[:, 0]]
    assert len(set(onsets)) > 1 and all(abs(o - 1800) <= 0.1 * 8000 + 1 for o in onsets)   # ≤ ±0.1 s shifts
    peaks = torch.stack([a[i, 0, o + 100:o + 300].abs().median() for i, o in enumerate(onsets)])
    assert peaks.min() < 0.45 and peaks.max() > 0.55        # ±6 dB gain
    assert (a[:, 0, :900].abs().sum(1) > 0).any()          # white noise in the silence of some clips


def test_resumed_classifier_matches_uninterrupted(tmp_path):
    data = write_sound_classes(tmp_path / "data")
    recipe = load_recipe(classifier_recipe(data, tmp_path / "recipe", max_steps=6, checkpoint_every=3,
                                           eval_every=3))
    audiodiff.train(recipe, tmp_path / "a", device="cpu", show_progress=False)
    audiodiff.train(recipe, tmp_path / "b", device="cpu", max_steps=3, show_progress=False)
    audiodiff.train(recipe, tmp_path / "b", device="cpu", show_progress=False)
    assert_close_dicts(state_tensors(tmp_path / "a"), state_tensors(tmp_path / "b"), "training_state")
    a, b = ckpt.load_config(tmp_path / "a"), ckpt.load_config(tmp_path / "b")
    assert a["metrics"] == b["metrics"] and a["metrics"]["step"] == 6
    steps = [ln.split('"step": ')[1].split(",")[0] for ln in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == ["3", "6"]


def test_classifier_needs_labels_and_matching_classes(tmp_path, wav_folder):
    data = write_sound_classes(tmp_path / "data")
    raw = {"name": "c", "data": {"dataset": "folder", "root": str(wav_folder), "sample_rate": RATE,
                                 "clip_length": LENGTH},
           "model": dict(TINY_CLASSIFIER), "train": {"max_steps": 1, "device": "cpu", "tensorboard": False}}
    with pytest.raises(TrainingError, match="labelled dataset"):
        audiodiff.train(load_recipe(write_recipe(tmp_path / "r1", raw)), tmp_path / "r1run", show_progress=False)
    raw["data"].update(dataset="speechcommands", root=str(data))
    raw["model"]["num_classes"] = 12
    with pytest.raises(TrainingError, match="num_classes = 12 but the dataset has 10"):
        audiodiff.train(load_recipe(write_recipe(tmp_path / "r2", raw)), tmp_path / "r2run", show_progress=False)
    raw["model"].update(num_classes=10, sample_rate=16000)
    with pytest.raises(TrainingError, match="sample_rate = 16000 differs"):
        audiodiff.train(load_recipe(write_recipe(tmp_path / "r3", raw)), tmp_path / "r3run", show_progress=False)


def test_classifier_and_generator_runs_are_not_mixed_up(sound_classifier, tmp_path):
    _, run = sound_classifier
    with pytest.raises(ValueError, match="is a classifier run"):
        audiodiff.load(run)

    write_tone_wavs(tmp_path / "audio")
    gen = tmp_path / "gen"
    audiodiff.train(make_recipe(tmp_path / "audio"), gen, device="cpu", max_steps=1, show_progress=False)
    with pytest.raises(ValueError, match="not a classifier run"):
        load_classifier(gen)
