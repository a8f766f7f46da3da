"""benchmarks/telephone_bwe.py on generated speech-like audio: a "wide" folder at 16 kHz delayed by 22 samples (as the
G.722 release is) and a "narrow" folder at 8 kHz made from the same signals (anti-alias low-pass + decimation), both
in the LJSpeech layout with the same test_list.txt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

import audiodiff
from benchmarks import telephone_bwe
from helpers.cli import assert_one_line_error, script_exit
from helpers.oracle import OracleNet
from helpers.speech_like import speech_like

pytest.importorskip("pesq", reason="pip install 'audiodiff[speech]'")

DELAY = 22
SECONDS = 2.0
NAMES = [f"LJSpeech-1.1/wavs/p{i}.wav" for i in range(3)]


def write_voices(root: Path, delay: int = DELAY) -> tuple[Path, Path]:
    """(narrow, wide) folders under root: the 16 kHz files lag the 8 kHz ones by `delay` samples."""
    narrow, wide = root / "narrow" / "8000", root / "wide" / "16000"
    for i, name in enumerate(NAMES):
        clean = speech_like(SECONDS, rate=16000, seed=i).astype(np.float64)
        delayed = np.concatenate([np.zeros(delay), clean])[:clean.size]
        for folder, audio, rate in ((wide, delayed, 16000), (narrow, resample_poly(clean, 1, 2), 8000)):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(folder / name, audio.astype(np.float32), rate, subtype="PCM_16")
    for folder in (narrow, wide):
        (folder / "test_list.txt").write_text("\n".join(NAMES) + "\n")
    return narrow, wide


def bench(tmp_path: Path, narrow: Path, wide: Path, *extra: str) -> dict:
    return telephone_bwe.main(["--narrow", str(narrow), "--wide", str(wide), "--json", str(tmp_path / "r.json"),
                               *extra])


def test_sinc_keeps_the_low_band_lacks_the_high_band_and_writes_wavs(tmp_path, capsys):
    narrow, wide = write_voices(tmp_path)
    result = bench(tmp_path, narrow, wide, "--out", str(tmp_path / "wavs"))
    assert list(result["rows"]) == ["sinc"] and result["input"]["delay"] == DELAY
    cells = result["rows"]["sinc"]["cells"]
    assert all(cells[c]["n"] == len(NAMES) for c in telephone_bwe.COLUMNS)
    low, high = cells["lsd_low"]["mean"], cells["lsd_high"]["mean"]
    assert low < 2.0 and high > low + 2.0, (low, high)   # mostly pauses: both floored there, which dilutes
    assert cells["lsd_full"]["mean"] > low
    assert 1.0 <= cells["pesq"]["mean"] <= 4.7 and cells["rtf"]["mean"] > 0
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["benchmark"] == "telephone_bwe" and saved["rows"]["sinc"]["cells"] == cells
    assert [f["file"] for f in saved["files"]["sinc"]] == NAMES
    length = int(SECONDS * 16000) - DELAY        # the reference after the delay, which sinc's 2·L covers
    for name in NAMES:
        for folder in ("sinc", "reference"):
            info = sf.info(tmp_path / "wavs" / folder / Path(name).name)
            assert info.samplerate == 16000 and info.frames == length, (folder, info)
    table = capsys.readouterr().out
    assert "| sinc |" in table and "LSD 4-8k dB" in table


def test_the_delay_aligns_the_reference(tmp_path):
    narrow, wide = write_voices(tmp_path)
    aligned = bench(tmp_path, narrow, wide, "--delay", str(DELAY))["files"]["sinc"]
    shifted = bench(tmp_path, narrow, wide, "--delay", "0")["files"]["sinc"]
    for a, s in zip(aligned, shifted):
        assert a["lsd_low"] < s["lsd_low"], (a, s)


def test_model_rows_call_the_run_upsample(tmp_path, monkeypatch):
    sched = audiodiff.NoiseSchedule.linear(20, 1e-4, 0.2)
    pipe = audiodiff.Pipeline.for_config(OracleNet(sched), audiodiff.GaussianDiffusion(sched),
                                         {"sample_rate": 16000, "clip_length": 8000, "sample": {"sampler": "ddpm"}})
    calls = []
    real = pipe.upsample
    monkeypatch.setattr(pipe, "upsample", lambda *a, **k: calls.append((a[0].shape, k)) or real(*a, **k))
    precisions = []
    monkeypatch.setattr(audiodiff, "load", lambda run, device=None, precision="auto": precisions.append(precision)
                        or pipe)
    narrow, wide = write_voices(tmp_path)
    result = bench(tmp_path, narrow, wide, "--model", str(tmp_path / "runs" / "sinc"), "--steps", "3", "--n", "2",
                   "--out", str(tmp_path / "wavs"), "--precision", "fp32")
    assert precisions == ["fp32"]                          # --precision reaches the run's loading
    assert list(result["rows"]) == ["sinc", "sinc-2"]      # a run's folder name that is taken gets a suffix
    assert len(calls) == 3 and all(k == {"from_rate": 8000, "steps": 3, "seed": 0} for _, k in calls)
    assert calls[1][0] == (int(SECONDS * 8000),)          # after the untimed call on the first second
    assert all(np.isfinite(f["lsd_high"]) for f in result["files"]["sinc-2"])
    assert sf.info(tmp_path / "wavs" / "sinc-2" / "p0.wav").frames == int(SECONDS * 16000) - DELAY


@pytest.mark.parametrize("case, words", [
    ("no-narrow", ["--narrow", "no such folder", "build_speech.py"]),
    ("missing-wide", ["p1.wav", "missing", "--wide", "build_speech.py"]),
    ("rate", ["p0.wav", "16000 Hz", "--narrow", "8000 Hz"]),
    ("list", ["--list", "nope.txt", "no such file"]),
])
def test_bad_input_is_one_line(tmp_path, case, words):
    narrow, wide = write_voices(tmp_path)
    args = ["--narrow", str(tmp_path / "nowhere" if case == "no-narrow" else narrow), "--wide", str(wide),
            "--json", str(tmp_path / "r.json")]
    if case == "missing-wide":
        (wide / NAMES[1]).unlink()
    if case == "rate":
        sf.write(narrow / NAMES[0], np.zeros(16000, dtype=np.float32), 16000)
    if case == "list":
        args += ["--list", "nope.txt"]
    with pytest.raises(SystemExit) as stop:
        telephone_bwe.main(args)
    message = str(stop.value.code)
    assert message.startswith("error:") and "\n" not in message, message
    assert all(w in message for w in words), message
    assert not (tmp_path / "r.json").exists()


def test_command_line_reports_bad_input_in_one_line(tmp_path):
    proc = script_exit(telephone_bwe.main, ["--narrow", str(tmp_path / "nowhere"), "--wide", str(tmp_path),
                                            "--json", str(tmp_path / "r.json")])
    assert_one_line_error(proc, "--narrow", "no such folder", str(tmp_path / "nowhere"))
