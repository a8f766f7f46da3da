"""The end-to-end tests of tests/eval/test_eval_sanity.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/eval/test_eval_sanity.py's docstring."""

from __future__ import annotations

import json

import numpy as np

from audiodiff.eval.sanity import FLAGS
from helpers.cli import run_cli
from helpers.sound_classes import sound, write_folder


def test_eval_reports_silent_and_clipped_clips_in_its_json(sound_classifier, tmp_path):
    _, run = sound_classifier
    rng = np.random.default_rng(4)
    clips = [sound(k, rng) for k in range(8)]
    loud = np.clip(sound(3, rng) * 20, -1, 1)
    loud[:600] = 0                                # its onset after a silence, wherever the note began
    clips += [np.zeros_like(clips[0]), loud]      # clip_008 silent, clip_009 clipped
    samples = write_folder(tmp_path / "s", clips)
    proc = run_cli("eval", str(samples), "--classifier", str(run), "--json", str(tmp_path / "out.json"),
                   "--report", str(tmp_path / "page.html"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "silent (peak" in proc.stdout and "no onset" in proc.stdout
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["n_silent"] == 1 and out["n_clipped"] == 1 and out["n_dc"] == 0 and out["n_no_onset"] == 0
    sanity = out["sanity"]
    assert sanity["n"] == 10 and sanity["silent"]["clips"] == ["clip_008.wav"]
    assert sanity["clipped"]["clips"] == ["clip_009.wav"]
    ref = sanity["reference"]                                      # the classifier's training split
    assert ref["n"] == 240 and all(ref[k]["count"] == 0 for k in FLAGS)
    html = (tmp_path / "page.html").read_text()
    assert "clip_008.wav" in html and "silent (peak" in html
