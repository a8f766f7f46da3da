"""Gap filling: the in-gap metrics (audiodiff/eval/gaps.py), the classical fills (benchmarks/lib/ar_fill.py) and the
benchmark (benchmarks/gap_fill.py) on short generated signals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff.eval.gaps import gap_frames, gap_lsd, gap_snr, random_gaps
from audiodiff.eval.metrics import mean_ci
from benchmarks import gap_fill
from benchmarks.lib.ar_fill import ar_fill, linear_crossfade_fill, silence_fill
from helpers.cli import assert_one_line_error, script_exit
from helpers.oracle import OracleNet

RATE = 16000


def two_sines(seconds: float = 0.6, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t + 0.3) + 0.3 * np.sin(2 * np.pi * 1234.5 * t + 1.1)).astype(np.float32)


def test_silence_fill_scores_exactly_zero_db_and_touches_only_the_gap():
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.3
    y = silence_fill(x, 1000, 320)
    assert y.dtype == np.float32 and not np.shares_memory(x, y)
    assert np.array_equal(y[:1000], x[:1000]) and np.array_equal(y[1320:], x[1320:]) and not y[1000:1320].any()
    assert gap_snr(x, y, 1000, 320) == 0.0
    assert gap_snr(torch.from_numpy(x), torch.from_numpy(y), 1000, 320) == 0.0   # tensors too


def test_identical_fill_is_perfect_and_silent_reference_is_undefined():
    x = two_sines()
    assert gap_lsd(x, x.copy(), 3000, 320, RATE) == 0.0
    assert gap_snr(x, x.copy(), 3000, 320) == math.inf
    quiet = np.zeros(2000)
    assert math.isnan(gap_snr(quiet, quiet, 100, 50))
    assert gap_snr(quiet, quiet + 0.1, 100, 50) == -math.inf
    with pytest.raises(ValueError, match="not inside"):
        gap_snr(x, x, x.size - 10, 20)


def test_lsd_frames_are_the_ones_overlapping_the_gap():
    starts = gap_frames(1000, 320)
    assert starts[0] == 512 and starts[-1] == 1280     # 512 + 511 ≥ 1000 is the first; 1280 ≤ 1319 the last
    assert all(s + 512 > 1000 and s < 1320 for s in starts) and np.all(np.diff(starts) == 128)
    assert gap_frames(0, 10)[0] == -384                 # frames before the signal read zeros


def test_ar_fill_recovers_two_sinusoids_across_a_20ms_gap():
    x = two_sines()
    start, length = 4000, int(0.020 * RATE)
    scores = {f.__name__: (gap_snr(x, y := f(x, start, length, RATE), start, length), gap_lsd(x, y, start, length, RATE))
              for f in (silence_fill, linear_crossfade_fill, ar_fill)}
    ar_snr, ar_lsd = scores["ar_fill"]
    assert ar_snr > 20.0
    assert ar_snr > scores["silence_fill"][0] + 20 and ar_snr > scores["linear_crossfade_fill"][0] + 20
    assert ar_lsd < scores["silence_fill"][1] and ar_lsd < scores["linear_crossfade_fill"][1]
    y = ar_fill(x, start, length, RATE)
    assert np.array_equal(np.delete(y, np.s_[start:start + length]), np.delete(x, np.s_[start:start + length]))


def test_crossfade_is_the_neighbouring_audio_faded_linearly():
    x = np.arange(100, dtype=np.float64)
    y = linear_crossfade_fill(x, 40, 10)
    w = (np.arange(10) + 0.5) / 10
    assert np.allclose(y[40:50], (1 - w) * x[30:40] + w * x[50:60])
    edge = linear_crossfade_fill(x, 0, 10)                 # no audio before: the audio after alone
    assert np.allclose(edge[:10], x[10:20])


def test_white_noise_in_a_tone_has_a_large_lsd():
    x = two_sines()
    start, length = 4000, 800
    noisy = x.copy()
    noisy[start:start + length] = np.random.default_rng(1).standard_normal(length) * 0.4
    assert gap_lsd(x, noisy, start, length, RATE) > 30.0
    assert gap_lsd(x, ar_fill(x, start, length, RATE), start, length, RATE) < 5.0


def test_random_gaps_keep_their_margin_and_refuse_short_signals():
    starts = random_gaps(10000, 500, 200, np.random.default_rng(0), margin=1000)
    assert starts.min() >= 1000 and starts.max() + 500 <= 9000
    assert np.array_equal(starts, random_gaps(10000, 500, 200, 0, margin=1000))   # an int seed: the same draws
    assert random_gaps(2000, 1000, 3, 0, margin=500).tolist() == [500, 500, 500]  # exactly fits
    with pytest.raises(ValueError, match="cannot hold"):
        random_gaps(1999, 1000, 1, 0, margin=500)


def test_mean_ci_is_the_student_t_half_width_over_finite_values():
    cell = mean_ci([1.0, 2.0, 3.0, math.inf, math.nan])
    assert cell["mean"] == 2.0 and cell["n"] == 3 and cell["nonfinite"] == 2
    assert cell["ci95"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)   # t(0.975, 2) · sd 1 / √3
    assert mean_ci([5.0]) == {"mean": 5.0, "ci95": None, "n": 1, "nonfinite": 0}
    assert mean_ci([])["mean"] is None


# ------------------------------------------------------------------------------------------- the benchmark
def music_folder(root: Path, rate: int = 22050, count: int = 3, seconds: float = 0.5) -> Path:
    """root/clips: `count` short chords at `rate` (resampled to 16 kHz by the benchmark), one in a subfolder."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * rate)) / rate
    for i in range(count):
        wave = sum(0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in rng.uniform(150, 2000, 3))
        path = root / "clips" / ("sub" if i == 0 else "") / f"c{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (wave + 0.01 * rng.standard_normal(t.size)).astype(np.float32), rate, subtype="PCM_16")
    return root / "clips"


def test_benchmark_runs_end_to_end_on_a_folder(tmp_path, capsys):
    clips = music_folder(tmp_path)
    out = tmp_path / "r.json"
    result = gap_fill.main(["--clips", str(clips), "--out", str(out), "--gaps", "20,50", "--context", "0.1",
                            "--report", str(tmp_path / "page"), "--report-clips", "1", "--no-progress"])
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "gap_fill" and "commit" in saved and "machine" in saved
    assert saved["clips"]["count"] == 3 and saved["gaps_ms"] == [20, 50]
    assert set(saved["rows"]) == {"silence", "crossfade", "ar"}
    for row in saved["rows"].values():
        assert set(row) == {"20", "50"}
        assert all(row[g][k]["n"] == 3 for g in row for k in ("snr_db", "lsd_db", "seconds"))
    assert saved["rows"]["silence"]["20"]["snr_db"]["mean"] == 0.0
    assert saved["rows"]["ar"]["20"]["snr_db"]["mean"] > saved["rows"]["silence"]["20"]["snr_db"]["mean"]
    assert len(saved["items"]) == 6 and result["rows"] == saved["rows"]
    for item in saved["items"]:
        assert 1600 <= item["start"] and item["start"] + item["length"] <= 8000 - 1600   # 0.1 s context each side
    page = (tmp_path / "page" / "gap_fill.html").read_text()
    assert page.count("<audio") == 2 * 4          # 2 gap lengths × (with the gap, crossfade, ar, original)
    assert "SNR" in capsys.readouterr().out

    # a list beside the clips names them as the folder does; a gap's place depends on (seed, name, length) only
    listing = clips / "held_out.txt"
    listing.write_text("# two of them\nc1.wav\n\nsub/c0.wav\n")
    again = gap_fill.main(["--clips", str(listing), "--out", str(tmp_path / "r2.json"), "--gaps", "50",
                           "--context", "0.1", "--methods", "silence", "--no-progress"])
    before = {(i["clip"], i["gap_ms"]): i["start"] for i in saved["items"]}
    assert [i["clip"] for i in again["items"]] == ["c1.wav", "sub/c0.wav"]
    assert all(before[(i["clip"], 50)] == i["start"] for i in again["items"])


def test_benchmark_model_rows_call_the_run_inpaint(tmp_path, monkeypatch):
    sched = audiodiff.NoiseSchedule.linear(20, 1e-4, 0.2)
    pipe = audiodiff.Pipeline.for_config(OracleNet(sched), audiodiff.GaussianDiffusion(sched),
                                         {"sample_rate": RATE, "clip_length": 2000, "sample": {"sampler": "ddpm"}})
    calls = []
    real = pipe.inpaint
    monkeypatch.setattr(pipe, "inpaint", lambda *a, **k: calls.append((a[0].shape, k)) or real(*a, **k))
    precisions = []
    monkeypatch.setattr(audiodiff, "load", lambda run, device=None, precision="auto": precisions.append(precision)
                        or pipe)
    clips = music_folder(tmp_path, rate=RATE, count=2)
    result = gap_fill.main(["--clips", str(clips), "--out", str(tmp_path / "r.json"), "--gaps", "20",
                            "--context", "0.1", "--methods", "silence", "--model", "fake-run", "--jumps", "1,2",
                            "--jump-length", "2", "--steps", "5", "--no-progress", "--precision", "fp32"])
    assert precisions == ["fp32"]
    assert list(result["rows"]) == ["silence", "repaint", "repaint-2x2"]
    assert len(calls) == 4 and all(shape == (3520,) for shape, _ in calls)   # the gap + 100 ms each side > 2000
    assert {k["resample_jumps"] for _, k in calls} == {1, 2} and all(k["steps"] == 5 for _, k in calls)
    assert all(item["snr_db"]["repaint"] is not None for item in result["items"])


@pytest.mark.parametrize("case, words", [
    ("empty", "no audio files"),
    ("short", "cannot hold a 400 ms gap"),
    ("missing", "no such folder"),
    ("gaps", "whole numbers"),
])
def test_benchmark_bad_input_is_one_line(tmp_path, case, words):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "notes.txt").write_text("not audio")
    if case == "short":
        sf.write(folder / "a.wav", np.zeros(RATE * 6 // 10, dtype=np.float32), RATE)   # holds 20 ms, not 400
    args = ["--clips", str(tmp_path / "nowhere" if case == "missing" else folder), "--out", str(tmp_path / "r.json"),
            "--gaps", "20,x" if case == "gaps" else "20,400", "--no-progress"]
    with pytest.raises(SystemExit) as stop:
        gap_fill.main(args)
    message = str(stop.value.code)
    assert message.startswith("error:") and "\n" not in message and words in message, message
    assert not (tmp_path / "r.json").exists()


def test_command_line_reports_bad_input_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = script_exit(gap_fill.main, ["--clips", str(tmp_path / "empty"), "--out", str(tmp_path / "r.json"),
                                       "--no-progress"])
    assert_one_line_error(proc, "no audio files", str(tmp_path / "empty"))
