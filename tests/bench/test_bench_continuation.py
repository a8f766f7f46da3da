"""The long-clip benchmark (benchmarks/continuation.py) on a tiny waveform run with 160 ms windows: its seams are where
tasks.continuation starts new material, its scores are seam_report's on the clips the public API makes, its
reference spread is the real files' own, and bad input ends in one line."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

import audiodiff
from audiodiff import tasks
from audiodiff.audio import load_audio
from audiodiff.eval.seams import frame_steps, seam_report
from benchmarks import continuation
from helpers.cli import assert_one_line_error, script_exit
from helpers.audio import write_tone_wavs
from helpers.recipes import SAMPLE_RATE, tiny_recipe_dict

WINDOW = 1280    # 160 ms at 8 kHz: a seam (and its 10 ms fade) every 120 ms, frame pairs between them for a spread
SECONDS = 0.5    # 4000 samples: 3 seams


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """The tiny DiffWave recipe with WINDOW-sample clips, trained 2 steps on four tones."""
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer

    root = tmp_path_factory.mktemp("long-window")
    write_tone_wavs(root / "audio")
    raw = tiny_recipe_dict(root / "audio", max_steps=2)
    raw["data"]["clip_length"] = WINDOW
    Trainer(recipe_from_dict(raw), root / "run", show_progress=False).fit()
    return root / "run"


def reference_folder(root, lengths=(0.4, 0.3, 0.04)):
    """root/ref: noisy chords at 16 kHz (read at the run's 8 kHz), one in a subfolder; the last is too short."""
    rng = np.random.default_rng(5)
    for i, seconds in enumerate(lengths):
        t = np.arange(int(seconds * 16000)) / 16000
        wave = sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 3000, 3)) * (1 + 0.5 * np.sin(9 * t))
        path = root / "ref" / ("sub" if i == 1 else "") / f"r{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (wave + 0.01 * rng.standard_normal(t.size)).astype(np.float32), 16000)
    return root / "ref"


def test_benchmark_scores_the_seams_of_the_clips_sample_makes(long_run, tmp_path, capsys):
    out, wavs = tmp_path / "r.json", tmp_path / "wavs"
    result = continuation.main(["--model", str(long_run), "--seconds", str(SECONDS), "--n", "2", "--seed", "3",
                                "--steps", "2", "--reference", str(reference_folder(tmp_path)), "--reference-n", "3",
                                "--save-wavs", str(wavs), "--out", str(out), "--no-progress"])
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "continuation" and "commit" in saved and "machine" in saved
    assert saved["summary"] == result["summary"] and saved["clips"] == result["clips"]

    length = round(SECONDS * SAMPLE_RATE)
    seams = tasks.continuation_seams(length, WINDOW)
    fade = tasks.continuation_fade(tasks.continuation_overlap(WINDOW))
    gen = saved["generation"]
    assert gen["samples"] == length and gen["window"] == WINDOW and gen["seam_samples"] == seams
    assert gen["overlap"] == tasks.continuation_overlap(WINDOW) and gen["fade"] == fade > 0
    assert gen["seconds"] > 0
    assert gen["seconds_per_audio_second"] == pytest.approx(gen["seconds"] / (2 * SECONDS))

    # the same call through the public API gives the same clips, and seam_report on them the same numbers
    clips = audiodiff.load(long_run, device="cpu").sample(2, seconds=SECONDS, seed=3, steps=2).numpy()
    summary = saved["summary"]
    assert summary["seams"] == summary["seam_positions"] == 2 * len(seams)
    assert 0 <= summary["audible_seams"] <= summary["seams"]
    assert summary["no_audible_seam"] == (summary["audible_seams"] == 0)
    for wave, clip in zip(clips, saved["clips"]):
        expected = seam_report(wave, SAMPLE_RATE, seams, fade)
        assert {k: clip[k] for k in expected} == expected
        assert clip["seams"] == len(seams) and clip["unscored_seams"] == []
        assert clip["level_excess_db"] == clip["seam_level_db"] - clip["spread_level_db"]
        per_seam = clip["per_seam"]
        assert [s["sample"] for s in per_seam] == seams
        assert max(s["level_db"] for s in per_seam) == clip["seam_level_db"]
        assert max(s["spectral_db"] for s in per_seam) == clip["seam_spectral_db"]
        assert sum(s["audible"] for s in per_seam) == clip["audible_seams"]
        level, spectral = frame_steps(wave, SAMPLE_RATE)
        touched = [list(range(s // 160 - 1, (s + fade) // 160)) for s in seams]   # 20 ms frames: 160 samples
        assert [s["pairs"] for s in per_seam] == touched
        assert [s["spectral_db"] for s in per_seam] == [float(spectral[ps].max()) for ps in touched]
        pairs = sorted({p for ps in touched for p in ps})
        assert clip["seam_spectral_mean_db"] == pytest.approx(spectral[pairs].mean())
        assert clip["other_level_mean_db"] == pytest.approx(np.delete(level, pairs).mean())
    worst = max(saved["clips"], key=lambda c: c["spectral_excess_db"])
    assert summary["worst_spectral"]["excess_db"] == worst["spectral_excess_db"]
    assert summary["seam_level_db"]["n"] == 2 * len(pairs)                # every pair a fade touches, both clips

    # the saved clips are those clips, as 16-bit WAV
    assert saved["wavs"] == [str(wavs / "clip_000.wav"), str(wavs / "clip_001.wav")]
    for path, wave in zip(saved["wavs"], clips):
        heard, rate = load_audio(path)
        assert rate == SAMPLE_RATE and np.allclose(heard.numpy(), wave, atol=1 / 16000)

    # the reference: each long enough file's own P95 step at the run's rate; the short one skipped, named
    ref = saved["reference"]
    assert ref["names"] == ["r0.wav", "sub/r1.wav"] and ref["skipped_short"] == ["r2.wav"] and ref["rate"] == 8000
    p95 = [np.percentile(frame_steps(load_audio(tmp_path / "ref" / name, 8000)[0], 8000)[0], 95)
           for name in ref["names"]]
    assert ref["spread_level_db"]["mean"] == pytest.approx(np.mean(p95))
    assert "audible seams" in capsys.readouterr().out


@pytest.mark.parametrize("case, words", [
    ("short", "not longer than one window"),
    ("n", "--n"),
    ("reference", "no such folder"),
    ("empty", "no audio files"),
    ("mel", "waveform run"),
    ("norun", "--model"),
])
def test_bad_input_is_one_line(long_run, tmp_path, monkeypatch, case, words):
    (tmp_path / "empty").mkdir()
    args = {"--model": str(tmp_path / "nowhere" if case == "norun" else long_run), "--seconds": "0.5", "--n": "1",
            "--steps": "1", "--out": str(tmp_path / "r.json")}
    if case == "short":
        args["--seconds"] = str(WINDOW / SAMPLE_RATE)       # exactly one window: no seam
    if case == "n":
        args["--n"] = "0"
    if case in ("reference", "empty"):
        args["--reference"] = str(tmp_path / ("nowhere" if case == "reference" else "empty"))
    if case == "mel":
        monkeypatch.setattr(audiodiff, "load", lambda run, device=None: SimpleNamespace(domain="mel",
                                                                                      what="a mel-domain run"))
    proc = script_exit(continuation.main, [*(x for kv in args.items() for x in kv), "--no-progress"])
    assert_one_line_error(proc, words)
    assert not (tmp_path / "r.json").exists()
