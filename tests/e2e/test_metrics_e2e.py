"""The end-to-end tests of tests/eval/test_metrics.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/eval/test_metrics.py's docstring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiodiff import checkpoint as ckpt
from audiodiff.eval.scorer import load_classifier
from audiodiff.eval.evaluate import evaluate
from helpers.sound_classes import SPLITS, sound, white_noise, write_folder


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
