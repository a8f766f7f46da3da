"""The end-to-end tests of tests/eval/test_fad_pairs.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/eval/test_fad_pairs.py's docstring."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from helpers.cli import assert_one_line_error, run_cli
from helpers.sound_classes import RATE, sound, white_noise, write_folder


def test_eval_pairs_reports_si_sdr_improvement(tmp_path):
    rng = np.random.default_rng(3)
    clean = [sound(k, rng) for k in range(6)]
    noisy = [c + white_noise(rng, level=0.05) for c in clean]
    outputs = [c + white_noise(rng, level=0.01) for c in clean]
    write_folder(tmp_path / "clean", clean)
    write_folder(tmp_path / "noisy", noisy)
    out_dir = write_folder(tmp_path / "out", outputs)
    sf.write(str(out_dir / "stray.wav"), clean[0], RATE)            # no partner: named and left out
    proc = run_cli("eval", str(out_dir), "--clean", str(tmp_path / "clean"), "--noisy", str(tmp_path / "noisy"),
                   "--speech-metrics", "si_sdr", "--json", str(tmp_path / "p.json"), timeout=300)   # the others:
    # tests/eval/test_speech_metrics.py (PESQ and DNSMOS on these 8 kHz, 0.25 s tones would only be refused / slow)
    assert proc.returncode == 0, proc.stderr
    assert "stray.wav" in proc.stderr and "si_sdri" in proc.stdout
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["n_pairs"] == 6 and len(out["unmatched"]) == 1
    assert out["si_sdri"] == pytest.approx(out["si_sdr"] - out["si_sdr_input"])
    assert out["si_sdri"] > 10 and out["si_sdr"] > out["si_sdr_input"]
    assert_one_line_error(run_cli("eval", str(out_dir), "--clean", str(tmp_path / "noisy" / "x")), "--clean")
    assert_one_line_error(run_cli("eval", str(out_dir)), "--classifier", "--fad", "--clean")
    assert_one_line_error(run_cli("eval", str(out_dir), "--fad", "mfcc"), "--reference")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("eval", str(out_dir), "--clean", str(empty)), "no output", "partner")
