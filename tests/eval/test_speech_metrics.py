"""Speech metrics (audiodiff/eval/speech.py): each checked against its package on generated speech-like audio
(tests/helpers/speech_like.py), the folder scorer, `audiodiff eval --clean / --dnsmos`, and bad input.

DNSMOS clips are 2.3 s: speechmos tiles a clip shorter than 9.01 s by doubling it, so 2.3 s becomes 9.2 s, one
9.01 s window (a 3 s clip becomes 12 s, three windows, three times the cost).  The first DNSMOS call in a fresh
environment also compiles librosa's numba code (about 30 s on 2 cores, cached after).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from audiodiff.eval import (SPEECH_METRICS, MetricError, SpeechExtraMissing, dnsmos, estoi, log_mel_l1,
                            mr_stft_distance, pesq_wb, score_speech, si_sdr)
from audiodiff.eval import speech as speech_mod
from audiodiff.install import torchaudio
from helpers.speech_like import RATE, add_noise, speech_like
from helpers.cli import main_captured

pesq = pytest.importorskip("pesq", reason="pip install 'audiodiff[speech]'")
pystoi = pytest.importorskip("pystoi", reason="pip install 'audiodiff[speech]'")

P862_2_MAX = 4.644   # the top of P.862.2's MOS-LQO mapping: what wide-band PESQ gives a signal against itself


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return speech_like(3.0)


def test_pesq_estoi_of_a_signal_against_itself_are_their_maxima(clean):
    assert pesq_wb(clean, clean, RATE) == pytest.approx(P862_2_MAX, abs=0.005)
    assert estoi(clean, clean, RATE) == pytest.approx(1.0, abs=1e-6)
    assert mr_stft_distance(clean, clean) == 0.0
    assert log_mel_l1(clean, clean, RATE) == 0.0


def test_scores_order_by_snr(clean):
    """Less noise: higher PESQ, ESTOI, SI-SDR; lower MR-STFT and log-mel distances."""
    rows = [[f(clean, add_noise(clean, snr), RATE) for f in (pesq_wb, estoi, si_sdr, mr_stft_distance, log_mel_l1)]
            for snr in (40, 25, 10)]
    for better, worse in zip(rows, rows[1:]):
        assert better[0] > worse[0] and better[1] > worse[1] and better[2] > worse[2]
        assert better[3] < worse[3] and better[4] < worse[4]
    assert rows[0][2] == pytest.approx(40, abs=0.5)    # white noise at 40 dB: SI-SDR ≈ the SNR


def test_wrappers_equal_the_packages_on_the_same_arrays(clean):
    noisy = add_noise(clean, 15)
    assert pesq_wb(clean, noisy, RATE) == pesq.pesq(RATE, clean, noisy, "wb")
    # pystoi itself differs in the last bit from call to call (its BLAS sums): equal to 1e-12
    assert estoi(clean, noisy, RATE) == pytest.approx(pystoi.stoi(clean, noisy, RATE, extended=True), rel=1e-12)
    # another rate: pesq sees the pair resampled to 16 kHz by torchaudio's resampler at its defaults, as documented
    c48 = speech_like(3.0, rate=48000)
    n48 = add_noise(c48, 15)
    at16 = [torchaudio.functional.resample(torch.from_numpy(x), 48000, 16000).clamp(-1, 1).numpy() for x in (c48, n48)]
    assert pesq_wb(c48, n48, 48000) == pesq.pesq(16000, at16[0], at16[1], "wb")
    assert estoi(c48, n48, 48000) == pytest.approx(pystoi.stoi(c48, n48, 48000, extended=True), rel=1e-12)


def test_mr_stft_and_log_mel_follow_their_definitions():
    """On white noise (every bin far above the floors) doubling the signal gives spectral convergence 1 and
    log-magnitude L1 log 2 at each resolution, and a log-mel L1 of log 2; both distances grow with noise."""
    x = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert mr_stft_distance(x, 2 * x) == pytest.approx(1 + np.log(2), rel=1e-4)
    assert log_mel_l1(x, 2 * x, RATE) == pytest.approx(np.log(2), rel=1e-4)
    s = speech_like(1.0)
    d = [mr_stft_distance(s, add_noise(s, snr)) for snr in (30, 20, 10)]
    assert 0 < d[0] < d[1] < d[2]
    for distance in (mr_stft_distance, log_mel_l1):   # pairs.py cuts a pair to one length first
        with pytest.raises(ValueError, match="same length"):
            distance(s, s[:-4000], RATE)


def test_dnsmos_equals_speechmos_and_rates_noise_lower():
    model = pytest.importorskip("speechmos.dnsmos", reason="pip install 'audiodiff[speech]'")
    voice = speech_like(2.3)
    loud = add_noise(voice, 0)
    clean_scores, noisy_scores = dnsmos(voice, RATE), dnsmos(loud, RATE)
    direct = model.run(loud, RATE)
    assert noisy_scores == {"dnsmos_sig": direct["sig_mos"], "dnsmos_bak": direct["bak_mos"],
                            "dnsmos_ovrl": direct["ovrl_mos"]}
    assert clean_scores["dnsmos_ovrl"] > noisy_scores["dnsmos_ovrl"]
    assert clean_scores["dnsmos_bak"] > noisy_scores["dnsmos_bak"]      # BAK: the background noise itself
    assert all(1 <= v <= 5 for v in (*clean_scores.values(), *noisy_scores.values()))


def test_pair_refusals_say_why():
    voice = speech_like(1.0)
    with pytest.raises(MetricError, match="No utterances"):          # the pesq package's own error, caught
        pesq_wb(np.zeros_like(voice), add_noise(voice, 10), RATE)
    with pytest.raises(MetricError, match="16 kHz"):
        pesq_wb(voice[::2], voice[::2], 8000)
    with pytest.raises(MetricError, match="1/4 of a second"):
        pesq_wb(voice[:2000], voice[:2000], RATE)
    with pytest.raises(MetricError, match="silent"):
        estoi(np.zeros_like(voice), voice, RATE)
    with pytest.raises(MetricError, match="too short"):
        estoi(voice[:3000], voice[:3000], RATE)
    with pytest.raises(MetricError, match="silent"):
        si_sdr(np.zeros_like(voice), voice)


def _write(folder, name, wave, rate=RATE):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, rate, subtype="FLOAT")
    return path


@pytest.fixture
def pair_folders(tmp_path):
    """clean/, noisy/ (10 dB), out/ (30 dB) for three files (one in a subfolder, one 48 kHz output of a 16 kHz
    reference), plus out/stray.wav without partners and out/quiet.wav whose reference is silent."""
    root = {k: tmp_path / k for k in ("clean", "noisy", "out")}
    for i, name in enumerate(["a.wav", "sub/b.wav", "c.wav"]):
        voice = speech_like(1.5, seed=i)
        _write(root["clean"], name, voice)
        _write(root["noisy"], name, add_noise(voice, 10, seed=10 + i))
        out = add_noise(voice, 30, seed=20 + i)
        if name == "c.wav":
            _write(root["out"], name, np.clip(resample_poly(out, 3, 1), -1, 1).astype(np.float32), 48000)
        else:
            _write(root["out"], name, out)
    _write(root["out"], "stray.wav", speech_like(1.0))
    quiet = speech_like(1.5, seed=7)
    _write(root["clean"], "quiet.wav", np.zeros_like(quiet))
    _write(root["noisy"], "quiet.wav", add_noise(quiet, 10))
    _write(root["out"], "quiet.wav", quiet)
    return root


def test_score_speech_per_file_means_and_improvements(pair_folders, audiodiff_log):
    names = "pesq,estoi,si_sdr,mr_stft,log_mel_l1"
    r = score_speech(pair_folders["out"], pair_folders["clean"], pair_folders["noisy"], metrics=names)
    files = {row["file"]: row for row in r["files"]}
    assert set(files) == {"a.wav", "sub/b.wav", "c.wav", "quiet.wav"} and r["n_pairs"] == 4
    assert r["metrics"] == names.split(",")
    assert len(r["unmatched"]) == 1 and r["unmatched"][0].startswith("stray.wav")
    # per file: the functions on the arrays read back (the output resampled to the reference's rate)
    ref, _ = sf.read(str(pair_folders["clean"] / "sub/b.wav"), dtype="float32")
    out, _ = sf.read(str(pair_folders["out"] / "sub/b.wav"), dtype="float32")
    noisy, _ = sf.read(str(pair_folders["noisy"] / "sub/b.wav"), dtype="float32")
    row = files["sub/b.wav"]
    assert row["pesq"] == pesq.pesq(RATE, ref, out, "wb") and row["pesq_input"] == pesq.pesq(RATE, ref, noisy, "wb")
    assert row["pesq_delta"] == row["pesq"] - row["pesq_input"] > 0
    assert row["estoi_delta"] > 0 and row["si_sdri"] == pytest.approx(20, abs=1)   # 30 dB output, 10 dB input
    assert row["mr_stft"] == mr_stft_distance(ref, out) and row["log_mel_l1"] == log_mel_l1(ref, out, RATE)
    assert files["c.wav"]["si_sdr"] == pytest.approx(30, abs=1)   # the 48 kHz output, brought to the reference's rate
    # the silent reference: PESQ, ESTOI, SI-SDR not computed for that file (None), one line each naming it
    assert files["quiet.wav"]["pesq"] is None and files["quiet.wav"]["si_sdri"] is None
    assert files["quiet.wav"]["mr_stft"] is not None
    assert any(s.startswith("quiet.wav: PESQ") and "No utterances" in s for s in r["skipped"])
    logged = [rec.getMessage() for rec in audiodiff_log.records]
    assert any(m.startswith("PESQ not computed for quiet.wav: ") and "No utterances" in m for m in logged)
    assert any("stray.wav" in m for m in logged)
    # means over the files that have the value
    for key in ("pesq", "estoi_delta", "si_sdr", "mr_stft"):
        values = [row[key] for row in r["files"] if row[key] is not None]
        assert r[key] == pytest.approx(np.mean(values)) and len(values) == (4 if key == "mr_stft" else 3)


def test_score_speech_bad_input(pair_folders, tmp_path, audiodiff_log):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no output under .* has a partner"):
        score_speech(pair_folders["out"], empty, metrics="si_sdr")
    with pytest.raises(ValueError, match="no audio files"):
        score_speech(empty, pair_folders["clean"], metrics="si_sdr")
    with pytest.raises(FileNotFoundError, match="--clean"):
        score_speech(pair_folders["out"], tmp_path / "nowhere", metrics="si_sdr")
    with pytest.raises(ValueError, match="choose from pesq, estoi"):
        score_speech(pair_folders["out"], pair_folders["clean"], metrics="pesq,stoi")
    with pytest.raises(ValueError, match="pass --clean"):
        score_speech(pair_folders["out"], metrics="pesq")
    # an 8 kHz reference: one line naming the file and what to do; the other metrics still scored
    narrow = tmp_path / "narrow"
    _write(narrow, "a.wav", speech_like(1.5)[::2], 8000)
    r = score_speech(pair_folders["out"], narrow, metrics="pesq,si_sdr")
    assert r["n_pairs"] == 1 and r["pesq"] is None and r["si_sdr"] is not None
    assert len(r["skipped"]) == 1 and r["skipped"][0].startswith("a.wav: PESQ not computed")
    assert "8000 Hz" in r["skipped"][0] and "16 kHz references" in r["skipped"][0]


def test_without_the_extra_the_default_leaves_its_metrics_out(pair_folders, monkeypatch, capsys, audiodiff_log):
    for module in ("pesq", "pystoi", "speechmos", "speechmos.dnsmos"):
        monkeypatch.setitem(sys.modules, module, None)          # `import pesq` now raises ImportError
    speech_mod._importable.cache_clear()
    try:
        assert speech_mod.missing_extra() == ["pesq", "estoi", "dnsmos"]
        r = score_speech(pair_folders["out"], pair_folders["clean"])
        assert r["metrics"] == ["si_sdr", "mr_stft", "log_mel_l1"] and "pesq" not in r
        with pytest.raises(SpeechExtraMissing, match=r"pip install 'audiodiff\[speech\]'"):
            score_speech(pair_folders["out"], pair_folders["clean"], metrics="pesq")
        code, out, err = main_captured(["eval", str(pair_folders["out"]), "--clean", str(pair_folders["clean"])],
                                       capsys)
        assert code == 0 and "si_sdr" in out and "pesq" not in out
        assert err.strip().splitlines() == ["pesq, estoi, dnsmos not scored: pip install 'audiodiff[speech]'"]
    finally:
        monkeypatch.undo()
        speech_mod._importable.cache_clear()


def test_cli_eval_clean_writes_per_file_json(pair_folders, tmp_path, capsys, audiodiff_log):
    report = tmp_path / "speech.json"
    code, out, err = main_captured(["eval", str(pair_folders["out"]), "--clean", str(pair_folders["clean"]), "--noisy",
                                     str(pair_folders["noisy"]), "--speech-metrics", "si_sdr,pesq", "--json",
                                     str(report)], capsys)
    assert code == 0, err
    assert "pesq_delta" in out and "si_sdri" in out
    saved = json.loads(report.read_text())
    assert saved["metrics"] == ["si_sdr", "pesq"] and len(saved["files"]) == 4
    assert {row["file"] for row in saved["files"]} >= {"a.wav", "sub/b.wav"}
    code, _, err = main_captured(["eval", str(pair_folders["out"]), "--clean", str(pair_folders["clean"]),
                                  "--speech-metrics", "pesq,bogus"], capsys)
    assert code == 1 and err.strip().count("\n") == 0 and "bogus" in err and "choose from" in err
    code, _, err = main_captured(["eval", str(pair_folders["out"]), "--speech-metrics", "estoi"], capsys)
    assert code == 1 and err.strip().count("\n") == 0 and "--clean" in err


def test_cli_dnsmos_without_a_reference(tmp_path, capsys, audiodiff_log, monkeypatch):
    pytest.importorskip("speechmos.dnsmos", reason="pip install 'audiodiff[speech]'")
    folder = tmp_path / "voice"
    _write(folder, "v.wav", speech_like(2.3))
    report = tmp_path / "dnsmos.json"
    code, out, err = main_captured(["eval", str(folder), "--dnsmos", "--json", str(report)], capsys)
    assert code == 0, err
    saved = json.loads(report.read_text())
    assert saved["metrics"] == ["dnsmos"] and saved["n_files"] == 1 and "dnsmos_ovrl" in out
    assert saved["files"][0]["dnsmos_ovrl"] == saved["dnsmos_ovrl"] == dnsmos(speech_like(2.3), RATE)["dnsmos_ovrl"]
    monkeypatch.setitem(sys.modules, "speechmos.dnsmos", None)
    speech_mod._importable.cache_clear()
    try:
        code, _, err = main_captured(["eval", str(folder), "--dnsmos"], capsys)
    finally:
        monkeypatch.undo()
        speech_mod._importable.cache_clear()
    assert code == 1 and err.strip().count("\n") == 0 and "pip install 'audiodiff[speech]'" in err


def test_every_metric_is_documented_in_the_cli_help():
    from typer.testing import CliRunner

    from audiodiff.cli import app

    text = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output
    for name in SPEECH_METRICS:
        assert name in text
