"""Sample-quality metrics on a classifier's outputs: FID, IS, mIS, AM, NDB (and the Fréchet distance FAD uses).

Inputs are what `audiodiff.eval.scorer.embed` returns: penultimate features [N, D] and log-probabilities
[N, K] (float64).  The definitions follow the SC09 evaluation of SaShiMi (state-spaces/s4,
models/sashimi/sc09_classifier/test_speech_commands.py), which the DiffWave and SaShiMi papers' tables use:

- FID  ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) on the features (lower is better; 0 = same Gaussian).
- IS   the samples shuffled with seed 0 and split in two halves; exp of the mean KL(p(y|x) ‖ p̄) of the first
       half's predictions against the mean prediction p̄ of the second half (1 … K; higher is better).
- mIS  exp of the mean KL(p(y|x_i) ‖ p(y|x_j)) over 10,000 random pairs (i, j), drawn with replacement,
       seed 0 (rewards confident, diverse samples; low for a collapse onto one class).
- AM   KL(p̄_ref ‖ p̄_gen) + mean entropy of p(y|x_gen) (lower is better).
- NDB  k-means with K = 50 fitted on the reference features; the share of bins whose proportion of samples
       differs from the reference's by a two-proportion z-test at p < 0.05 (0 … 1; lower is better).

Deviations from the reference code, each for robustness, none changing a value it can compute:
- Probabilities are handled as float64 log-probabilities, so a float32 softmax that underflows to 0 cannot
  make a KL infinite.
- FID: when (Σ_r Σ_g)^½ is not finite, 1e-6·I (the reference: 1e-4·I) is added to both covariances, and the
  imaginary part rounding leaves is dropped; fewer than 2 clips on either side raise a ValueError.
- NDB: K is lowered to the number of reference clips when there are fewer; k-means uses n_init = 10 (the
  scikit-learn default when the reference was written); a bin empty on both sides is not "different" (the
  reference's z is 0/0 there).  `ndb` is the share of bins (the reference's ndb / K); `ndb_bins` the count.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
from scipy import linalg
from scipy.stats import norm, t

NDB_BINS = 50
NDB_ALPHA = 0.05
MIS_PAIRS = 10_000
SEED = 0


def _kl(logp: np.ndarray, logq: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) along the last axis from log-probabilities (broadcasting), in nats."""
    return np.sum(np.exp(logp) * (logp - logq), axis=-1)


def _log_mean(logp: np.ndarray) -> np.ndarray:
    """log of the mean distribution of rows of log-probabilities [N, K] → [K]."""
    m = logp.max(axis=0)
    return m + np.log(np.mean(np.exp(logp - m), axis=0))


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to features [N_a, D] and [N_b, D] (FID / FAD)."""
    a, b = np.asarray(feat_a, np.float64), np.asarray(feat_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be [N, D] with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 clips on each side, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        eye = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eye) @ (cov_b + eye))
    covmean = np.real(covmean)
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    return float(max(value, 0.0))


def inception_score(logp: np.ndarray, seed: int = SEED) -> float:
    """IS of log-probabilities [N, K], with the reference's two-half split (see the module docstring)."""
    logp = np.asarray(logp, np.float64)
    if len(logp) < 2:
        raise ValueError(f"the inception score needs at least 2 clips, got {len(logp)}")
    shuffled = logp[np.random.RandomState(seed).permutation(len(logp))]
    first, second = shuffled[:len(logp) // 2], shuffled[len(logp) // 2:]
    return float(np.exp(_kl(first, _log_mean(second)[None]).mean()))


def modified_inception_score(logp: np.ndarray, pairs: int = MIS_PAIRS, seed: int = SEED) -> float:
    """mIS: exp(mean KL(p_i ‖ p_j)) over `pairs` random pairs drawn with replacement."""
    logp = np.asarray(logp, np.float64)
    idx = np.random.RandomState(seed).randint(0, len(logp), size=(pairs, 2))
    return float(np.exp(_kl(logp[idx[:, 0]], logp[idx[:, 1]]).mean()))


def am_score(logp_ref: np.ndarray, logp_gen: np.ndarray) -> float:
    """AM = KL(p̄_ref ‖ p̄_gen) + mean entropy of the samples' predictions."""
    logp_gen = np.asarray(logp_gen, np.float64)
    entropy = -np.sum(np.exp(logp_gen) * logp_gen, axis=1).mean()
    return float(_kl(_log_mean(np.asarray(logp_ref, np.float64)), _log_mean(logp_gen)) + entropy)


def ndb_centroids(feat_ref: np.ndarray, bins: int = NDB_BINS, seed: int = SEED) -> np.ndarray:
    """k-means centroids [K, D] of the reference features (K = min(bins, N_ref))."""
    from sklearn.cluster import KMeans

    feat_ref = np.asarray(feat_ref, np.float64)
    k = min(bins, len(feat_ref))
    return KMeans(n_clusters=k, random_state=seed, n_init=10).fit(feat_ref).cluster_centers_


def _assign(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = (features ** 2).sum(1)[:, None] - 2 * features @ centroids.T + (centroids ** 2).sum(1)[None]
    return d.argmin(1)


def ndb_score(feat_ref: np.ndarray, feat_gen: np.ndarray, centroids: np.ndarray,
              alpha: float = NDB_ALPHA) -> tuple[float, int]:
    """(share of bins, number of bins) where the samples' proportion differs from the reference's."""
    k = len(centroids)
    ref = np.bincount(_assign(np.asarray(feat_ref, np.float64), centroids), minlength=k)
    gen = np.bincount(_assign(np.asarray(feat_gen, np.float64), centroids), minlength=k)
    n1, n2 = ref.sum(), gen.sum()
    p1, p2 = ref / n1, gen / n2
    pooled = (ref + gen) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p1 - p2) / se, 0.0)
    different = int(np.count_nonzero(2 * norm.cdf(-np.abs(z)) < alpha))
    return different / k, different


def classifier_metrics(ref_features: np.ndarray, ref_logp: np.ndarray, features: np.ndarray, logp: np.ndarray,
                       centroids: np.ndarray | None = None) -> dict[str, Any]:
    """Every metric of the module docstring for samples vs reference: {fid, is, mis, am, ndb, ndb_bins}."""
    if centroids is None:
        centroids = ndb_centroids(ref_features)
    ndb, ndb_bins = ndb_score(ref_features, features, centroids)
    return {"fid": frechet_distance(ref_features, features), "is": inception_score(logp),
            "mis": modified_inception_score(logp), "am": am_score(ref_logp, logp), "ndb": ndb, "ndb_bins": ndb_bins}


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019) of estimate [L] against reference [L], both made
    zero-mean first: 10·log10(‖α s‖² / ‖α s − ŝ‖²) with α = ⟨ŝ, s⟩ / ‖s‖²."""
    s = np.asarray(reference, np.float64)
    e = np.asarray(estimate, np.float64)
    if s.shape != e.shape or s.ndim != 1:
        raise ValueError(f"SI-SDR needs two signals of the same length, got {s.shape} and {e.shape}")
    s, e = s - s.mean(), e - e.mean()
    target = (e @ s) / (s @ s + eps) * s
    return float(10 * np.log10((target @ target + eps) / ((target - e) @ (target - e) + eps)))


def mean_ci(values: Iterable[float]) -> dict[str, Any]:
    """{"mean", "ci95", "n", "nonfinite"}: the mean of the finite values and the 95 % Student-t half-width
    t₀.₉₇₅(n − 1)·sd/√n (sd with n − 1; None for one value; all None for none); n counts the finite values,
    nonfinite the ±inf / NaN ones left out (a perfect fill's +inf SNR, a silent gap's NaN)."""
    v = np.asarray(list(values), dtype=np.float64)
    finite = v[np.isfinite(v)]
    out: dict[str, Any] = {"mean": None, "ci95": None, "n": int(finite.size), "nonfinite": int(v.size - finite.size)}
    if finite.size:
        out["mean"] = float(finite.mean())
    if finite.size > 1:
        out["ci95"] = float(t.ppf(0.975, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size))
    return out
