"""audiodiff.eval.metrics against closed forms, and end to end on ten synthetic sound classes scored by a tiny
classifier trained in the test: real held-out clips score near-perfectly, noise and collapse do not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiodiff import checkpoint as ckpt
from audiodiff.eval import metrics as M
from audiodiff.eval.scorer import load_classifier
from audiodiff.eval.evaluate import evaluate
from helpers.sound_classes import SPLITS, sound, white_noise, write_folder


# ----------------------------------------------------------------- closed forms
def test_frechet_distance_of_gaussians_matches_the_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3))
    b = rng.normal(0, 2, (4000, 3)) + np.array([1.0, 0, 0])
    # N(0, I) vs N(m, 4I): |m|² + tr(I + 4I − 2·2I) = 1 + 3
    assert M.frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_refuses_mismatched_or_tiny_inputs():
    with pytest.raises(ValueError, match="same D"):
        M.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        M.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def _one_hot_logp(classes: np.ndarray, k: int, eps: float = 1e-9) -> np.ndarray:
    p = np.full((len(classes), k), eps)
    p[np.arange(len(classes)), classes] = 1.0
    return np.log(p / p.sum(1, keepdims=True))


def test_inception_scores_of_confident_balanced_and_collapsed_predictions():
    k = 10
    balanced = _one_hot_logp(np.arange(1000) % k, k)
    collapsed = _one_hot_logp(np.zeros(1000, dtype=int), k)
    assert M.inception_score(balanced) == pytest.approx(k, rel=0.05)
    assert M.inception_score(collapsed) == pytest.approx(1.0, abs=1e-3)
    assert M.modified_inception_score(collapsed) == pytest.approx(1.0, abs=1e-3)
    assert M.modified_inception_score(balanced) > 1e3      # distinct confident pairs: a huge KL
    uniform = np.log(np.full((100, k), 1 / k))
    assert M.inception_score(uniform) == pytest.approx(1.0)
    # AM: the same label balance and confident → 0; unconfident → the entropy log K
    assert M.am_score(balanced, balanced) == pytest.approx(0.0, abs=1e-3)
    assert M.am_score(balanced, uniform) == pytest.approx(np.log(k), rel=1e-6)
    assert M.am_score(balanced, collapsed) > 2.0


def test_inception_score_split_follows_the_reference_convention():
    """Shuffle with RandomState(0), KL of the first half against the second half's mean."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (37, 5))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    perm = np.random.RandomState(0).permutation(37)
    p = np.exp(logp[perm])
    first, second = p[:18], p[18:]
    q = second.mean(0)
    expected = np.exp(np.mean(np.sum(first * np.log(first / q), axis=1)))
    assert M.inception_score(logp) == pytest.approx(expected, rel=1e-12)


def test_ndb_counts_bins_whose_share_differs():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, (2000, 2))
    centroids = M.ndb_centroids(ref, bins=10)
    same, _ = M.ndb_score(ref, rng.normal(0, 1, (2000, 2)), centroids)
    shifted, bins = M.ndb_score(ref, rng.normal(3, 1, (2000, 2)), centroids)
    assert same <= 0.3 and shifted >= 0.7 and bins == round(shifted * 10)
    assert M.ndb_centroids(ref[:5], bins=50).shape == (5, 2)   # K clamped to the reference size


# ----------------------------------------------------------------- end to end, ten synthetic classes
@pytest.mark.slow
def test_classifier_run_reports_accuracy(sound_classifier):
    _, run = sound_classifier
    config = ckpt.load_config(run)
    assert config["metrics"]["test_accuracy"] >= 0.9 and config["metrics"]["n_test"] == 10 * SPLITS["test"]
    assert config["metrics"]["valid_accuracy"] >= 0.8
    history = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [60, 120] and all(0 <= h["valid_accuracy"] <= 1 for h in history)
    net, cfg = load_classifier(run)
    assert cfg["class_names"][3] == "three" and net.feature_dim == 16


def _score(folder: Path, run: Path) -> dict:
    return evaluate(folder, run, use_cache=False).metrics


@pytest.mark.slow
def test_metric_orderings_real_noise_collapse_and_mix(sound_classifier, tmp_path):
    data, run = sound_classifier
    rng = np.random.default_rng(123)
    real = [sound(k, rng) for k in range(10) for _ in range(16)]
    noise = [white_noise(rng) for _ in range(160)]
    collapse = [sound(4, rng) for _ in range(160)]
    mix = real[::2] + noise[:80]
    m = {name: _score(write_folder(tmp_path / name, clips), run)
         for name, clips in [("real", real), ("noise", noise), ("collapse", collapse), ("mix", mix)]}
    for name in m:
        assert m[name]["n_samples"] == 160 and m[name]["n_reference"] == 10 * SPLITS["train"], name
    # held-out real clips: FID near 0 (far below noise), IS near the number of classes
    assert m["real"]["fid"] < 0.1 * m["noise"]["fid"]
    assert m["real"]["is"] > 7.0
    # white noise: IS about 1, FID large
    assert m["noise"]["is"] < 2.0
    # one class only: IS about 1 and a low mIS, though each clip is a perfect example of its class
    assert m["collapse"]["is"] < 1.5 and m["collapse"]["mis"] < 0.2 * m["real"]["mis"]
    assert m["collapse"]["am"] > m["real"]["am"] + 1.0
    # half real, half noise: in between on every metric
    assert m["real"]["fid"] + 0.1 * m["noise"]["fid"] < m["mix"]["fid"] < 0.9 * m["noise"]["fid"]
    assert m["noise"]["is"] + 1 < m["mix"]["is"] < m["real"]["is"] - 1
    # NDB counts bins, not how far off they are: the mix's noise fills few bins, so it only has to stay
    # at or below pure noise, which (like the collapse) misses most of the reference's bins
    assert m["real"]["ndb"] + 0.15 < min(m["noise"]["ndb"], m["collapse"]["ndb"])
    assert m["real"]["ndb"] <= m["mix"]["ndb"] <= m["noise"]["ndb"]


@pytest.mark.slow
def test_accuracy_from_folders_and_labels_file(sound_classifier, tmp_path):
    data, run = sound_classifier
    rng = np.random.default_rng(7)
    for k, word in enumerate(["zero", "five"]):
        write_folder(tmp_path / "s" / word, [sound(5 * k, rng) for _ in range(6)])
    result = evaluate(tmp_path / "s", run, use_cache=False)
    assert result.metrics["accuracy"] >= 0.9 and result.metrics["n_labelled"] == 12
    assert {c.label for c in result.clips} == {"zero", "five"}
    assert result.label_histogram["zero"] + result.label_histogram["five"] >= 11
    # a labels.json overrides: call every clip "nine" and the accuracy collapses
    labels = {c.name: "nine" for c in result.clips}
    (tmp_path / "s" / "labels.json").write_text(json.dumps(labels))
    assert evaluate(tmp_path / "s", run, use_cache=False).metrics["accuracy"] <= 0.1
    (tmp_path / "s" / "labels.json").write_text(json.dumps({"zero/clip_000.wav": "eleven"}))
    with pytest.raises(ValueError, match="eleven.*not one of the classifier's classes"):
        evaluate(tmp_path / "s", run, use_cache=False)
