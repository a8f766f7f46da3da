"""`audiodiff eval` through the real entry point: table, JSON keys, skipped files named, one-line errors,
reference statistics cached and keyed by data and classifier, and `sample --label` writing labels.json."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from audiodiff.eval.evaluate import CACHE_DIR, evaluate
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import TINY_DIFFWAVE, tiny_recipe_dict, write_recipe
from helpers.sound_classes import RATE, sound, white_noise, write_folder, write_sound_classes


KEYS = ("fid", "is", "mis", "am", "ndb", "n_samples", "n_reference", "label_histogram", "mean", "std", "clipped")


def test_eval_prints_a_table_writes_json_and_names_skipped_files(sound_classifier, tmp_path):
    _, run = sound_classifier
    rng = np.random.default_rng(0)
    samples = write_folder(tmp_path / "s", [sound(k % 10, rng) for k in range(20)])
    # a file at another rate (resampled), an empty file, and text posing as audio
    sf.write(str(samples / "other_rate.wav"), sound(2, rng, rate=16000, length=8000), 16000)
    (samples / "empty.wav").write_bytes(b"")
    (samples / "notes.flac").write_text("not audio")
    proc = run_cli("eval", str(samples), "--classifier", str(run), "--json", str(tmp_path / "out.json"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "FID" in proc.stdout and "IS" in proc.stdout and "predicted labels" in proc.stdout
    assert "skipped 2 unreadable or empty file(s) of 23" in proc.stderr
    assert "empty.wav" in proc.stderr and "notes.flac" in proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    for key in KEYS:
        assert key in out, key
    assert out["n_samples"] == 21 and len(out["skipped"]) == 2
    assert sum(out["label_histogram"].values()) == 21 and set(out["label_histogram"]) >= {"zero", "nine"}
    assert "accuracy" not in out                            # unlabelled samples
    assert out["is"] > 5 and out["fid"] < 5
    assert len(list((run / CACHE_DIR).glob("*.npz"))) >= 1  # reference statistics cached


def test_eval_errors_are_one_line(sound_classifier, tmp_path):
    _, run = sound_classifier
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.wav").write_bytes(b"RIFF")
    (bad / "b.wav").write_bytes(b"")
    assert_one_line_error(run_cli("eval", str(bad), "--classifier", str(run)), "none of the 2", str(bad))
    assert_one_line_error(run_cli("eval", str(tmp_path / "nope"), "--classifier", str(run)), "nope")
    write_folder(tmp_path / "ok", [white_noise(np.random.default_rng(0)) for _ in range(3)])
    assert_one_line_error(run_cli("eval", str(tmp_path / "ok"), "--classifier", str(tmp_path / "ok")),
                          "config.json")
    assert_one_line_error(run_cli("eval", str(tmp_path / "ok"), "--classifier", str(run), "--reference",
                                  str(tmp_path / "missing")), "--reference", "missing")


def test_reference_cache_is_keyed_by_data_and_classifier(sound_classifier, tmp_path, audiodiff_log):
    data, run = sound_classifier
    rng = np.random.default_rng(1)
    samples = write_folder(tmp_path / "s", [sound(k, rng) for k in range(10)])
    ref = write_folder(tmp_path / "ref", [sound(k % 10, rng) for k in range(30)])
    first = evaluate(samples, run, reference=ref)
    audiodiff_log.clear()
    again = evaluate(samples, run, reference=ref)
    assert "reference statistics from the cache" in audiodiff_log.text
    assert again.metrics["fid"] == first.metrics["fid"] and again.metrics["n_reference"] == 30
    # another reference file → other statistics, computed afresh
    sf.write(str(ref / "clip_030.wav"), sound(3, rng), RATE, subtype="PCM_16")
    audiodiff_log.clear()
    changed = evaluate(samples, run, reference=ref)
    assert "from the cache" not in audiodiff_log.text and changed.metrics["n_reference"] == 31
    # the classifier's own training split (default) is another key again
    default = evaluate(samples, run)
    assert default.metrics["n_reference"] == 240 and "train split" in default.reference


def test_sample_label_writes_labels_for_eval(tmp_path):
    data = write_sound_classes(tmp_path / "data")
    raw = tiny_recipe_dict(data, model={**TINY_DIFFWAVE, "num_classes": 10})
    raw["data"].update(dataset="speechcommands", sample_rate=RATE, clip_length=400, cache=False)
    recipe = write_recipe(tmp_path / "recipe", raw)
    run = tmp_path / "run"
    assert run_cli("train", str(recipe), "--out", str(run), "--max-steps", "1", "--no-progress",
                   "--device", "cpu", timeout=300).returncode == 0
    proc = run_cli("sample", "--model", str(run), "--n", "2", "--steps", "2", "--label", "3", "--out",
                   str(tmp_path / "wavs"), "--no-progress", "--device", "cpu", timeout=300)
    assert proc.returncode == 0, proc.stderr
    labels = json.loads((tmp_path / "wavs" / "labels.json").read_text())
    assert labels == {"sample_000.wav": "three", "sample_001.wav": "three"}


def test_eval_help_names_every_mode():
    from typer.testing import CliRunner

    from audiodiff.cli import app

    result = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--classifier", "--reference", "--fad", "audiodiff[fad]", "mfcc", "--clean", "--noisy", "--json"):
        assert text in result.stdout, text


def test_eval_report_page_shows_every_scored_clip_with_the_metrics(sound_classifier, tmp_path):
    _, run = sound_classifier
    rng = np.random.default_rng(3)
    samples = write_folder(tmp_path / "s", [sound(k % 10, rng) for k in range(12)])
    (samples / "empty.wav").write_bytes(b"")
    page = tmp_path / "page" / "report.html"
    proc = run_cli("eval", str(samples), "--classifier", str(run), "--report", str(page), timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    assert html.count("<audio") == 12                          # the skipped empty file is not on the page
    assert "heard as " in html and "Evaluation" in html and "FID" in html and str(run) in html
    assert_one_line_error(run_cli("eval", str(samples), "--clean", str(samples), "--report", str(page)),
                          "--report", "--classifier")
