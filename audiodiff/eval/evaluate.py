"""`audiodiff eval`: score a folder of generated audio with a trained classifier (FID, IS, mIS, AM, NDB).

    samples/ ──load, resample to the classifier's rate, crop / zero-pad to its clip length──► waves [N, L]
        ──classifier.embed──► features [N, D], log-probs [N, K] ──metrics.classifier_metrics vs reference──►

The samples may come from any model or toolkit: every audio file under SAMPLES (recursive) is read;
unreadable or empty files are named in one warning and skipped, and none usable is an error.

Labels (optional; they give `accuracy`, the share of labelled clips the classifier assigns their label):
a file's label is its entry in SAMPLES/labels.json ({"relative/path.wav": "three" or 3, …}; `audiodiff
sample --label K` writes it), else the name of the folder holding it when that is a class name
(SAMPLES/three/x.wav, so a Speech Commands split scores as labelled data).

Reference: a Speech Commands tree (its training split), a folder of audio, or by default the data the
classifier was trained on (its recipe's [data], training split).  Its features, log-probabilities, NDB
k-means bins and band energies are cached in CLASSIFIER_RUN/eval-cache/<key>.npz, keyed by the classifier's
weights and the reference files (paths, sizes, mtimes), so a second evaluation reads them back.

Cheap sample statistics come with the metrics: mean, standard deviation, share of samples at full scale
(|x| ≥ 1 − 2⁻¹⁵: clipped; float files beyond ±1 are clipped when read), RMS level, and the mean energy in
octave bands relative to the reference's (dB; 0 = same spectral balance). And per-clip sanity flags
(audiodiff.eval.sanity: silent, clipped, DC offset, no onset) counted over the samples and over the reference,
with the flagged samples named: `sanity` in the JSON, n_silent, n_clipped, n_dc, n_no_onset in the metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint as ckpt
from ..audio import AudioReadError, crop_or_pad, load_audio
from .scorer import embed, load_classifier
from ..data import DatasetError, build_dataset, find_audio_files, list_sources, speechcommands_dir
from .metrics import classifier_metrics, ndb_centroids
from ..recipe import DataConfig
from .sanity import FLAGS, add_counts, flag_counts, sanity_summary, summary_rows
from .wavestats import band_edges, band_energy_db, power_sum, wave_stats

log = logging.getLogger("audiodiff")

LABELS_FILE = "labels.json"
CACHE_DIR = "eval-cache"
CACHE_VERSION = 2
REFERENCE_BATCH = 256


@dataclass
class EvalClip:
    """One scored clip, as the report page takes it (audiodiff.eval.report.ReportClip has the same fields)."""
    name: str
    audio: np.ndarray            # float32 [L] at sample_rate, cropped / padded to the classifier's length
    sample_rate: int
    label: str | None = None     # the given label (labels.json or folder), None when unlabelled
    predicted: str | None = None


@dataclass
class EvalResult:
    """metrics: flat name → number (fid, is, mis, am, ndb, ndb_bins, accuracy when labelled, n_samples,
    n_reference, mean, std, clipped, rms_db, band_db_0 …, n_silent, n_clipped, n_dc, n_no_onset); label_histogram:
    predicted class → count; sanity: audiodiff.eval.sanity.sanity_summary of the samples (clips named) and the
    reference."""
    metrics: dict[str, float]
    label_histogram: dict[str, int]
    clips: list[EvalClip] = field(repr=False)
    skipped: list[str]
    reference: str
    bands_hz: list[tuple[float, float]]
    sanity: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.metrics, "label_histogram": self.label_histogram, "skipped": self.skipped,
                "reference": self.reference, "bands_hz": [list(b) for b in self.bands_hz], "sanity": self.sanity}


@dataclass
class Reference:
    features: np.ndarray
    logp: np.ndarray
    centroids: np.ndarray
    band_db: np.ndarray
    description: str
    sanity: dict[str, int] | None = None     # sanity.flag_counts over the reference: {"n": M, flag: count}


# ----------------------------------------------------------------- reading samples
def _labels_file(folder: Path) -> dict[str, Any]:
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); expected {{\"file.wav\": \"label\", …}}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{\"file.wav\": \"label\", …}}")
    return data


def _label_name(value: Any, class_names: list[str], where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(class_names):
        return class_names[value]
    if isinstance(value, str) and value in class_names:
        return value
    raise ValueError(f"{where}: label {value!r} is not one of the classifier's classes "
                     f"({', '.join(class_names)} or 0..{len(class_names) - 1})")


def write_labels(folder: str | Path, labels: dict[str, str]) -> Path:
    """Add {relative file name: class name} entries to folder/labels.json (what `sample --label` writes)."""
    folder = Path(folder)
    merged = {**_labels_file(folder), **labels}
    path = folder / LABELS_FILE
    ckpt.atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n"))
    return path


def read_samples(folder: str | Path, sample_rate: int, clip_length: int | None,
                 class_names: list[str] | None = None) -> tuple[list[EvalClip], list[str]]:
    """Every audio file under folder → (clips at sample_rate, cropped / padded to clip_length unless None;
    skipped-file messages)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no samples folder {folder}: pass a folder of audio files (e.g. from audiodiff sample)")
    files = find_audio_files(folder)
    if not files:
        raise ValueError(f"no audio files (.wav, .flac, .ogg, …) under {folder}")
    given = _labels_file(folder)
    names = class_names or []
    clips, skipped = [], []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        try:
            wave, _ = load_audio(path, sample_rate)
        except AudioReadError as exc:
            skipped.append(str(exc))
            continue
        label = None
        if rel in given:
            label = _label_name(given[rel], names, f"{folder / LABELS_FILE}, {rel}")
        elif path.parent != folder and path.parent.name in names:
            label = path.parent.name
        if clip_length is not None:
            wave = crop_or_pad(wave, clip_length, random=False)
        audio = wave.numpy().astype(np.float32)
        clips.append(EvalClip(rel, audio, sample_rate, label))
    if not clips:
        raise ValueError(f"none of the {len(files)} audio file(s) under {folder} could be read (first: {skipped[0]})")
    if skipped:
        shown = "; ".join(skipped[:10]) + (f"; … and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        log.warning("skipped %d unreadable or empty file(s) of %d: %s", len(skipped), len(files), shown)
    return clips, skipped


# ----------------------------------------------------------------- reference statistics
def reference_data(reference: str | Path | None, config: dict[str, Any]) -> DataConfig:
    """--reference (a Speech Commands tree or a folder) or the classifier's own training data → [data]."""
    rate, length = int(config["sample_rate"]), int(config["clip_length"])
    if reference is None:
        known = {f.name for f in dataclasses.fields(DataConfig)}
        data = {k: v for k, v in config.get("recipe", {}).get("data", {}).items() if k in known}
        if not data:
            raise ValueError("the classifier's config.json names no training data: pass --reference DATA")
        return dataclasses.replace(DataConfig(**data), split="train", download=False)
    root = Path(reference)
    if not root.is_dir():
        raise FileNotFoundError(f"--reference {root}: no such folder (a Speech Commands tree or a folder of audio)")
    kind = "speechcommands" if speechcommands_dir(root) is not None else "folder"
    return DataConfig(dataset=kind, root=str(root), sample_rate=rate, clip_length=length, split="train",
                      cache=False)


def _cache_key(classifier: Path, data: DataConfig, files: list[Path]) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    weights = classifier / ckpt.WEIGHTS
    st = weights.stat()
    h.update(f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(json.dumps(dataclasses.asdict(data), sort_keys=True, default=str).encode())
    for f in files:
        try:
            fs = f.stat()
            h.update(f"{f.resolve()}|{fs.st_size}|{fs.st_mtime_ns}".encode())
        except OSError:
            h.update(f"{f}|missing".encode())
    return h.hexdigest()[:24]


def reference_stats(classifier: str | Path, net: torch.nn.Module, config: dict[str, Any],
                    reference: str | Path | None = None, use_cache: bool = True) -> Reference:
    """Features, log-probs, NDB bins and band energies of the reference, from the cache when it holds them."""
    classifier = Path(classifier)
    data = reference_data(reference, config)
    sources = list_sources(data, show_progress=False)
    description = f"{data.dataset} {sources.where}"
    key = _cache_key(classifier, data, [s.path for s in sources.sources])
    path = classifier / CACHE_DIR / f"{key}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            log.info("reference statistics from the cache %s", path)
            sanity = dict(zip(("n", *FLAGS), map(int, z["sanity"]))) if "sanity" in z.files else None
            return Reference(z["features"], z["logp"], z["centroids"], z["band_db"], description, sanity)
    dataset = build_dataset(data, show_progress=False)
    dataset.random_crop = False
    feats, logps, power, sanity = [], [], None, None
    for start in range(0, len(dataset), REFERENCE_BATCH):   # in batches: a corpus need not fit in memory
        waves = torch.stack([dataset[i]["audio"].reshape(-1)
                             for i in range(start, min(start + REFERENCE_BATCH, len(dataset)))])
        f, lp = embed(net, waves)
        feats.append(f)
        logps.append(lp)
        power = power_sum(waves) if power is None else power + power_sum(waves)
        sanity = add_counts(sanity, flag_counts(waves, int(config["sample_rate"])))
    features, logp = np.concatenate(feats), np.concatenate(logps)
    ref = Reference(features, logp, ndb_centroids(features),
                    band_energy_db(None, int(config["sample_rate"]), power, len(dataset)), description, sanity)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_suffix(".tmp"), "wb") as f:
                np.savez(f, features=ref.features, logp=ref.logp, centroids=ref.centroids, band_db=ref.band_db,
                         sanity=np.array([ref.sanity[k] for k in ("n", *FLAGS)]))
            path.with_suffix(".tmp").replace(path)
        except OSError as exc:   # a read-only classifier run: evaluate without caching
            log.info("reference statistics not cached (%s)", exc)
    return ref


# ----------------------------------------------------------------- scoring
def score_waves(waves: torch.Tensor, net: torch.nn.Module, config: dict[str, Any], ref: Reference,
                labels: list[str | None] | None = None) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """waves [N, L] at the classifier's rate and length → (metrics, predicted-label histogram, predictions)."""
    names = list(config.get("class_names") or [str(i) for i in range(ref.logp.shape[1])])
    features, logp = embed(net, waves)
    metrics: dict[str, float] = classifier_metrics(ref.features, ref.logp, features, logp, ref.centroids)
    predicted = [names[i] for i in logp.argmax(1)]
    if labels is not None and any(lab is not None for lab in labels):
        pairs = [(p, lab) for p, lab in zip(predicted, labels) if lab is not None]
        metrics["accuracy"] = sum(p == lab for p, lab in pairs) / len(pairs)
        metrics["n_labelled"] = len(pairs)
    metrics.update(n_samples=len(waves), n_reference=len(ref.features))
    metrics.update(wave_stats(waves))
    band = band_energy_db(waves, int(config["sample_rate"])) - ref.band_db
    metrics.update({f"band_db_{i}": float(v) for i, v in enumerate(band)})
    histogram = {n: predicted.count(n) for n in names}
    return metrics, histogram, predicted


def evaluate(samples: str | Path, classifier: str | Path, reference: str | Path | None = None,
             device: str | torch.device = "cpu", use_cache: bool = True) -> EvalResult:
    """Score every audio file under `samples` with the classifier run `classifier` (see the module docstring).

    The result's `clips` (name, audio, sample_rate, label) and flat `metrics` are what
    audiodiff.eval.report.write_report takes."""
    net, config = load_classifier(classifier, device)
    rate, length = int(config["sample_rate"]), int(config["clip_length"])
    clips, skipped = read_samples(samples, rate, length, config.get("class_names"))
    if len(clips) < 2:
        raise ValueError(f"{samples}: only {len(clips)} usable clip; the metrics need at least 2")
    try:
        ref = reference_stats(classifier, net, config, reference, use_cache=use_cache)
    except DatasetError as exc:
        which = "--reference" if reference is not None else \
            "reference data (the classifier's training split; --reference DATA picks another)"
        raise DatasetError(f"{which}: {exc}") from None
    waves = torch.from_numpy(np.stack([c.audio for c in clips]))
    metrics, histogram, predicted = score_waves(waves, net, config, ref, [c.label for c in clips])
    for clip, p in zip(clips, predicted):
        clip.predicted = p
    sanity = sanity_summary(waves, rate, names=[c.name for c in clips], reference=ref.sanity)
    metrics.update({f"n_{k}": sanity[k]["count"] for k in FLAGS})
    return EvalResult(metrics, histogram, clips, skipped, ref.description, band_edges(rate), sanity)


# ----------------------------------------------------------------- presentation
METRIC_LABELS = {"fid": "FID ↓", "is": "IS ↑", "mis": "mIS ↑", "am": "AM ↓", "ndb": "NDB (share of bins) ↓",
                 "accuracy": "accuracy (labelled clips) ↑", "n_samples": "samples", "n_reference": "reference clips",
                 "mean": "mean", "std": "std", "clipped": "share at full scale", "rms_db": "RMS (dBFS)"}


def result_table(result: EvalResult):
    """A rich Table of the metrics, statistics, band energies and label histogram."""
    from rich.table import Table

    table = Table(title=f"audiodiff eval (reference: {result.reference})", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    m = result.metrics
    for key, label in METRIC_LABELS.items():
        if key in m:
            v = m[key]
            table.add_row(label, f"{v:d}" if isinstance(v, int) else f"{v:.4g}")
    for i, (lo, hi) in enumerate(result.bands_hz):
        if f"band_db_{i}" in m:
            table.add_row(f"band {lo:.0f}–{hi:.0f} Hz vs reference (dB)", f"{m[f'band_db_{i}']:+.2f}")
    if result.sanity:
        for label, text in summary_rows(result.sanity):
            table.add_row(label, text)
    hist = ", ".join(f"{k} {v}" for k, v in result.label_histogram.items())
    table.add_row("predicted labels", hist)
    if result.skipped:
        table.add_row("skipped files", str(len(result.skipped)))
    return table


def metrics_table(title: str, scores: dict[str, Any]):
    """A rich Table of the numbers in `scores` (FAD, SI-SDR …)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, v in scores.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        table.add_row(key, f"{v:d}" if isinstance(v, int) else f"{v:.4g}")
    return table
