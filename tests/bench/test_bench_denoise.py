"""benchmarks/denoise_real.py on generated audio only: a tiny "voice" laid out like data/real/speech/<voice>/16000
and a tiny noise folder laid out like data/real/noise (clips.csv, 4s/{train,test}); rows noisy + wiener
(+ noisereduce when installed), no DNSMOS."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RATE = 16000


def load_bench():
    from benchmarks import denoise_real

    return denoise_real


def vowel(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A voiced, syllable-paced harmonic tone [L] (PESQ's voice detector hears it as speech), peak 0.9."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))) / RATE
    wave = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, int(7000 / f0)))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 1.5
    envelope[(t < 0.15) | (t > seconds - 0.15)] = 0
    wave = wave * envelope
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(speech root with voice "tiny", noise root): 3 test utterances, 2 test noise clips and 1 train clip."""
    voice = tmp_path / "speech" / "tiny" / "16000"
    (voice / "LJSpeech-1.1" / "wavs").mkdir(parents=True)
    names = []
    for i, f0 in enumerate((120.0, 160.0, 210.0)):
        names.append(f"LJSpeech-1.1/wavs/u{i}.wav")
        sf.write(voice / names[-1], vowel(1.2, f0, i), RATE, subtype="PCM_16")
    (voice / "test_list.txt").write_text("\n".join(names) + "\n")
    noise = tmp_path / "noise"
    rng = np.random.default_rng(7)
    rows = []
    for split, name, wave in (("test", "brown", np.cumsum(rng.standard_normal(RATE)) * 0.002),
                              ("test", "hum", 0.05 * np.sin(2 * np.pi * 100 * np.arange(RATE) / RATE)
                               + 0.01 * rng.standard_normal(RATE)),
                              ("train", "trained-on", 0.05 * rng.standard_normal(RATE))):
        clip = f"4s/{split}/{name}.wav"
        (noise / clip).parent.mkdir(parents=True, exist_ok=True)
        sf.write(noise / clip, (wave - wave.mean()).astype(np.float32), RATE, subtype="PCM_16")
        rows.append({"clip": clip, "set": "4s", "split": split, "source": "gen", "category": name})
    with (noise / "clips.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "speech", noise


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_denoise_benchmark_smallest_path(tmp_path, roots):
    """The set is reproducible and mixed as specified; the JSON holds the envelope and every row × condition;
    the Wiener filter raises SI-SDR on white noise at 0 dB; the report page groups noisy / rows / clean."""
    bench = load_bench()
    speech, noise = roots
    try:
        import noisereduce  # noqa: F401
        rows = ["noisy", "wiener", "nr-stationary", "nr-nonstationary"]
    except ImportError:
        rows = ["noisy", "wiener"]
    common = ["--voice", "tiny", "--speech", str(speech), "--noise", str(noise), "--noise-sets", "4s", "--n", "2",
              "--snrs", "0,10", "--seed", "3", "--threads", "1"]
    result = bench.main([*common, "--set", str(tmp_path / "a"), "--rows", ",".join(rows), "--no-dnsmos",
                         "--outputs", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
                         "--report", str(tmp_path / "page.html"), "--report-files", "2"])
    bench.main([*common, "--set", str(tmp_path / "b"), "--build-only"])
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")

    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())["mixtures"]
    assert len(manifest) == 2 * 2 * 2 and len({m["utterance"] for m in manifest}) == 2
    for m in manifest:
        clean, _ = sf.read(tmp_path / "a" / "clean" / m["file"])
        noisy, _ = sf.read(tmp_path / "a" / "noisy" / m["file"])
        snr = 20 * np.log10(np.sqrt(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2)))
        assert abs(snr - m["snr_db"]) < 0.05, m
        assert np.abs(noisy).max() <= 0.99 + 1 / 32768
        assert m["noise"] == "white" or m["noise_clip"] in ("4s/test/brown.wav", "4s/test/hum.wav")
    assert any(m["gain"] < 1 for m in manifest)   # 0 dB white noise on a 0.9 peak: scaled to 0.99

    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["rows"] == result["rows"]
    assert len(saved["commit"]) == 40 and isinstance(saved["dirty"], bool)
    assert {"cpu", "cores", "threads", "torch"} <= set(saved["machine"]) and saved["command"] and saved["date"]
    assert saved["set"]["voice"] == "tiny" and saved["set"]["seed"] == 3 and saved["set"]["snrs_db"] == [0, 10]
    conditions = ["real_0dB", "real_10dB", "white_0dB", "white_10dB"]
    assert [c["name"] for c in saved["conditions"]] == conditions and list(saved["rows"]) == rows
    for name, row in saved["rows"].items():
        assert list(row["conditions"]) == conditions
        for cell in [*row["conditions"].values(), row["all"]]:
            assert list(cell) == ["pesq", "estoi", "si_sdr", "rtf"]
            assert all(cell[c]["n"] == cell["si_sdr"]["n"] > 0 for c in ("pesq", "estoi"))
        assert (row["all"]["rtf"]["mean"] is None) == (name == "noisy")
    si_sdr = {name: saved["rows"][name]["conditions"]["white_0dB"]["si_sdr"]["mean"] for name in ("noisy", "wiener")}
    assert si_sdr["wiener"] > si_sdr["noisy"] + 3, si_sdr

    page = (tmp_path / "page.html").read_text()
    assert page.count("<audio") == 2 * (len(rows) - 1 + 2)   # noisy, every other row, clean; 2 mixtures
    assert "<h2>real_0dB/u" in page and "<h2>white_0dB/u" in page   # spread over the conditions


@pytest.mark.parametrize("case, message", [
    ("voice", "--voice: no folder"),
    ("list", "test_list.txt: no test list"),
    ("noise", "--noise: no noise clips"),
])
def test_denoise_benchmark_bad_input_says_what(tmp_path, roots, case, message):
    """A missing voice folder, test list or noise clips is one `error:` line naming it, before anything is written."""
    bench = load_bench()
    speech, noise = roots
    if case == "list":
        (speech / "tiny" / "16000" / "test_list.txt").unlink()
    if case == "noise":
        (noise / "clips.csv").write_text("clip,set,split,category\n4s/train/trained-on.wav,4s,train,x\n")
    voice = "nobody" if case == "voice" else "tiny"
    with pytest.raises(SystemExit) as exc:
        bench.main(["--voice", voice, "--speech", str(speech), "--noise", str(noise), "--set", str(tmp_path / "s"),
                    "--no-dnsmos"])
    text = str(exc.value)
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert not (tmp_path / "s").exists()


class FakeDenoiser:
    """Stands in for a loaded run: `denoise` halves its input and records how it was called."""

    def __init__(self, calls: list):
        self.calls = calls

    def denoise(self, noisy, sample_rate=None, steps=None, seed=None, **options):
        self.calls.append((len(noisy), sample_rate, steps, seed, *options.values()))
        return noisy * 0.5


def test_denoise_benchmark_run_rows(tmp_path, roots, monkeypatch):
    """--run with --steps gives one row per step count, --student one row, --prior one row per noise model, every
    call pipe.denoise(noisy, sample_rate=16000, steps=K, seed=0[, noise=…]); a set built with other options is
    refused."""
    bench = load_bench()
    speech, noise = roots
    calls = {}
    precisions = set()
    monkeypatch.setattr(bench, "_load", lambda run, option, precision: precisions.add(precision) or FakeDenoiser(
        calls.setdefault(option, [])))
    common = ["--voice", "tiny", "--speech", str(speech), "--noise", str(noise), "--n", "2", "--snrs", "0",
              "--threads", "1", "--set", str(tmp_path / "s")]
    result = bench.main([*common, "--rows", "noisy", "--run", "r", "--steps", "1,2", "--student", "st",
                         "--prior", "p", "--no-dnsmos", "--outputs", str(tmp_path / "out"), "--precision", "fp32",
                         "--json", str(tmp_path / "r.json")])
    assert list(result["rows"]) == ["noisy", "denoiser-1", "denoiser-2", "student", "prior-white", "prior-coloured"]
    assert sorted({c[1:] for c in calls["--run"]}) == [(RATE, 1, 0), (RATE, 2, 0)] and precisions == {"fp32"}
    assert {c[1:] for c in calls["--student"]} == {(RATE, None, 0)}
    assert {c[1:] for c in calls["--prior"]} == {(RATE, None, 0, "white"), (RATE, None, 0, "coloured")}
    assert len(calls["--student"]) == 4 + 1   # 2 utterances × 2 noises, and the untimed first call
    assert all(r["all"]["rtf"]["mean"] > 0 for name, r in result["rows"].items() if name != "noisy")
    with pytest.raises(SystemExit, match="--set .*other options.*n_utterances.*--rebuild"):
        bench.main([*common[:-2], "--n", "1", "--set", str(tmp_path / "s"), "--build-only"])
