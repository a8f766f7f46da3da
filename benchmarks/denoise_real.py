"""Denoising on real recordings (issue 24): held-out utterances × held-out noise, every method on the same mixtures.

The set (built once, seeded, into --set, default data/bench/denoise/<voice>/; rebuilding with the same options
gives the same bytes):
  --n utterances of the voice's test list (<speech root>/<voice>/<rate>/test_list.txt, drawn with --seed)
  × SNR --snrs (default 0, 5, 10 dB) × noise {real: a held-out clip per mixture (`noise_clips`: the --noise root's
  clips.csv rows of split --noise-split in sets --noise-sets, or without clips.csv its WAVs), looped and cropped
  at a random offset to the utterance; white: Gaussian}.  SNR is whole-utterance RMS: noise · rms(clean) / rms(noise) /
  10^(SNR/20).  A mixture whose peak passes 0.99 is scaled down, clean and noisy by the same gain.
  Layout: clean/<noise>_<snr>dB/<id>.wav, noisy/ the same names (16-bit WAV), manifest.json (one entry a mixture:
  utterance, noise clip, category, offset, SNR, gain, seed).

Rows (--rows, plus one per run given): noisy (the input itself), nr-stationary / nr-nonstationary
(`noisereduce.reduce_noise(y, sr, stationary=…)` at its defaults; `pip install noisereduce`, never a runtime
dependency of audiodiff), wiener (`wiener` below), denoiser[-K] (--run: a supervised denoiser run, at its default
steps or at each of --steps K), student (--student: a distilled run, its default steps), prior-white and
prior-coloured (--prior: the training-free path of a waveform run, `noise="white"` / `"coloured"`).  Every run
row calls `pipe.denoise(noisy, sample_rate=rate, steps=K, seed=0)` (the prior rows add `noise=`), with the runs
loaded at --precision.

Columns, per row and per condition (noise × SNR) and over all mixtures: PESQ (wide-band), ESTOI, SI-SDR, DNSMOS
OVRL (--no-dnsmos leaves it out: about 1 s a clip) from audiodiff.eval.score_speech on the written outputs (16-bit
WAV, the same files `audiodiff eval OUT --clean CLEAN` scores), and RTF = seconds of the row's call / seconds of
audio, with torch on --threads (default 2) threads, after one untimed call; each cell is the mean over mixtures
with a 95 % Student-t confidence half-width.  Writes JSON (--json; envelope: commit, dirty, machine, command, date,
the set's description), prints tables, and with --report PATH.html a page that plays noisy / every row / clean
side by side for --report-files mixtures.

    python -m benchmarks.denoise_real --voice allison-en --run runs/denoiser --steps 1,4 --student runs/den-1step
    python -m benchmarks.denoise_real --voice june-fr --run runs/denoiser --report june.html       # unheard voice
    python -m benchmarks.denoise_real --n 2 --no-dnsmos --rows noisy,wiener                       # smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from audiodiff.atomic import atomic_write
from audiodiff.audio import load_audio, save_wav
from audiodiff.eval import score_speech
from audiodiff.eval.metrics import mean_ci
from audiodiff.eval.speech import choose_metrics
from audiodiff.noise_spectrum import frame_size, istft, quiet_frame_psd, stft

from .lib import RESULTS, envelope, write_result
from .lib.cli import InputError, add_precision, run_cli
from .lib.envelope import ROOT

NOISES = ("real", "white")
PRIOR_NOISES = ("white", "coloured")   # --prior: one row for each noise model of the training-free path
PEAK = 0.99
BUILTIN_ROWS = ("noisy", "nr-stationary", "nr-nonstationary", "wiener")
DEFAULT_ROWS = ",".join(BUILTIN_ROWS)
COLUMNS = {"pesq": "PESQ", "estoi": "ESTOI", "si_sdr": "SI-SDR dB", "dnsmos_ovrl": "DNSMOS OVRL", "rtf": "RTF"}


# ---------------------------------------------------------------------------------------------------------- the set
def held_out_utterances(voice_dir: Path) -> list[str]:
    """The relative paths test_list.txt names (`LJSpeech-1.1/wavs/<id>.wav`), each checked to exist."""
    if not voice_dir.is_dir():
        others = sorted(p.name for p in voice_dir.parent.parent.glob("[!.]*") if (p / voice_dir.name).is_dir())
        there = f" (voices there: {', '.join(others)})" if others else ""
        raise InputError(f"--voice: no folder {voice_dir}{there}")
    listing = voice_dir / "test_list.txt"
    if not listing.is_file():
        raise InputError(f"{listing}: no test list (one `LJSpeech-1.1/wavs/<id>.wav` a line: the held-out utterances)")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    if not names:
        raise InputError(f"{listing}: the test list is empty")
    for i, name in enumerate(names, 1):
        if not (voice_dir / name).is_file():
            raise InputError(f"{listing}: line {i} names {name}, which is not under {voice_dir}")
    return names


def noise_clips(root: Path, sets: tuple[str, ...], split: str) -> list[tuple[str, str]]:
    """(path relative to root, category) of the held-out noise clips, sorted: the rows of root/clips.csv whose set
    is in `sets` and split is `split`; without clips.csv the WAVs in root/<set>/<split>/ (category "unknown"), or
    where root has no such folder, every WAV under root (category: its folder's name)."""
    if not root.is_dir():
        raise InputError(f"--noise: no folder {root}")
    table = root / "clips.csv"
    if table.is_file():
        with table.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"clip", "set", "split", "category"} <= set(rows[0]):
            raise InputError(f"{table}: needs the columns clip, set, split, category")
        clips = [(r["clip"], r["category"]) for r in rows if r["set"] in sets and r["split"] == split]
        where = f"{table} rows of set {','.join(sets)} and split {split}"
    elif folders := [root / s / split for s in sets if (root / s).is_dir()]:
        clips = [(p.relative_to(root).as_posix(), "unknown") for f in folders for p in f.glob("*.wav")]
        where = f"WAV files in {', '.join(str(f) for f in folders)} (and no clips.csv)"
    else:
        clips = [(p.relative_to(root).as_posix(), p.parent.name) for p in root.rglob("*.wav")]
        where = f"WAV files under {root} (and no clips.csv)"
    if not clips:
        raise InputError(f"--noise: no noise clips: no {where}")
    missing = [c for c, _ in clips if not (root / c).is_file()]
    if missing:
        raise InputError(f"{table}: names {len(missing)} clip(s) missing under {root} (first: {missing[0]})")
    return sorted(clips)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _condition(noise: str, snr: float) -> str:
    return f"{noise}_{snr:g}dB"


def _mix(clean: np.ndarray, noise: np.ndarray, snr: float) -> tuple[np.ndarray, np.ndarray, float]:
    """clean, noise [L] → (clean, noisy, gain): noise at `snr` dB below clean (whole-clip RMS), both scaled by the
    gain that keeps the mixture's peak at most PEAK."""
    noisy = clean + noise * (_rms(clean) / _rms(noise) / 10 ** (snr / 20))
    gain = min(1.0, PEAK / float(np.abs(noisy).max()))
    return clean * gain, noisy * gain, gain


def set_description(voice: str, voice_dir: Path, noise_root: Path, noise_sets: tuple[str, ...], noise_split: str,
                    n: int, snrs: tuple[float, ...], seed: int, rate: int) -> dict:
    """Everything a set depends on (manifest.json's "set"); equal descriptions build identical sets."""
    return {"voice": voice, "voice_dir": str(voice_dir.resolve()), "noise_root": str(noise_root.resolve()),
            "noise_sets": list(noise_sets), "noise_split": noise_split, "n_utterances": n,
            "snrs_db": [float(s) for s in snrs], "noises": list(NOISES), "seed": seed, "rate": rate, "peak": PEAK}


def _draw_real(rng: np.random.Generator, clips: list[tuple[str, str]], root: Path, rate: int, length: int,
               cache: dict) -> tuple[np.ndarray, str, str, int]:
    """A held-out clip drawn with rng, looped from a random offset to `length` → (noise [L], clip, category, offset)."""
    for _ in range(20):
        clip, category = clips[int(rng.integers(len(clips)))]
        if clip not in cache:
            cache[clip] = load_audio(root / clip, rate)[0].numpy().astype(np.float64)
        wave = cache[clip]
        offset = int(rng.integers(len(wave)))
        noise = np.resize(np.roll(wave, -offset), length)   # np.resize repeats the clip: looped, then cropped
        if _rms(noise) > 1e-5:
            return noise, clip, category, offset
    raise InputError(f"--noise {root}: 20 draws in a row gave silent noise (last: {clip})")


def build_set(folder: Path, desc: dict, rebuild: bool = False) -> dict:
    """Build (or reuse) the set `desc` describes in `folder` → the manifest {"set": desc, "mixtures": [...]}.

    A folder holding a set of another description is refused unless `rebuild` (then clean/ and noisy/ go), and so
    is a non-empty folder without manifest.json (not a set: nothing in it is touched).  An interrupted build (its
    manifest lists no mixtures yet) starts over."""
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("set") == desc and old.get("mixtures") is not None and all(
                (folder / part / m["file"]).is_file() for m in old["mixtures"] for part in ("clean", "noisy")):
            return old
        if old.get("set") != desc and not rebuild:
            diff = [k for k in desc if old.get("set", {}).get(k) != desc[k]]
            raise InputError(f"--set {folder}: holds a set built with other options ({', '.join(diff)}): pass "
                             f"--rebuild to replace it, or another --set")
    elif folder.is_dir() and any(folder.iterdir()):
        raise InputError(f"--set {folder}: not empty and without manifest.json (not a set this script built): "
                         f"choose another --set")
    for part in ("clean", "noisy"):
        shutil.rmtree(folder / part, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n")   # recordings under their own licences: never committed
    manifest_path.write_text(json.dumps({"set": desc, "mixtures": None}) + "\n")   # ours, not finished
    voice_dir, noise_root, rate, seed = Path(desc["voice_dir"]), Path(desc["noise_root"]), desc["rate"], desc["seed"]
    names = held_out_utterances(voice_dir)
    clips = noise_clips(noise_root, tuple(desc["noise_sets"]), desc["noise_split"])
    order = np.random.default_rng(seed).permutation(len(names))[:desc["n_utterances"]]
    chosen = [names[i] for i in sorted(order)]
    mixtures, cache = [], {}
    for name in chosen:
        clean = load_audio(voice_dir / name, rate)[0].numpy().astype(np.float64)
        if _rms(clean) == 0:
            raise InputError(f"{voice_dir / name}: the utterance is silent")
        for noise_kind in desc["noises"]:
            for snr in desc["snrs_db"]:
                cond, stem = _condition(noise_kind, snr), Path(name).name
                key = [seed, zlib.crc32(f"{cond}/{name}".encode())]   # one stream per mixture: order-independent
                rng = np.random.default_rng(key)
                entry = {"file": f"{cond}/{stem}", "utterance": name, "condition": cond, "noise": noise_kind,
                         "snr_db": snr, "noise_clip": None, "category": "white", "noise_offset": 0}
                if noise_kind == "real":
                    noise, entry["noise_clip"], entry["category"], entry["noise_offset"] = _draw_real(
                        rng, clips, noise_root, rate, len(clean), cache)
                else:
                    noise = rng.standard_normal(len(clean))
                c, x, gain = _mix(clean, noise, snr)
                save_wav(folder / "clean" / entry["file"], c, rate)
                save_wav(folder / "noisy" / entry["file"], x, rate)
                mixtures.append({**entry, "gain": round(gain, 6), "seconds": len(clean) / rate, "seed": key})
    manifest = {"set": desc, "mixtures": mixtures}
    atomic_write(manifest_path, lambda f: f.write((json.dumps(manifest, indent=1) + "\n").encode()))
    return manifest


# ---------------------------------------------------------------------------------------------------- the methods
def wiener(noisy: np.ndarray, rate: int, alpha: float = 0.98, xi_min_db: float = -25.0,
           quiet_share: float = 0.1) -> np.ndarray:
    """STFT Wiener filter: noisy [L] float → [L] float32 (the `wiener` row).

    Hann frames of 32 ms (512 at 16 kHz; the next power of two), 75 % overlap.  Noise PSD λ_d(k): the mean
    |Y(k, l)|² over the `quiet_share` of frames with the least energy (assumes noise roughly stationary over the
    clip).  A-priori SNR by the decision-directed rule (Ephraim & Malah 1984): ξ(k, l) = max(α |Ŝ(k, l−1)|² / λ_d
    + (1 − α) max(γ(k, l) − 1, 0), ξ_min), γ = |Y|² / λ_d, α = 0.98, ξ_min = −25 dB; gain ξ / (1 + ξ) (Scalart &
    Filho 1996), Ŝ = gain · Y, inverse STFT by overlap-add."""
    n_fft, hop = frame_size(rate)
    x = torch.as_tensor(np.asarray(noisy), dtype=torch.float64)
    spec = stft(x, n_fft, hop)                                                                 # [F, T]
    noise_psd = quiet_frame_psd(spec.abs().pow(2), quiet_share).numpy()
    spec = spec.numpy()
    power = np.abs(spec) ** 2
    xi_min, gains, previous = 10 ** (xi_min_db / 10), np.empty_like(power), np.zeros(power.shape[0])
    for frame in range(power.shape[1]):
        gamma = power[:, frame] / noise_psd
        xi = np.maximum(alpha * previous / noise_psd + (1 - alpha) * np.maximum(gamma - 1, 0), xi_min)
        gains[:, frame] = xi / (1 + xi)
        previous = gains[:, frame] ** 2 * power[:, frame]
    return istft(torch.from_numpy(spec * gains), n_fft, hop, x.shape[-1]).numpy().astype(np.float32)


@dataclass
class Row:
    """One method: `call(noisy [L] float32, rate) → [L]`; `about` says what it is (JSON, report)."""
    name: str
    about: str
    call: Callable[[np.ndarray, int], np.ndarray] | None   # None: the noisy input itself


def _noisereduce(stationary: bool) -> Callable[[np.ndarray, int], np.ndarray]:
    try:
        import noisereduce
    except ImportError:
        raise InputError("--rows nr-stationary / nr-nonstationary need the noisereduce package: pip install "
                         "noisereduce (or leave them out of --rows)") from None
    return lambda y, rate: noisereduce.reduce_noise(y=y, sr=rate, stationary=stationary)


def _load(run: Path, option: str, precision: str = "auto"):
    import audiodiff

    try:
        return audiodiff.load(run, device="cpu", precision=precision)
    except Exception as exc:   # whatever the run's loader raises, said in one line naming the option
        raise InputError(f"{option} {run}: cannot load the run ({exc})") from None


def _denoise(pipe, steps: int | None, **options) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda y, rate: pipe.denoise(y, sample_rate=rate, steps=steps, seed=0, **options)


def make_rows(names: str, run: Path | None, steps: str | None, student: Path | None, prior: Path | None,
              precision: str = "auto") -> list[Row]:
    """--rows (built-in names) plus one row per run option, each run loaded at `precision`."""
    chosen = [n for n in names.replace(" ", "").split(",") if n]
    if unknown := [n for n in chosen if n not in BUILTIN_ROWS]:
        raise InputError(f"--rows {','.join(unknown)}: choose from {', '.join(BUILTIN_ROWS)} (runs: --run, "
                         f"--student, --prior)")
    rows = {"noisy": lambda: Row("noisy", "the noisy input itself", None),
            "nr-stationary": lambda: Row("nr-stationary", "noisereduce, stationary=True, defaults", _noisereduce(True)),
            "nr-nonstationary": lambda: Row("nr-nonstationary", "noisereduce, stationary=False, defaults",
                                            _noisereduce(False)),
            "wiener": lambda: Row("wiener", "STFT Wiener filter, decision-directed ξ, quietest-10 % noise PSD",
                                  wiener)}
    out = [rows[n]() for n in dict.fromkeys(chosen)]
    if steps is not None and run is None:
        raise InputError("--steps needs --run (the supervised denoiser whose step counts it lists)")
    if run is not None:
        try:
            counts = [int(s) for s in steps.split(",") if s.strip()] if steps else [None]
        except ValueError:
            raise InputError(f"--steps {steps}: give positive integers separated by commas (1,2,4)") from None
        if any(k is not None and k < 1 for k in counts) or not counts:
            raise InputError(f"--steps {steps}: give positive integers separated by commas (1,2,4)")
        pipe = _load(run, "--run", precision)
        out += [Row("denoiser" if k is None else f"denoiser-{k}",
                    f"supervised denoiser {run}, " + ("its default steps" if k is None else f"{k} steps"),
                    _denoise(pipe, k)) for k in dict.fromkeys(counts)]
    if student is not None:
        out.append(Row("student", f"distilled student {student}, its default steps",
                       _denoise(_load(student, "--student", precision), None)))
    if prior is not None:
        pipe = _load(prior, "--prior", precision)
        out += [Row(f"prior-{kind}", f"training-free path of waveform run {prior}, noise = {kind!r}",
                    _denoise(pipe, None, noise=kind)) for kind in PRIOR_NOISES]
    if not out:
        raise InputError("no rows: give --rows and / or --run, --student, --prior")
    return out


# -------------------------------------------------------------------------------------------------- run and score
def run_row(row: Row, set_dir: Path, out_dir: Path, mixtures: list[dict], rate: int) -> dict[str, float | None]:
    """Write row's output for every mixture under out_dir (emptied first) → {file: RTF}; one untimed call first."""
    if row.call is None:
        return {m["file"]: None for m in mixtures}
    shutil.rmtree(out_dir, ignore_errors=True)
    with torch.no_grad():
        first = load_audio(set_dir / "noisy" / mixtures[0]["file"])[0].numpy()
        row.call(first[:rate], rate)
        rtf = {}
        for m in mixtures:
            noisy = load_audio(set_dir / "noisy" / m["file"])[0].numpy()
            start = time.perf_counter()
            out = row.call(noisy, rate)
            seconds = time.perf_counter() - start
            out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out, dtype=np.float32)
            if out.shape != noisy.shape or not np.isfinite(out).all():
                raise RuntimeError(f"row {row.name} on {m['file']}: gave shape {out.shape} (input {noisy.shape}) or "
                                   f"non-finite samples")
            save_wav(out_dir / m["file"], out, rate)
            rtf[m["file"]] = seconds / (len(noisy) / rate)
    return rtf


def cells(files: list[dict], conditions: list[str], columns: list[str]) -> dict:
    """Per-file scores → {"conditions": {condition: {column: mean_ci}}, "all": {column: mean_ci}}."""
    def block(group: list[dict]) -> dict:
        return {c: mean_ci([f[c] for f in group if f.get(c) is not None]) for c in columns}
    return {"conditions": {c: block([f for f in files if f["condition"] == c]) for c in conditions},
            "all": block(files)}


def _fmt(cell: dict, column: str) -> str:
    if cell["mean"] is None:
        return "–"
    digits = 1 if column == "si_sdr" else 3 if column == "rtf" else 2
    return f"{cell['mean']:.{digits}f}" + ("" if cell["ci95"] is None else f" ± {cell['ci95']:.{digits}f}")


def print_tables(result: dict) -> None:
    """The pooled table (rows × columns), then one table per column (rows × conditions)."""
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    rows, columns, conditions = result["rows"], result["columns"], [c["name"] for c in result["conditions"]]
    title = f"denoising, {result['set']['voice']}: all {len(result['mixtures'])} mixtures (mean ± 95 % CI)"
    table = Table(title=title)
    table.add_column("row")
    for c in columns:
        table.add_column(COLUMNS[c], justify="right")
    for name, row in rows.items():
        table.add_row(name, *(_fmt(row["all"][c], c) for c in columns))
    console.print(table)
    for c in columns:
        table = Table(title=f"{COLUMNS[c]} per condition")
        table.add_column("row")
        for cond in conditions:
            table.add_column(cond, justify="right")
        for name, row in rows.items():
            table.add_row(name, *(_fmt(row["conditions"][cond][c], c) for cond in conditions))
        console.print(table)


def write_page(path: Path, result: dict, set_dir: Path, out_dirs: dict[str, Path], k: int) -> Path:
    """The report page: for k mixtures spread over the conditions, noisy / each row / clean as one group."""
    from audiodiff.eval.report import ReportClip, write_report

    mixtures, conditions = result["mixtures"], [c["name"] for c in result["conditions"]]
    utterances = list(dict.fromkeys(m["utterance"] for m in mixtures))
    by_key = {(m["condition"], m["utterance"]): m for m in mixtures}
    picks = [by_key[(conditions[i * len(conditions) // k % len(conditions)], utterances[i % len(utterances)])]
             for i in range(k)]   # conditions spread evenly (k = 4 of 6: real 0, 5 dB, white 0, 5 dB)
    clips = []
    for m in {m["file"]: m for m in picks}.values():   # k past the set's size repeats mixtures: once each
        label = f"{m['file']} ({m['category']}, {m['snr_db']:g} dB)"
        sources = [("noisy", set_dir / "noisy")] + [(n, d) for n, d in out_dirs.items() if n != "noisy"] \
            + [("clean", set_dir / "clean")]
        for name, folder in sources:
            audio, rate = load_audio(folder / m["file"])
            clips.append(ReportClip(name, audio, rate, label))
    metrics = {f"{name} · {COLUMNS[c]}": row["all"][c]["mean"] for name, row in result["rows"].items()
               for c in result["columns"] if row["all"][c]["mean"] is not None}
    card = {"voice": result["set"]["voice"], "set": str(set_dir), "mixtures": len(mixtures),
            "SNRs (dB)": ", ".join(f"{s:g}" for s in result["set"]["snrs_db"]), "seed": result["set"]["seed"],
            "commit": f"{result['commit']}{' (dirty)' if result['dirty'] else ''}", "CPU": result["machine"]["cpu"],
            "threads": result["threads"], "date": result["date"]}
    return write_report(path, clips, metrics=metrics, card=card, card_title="Benchmark",
                        title=f"denoising on real recordings: {result['set']['voice']}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="allison-en", help="a voice folder under --speech (default allison-en)")
    ap.add_argument("--speech", type=Path, default=ROOT / "data/real/speech", help="the speech root")
    ap.add_argument("--noise", type=Path, default=ROOT / "data/real/noise", help="the noise root")
    ap.add_argument("--noise-sets", default="4s,1s", help="clips.csv sets to draw from (default 4s,1s)")
    ap.add_argument("--noise-split", default="test", help="clips.csv split to draw from (default test)")
    ap.add_argument("--rate", type=int, default=16000, help="sample rate folder of the voice (default 16000)")
    ap.add_argument("--n", type=int, default=20, help="utterances (default 20; all when the list is shorter)")
    ap.add_argument("--snrs", default="0,5,10", help="SNRs in dB (default 0,5,10)")
    ap.add_argument("--seed", type=int, default=0, help="the set's seed (default 0)")
    ap.add_argument("--set", type=Path, help="the set's folder (default data/bench/denoise/<voice>)")
    ap.add_argument("--rebuild", action="store_true", help="replace a set built with other options")
    ap.add_argument("--build-only", action="store_true", help="build (or check) the set and stop")
    ap.add_argument("--rows", default=DEFAULT_ROWS, help=f"built-in rows (default {DEFAULT_ROWS})")
    ap.add_argument("--run", type=Path, help="a supervised denoiser run: rows denoiser[-K]")
    ap.add_argument("--steps", help="network calls per clip for --run, comma-separated (default: the run's own)")
    ap.add_argument("--student", type=Path, help="a distilled student run: row student (its default steps)")
    ap.add_argument("--prior", type=Path,
                    help="a waveform run: rows prior-white and prior-coloured (the training-free path)")
    ap.add_argument("--no-dnsmos", action="store_true", help="leave DNSMOS out (about 1 s a clip)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads while timing (default 2)")
    add_precision(ap)
    ap.add_argument("--outputs", type=Path, help="where each row's outputs go, <outputs>/<row>/ (emptied first; "
                                                 "default benchmarks/results/denoise_real-<voice>/)")
    ap.add_argument("--json", type=Path, help="default benchmarks/results/denoise_real-<voice>.json")
    ap.add_argument("--report", type=Path, help="write a page with players and spectrograms here (.html)")
    ap.add_argument("--report-files", type=int, default=4, help="mixtures on the page (default 4)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """The benchmark; raises InputError for bad input."""
    try:
        snrs = tuple(float(s) for s in args.snrs.split(",") if s.strip())
    except ValueError:
        raise InputError(f"--snrs {args.snrs}: give numbers in dB separated by commas (0,5,10)") from None
    if not snrs or args.n < 1 or args.threads < 1 or args.report_files < 1:
        raise InputError("--snrs needs one value at least; --n, --threads and --report-files must be >= 1")
    metric_names = ["pesq", "estoi", "si_sdr"] + ([] if args.no_dnsmos else ["dnsmos"])
    try:
        choose_metrics(metric_names)
    except ValueError as exc:   # SpeechExtraMissing names the pip command
        raise InputError(f"{exc} (or --no-dnsmos for DNSMOS)") from None
    torch.set_num_threads(args.threads)
    set_dir = args.set or ROOT / "data/bench/denoise" / args.voice
    desc = set_description(args.voice, args.speech / args.voice / str(args.rate), args.noise,
                           tuple(s for s in args.noise_sets.split(",") if s), args.noise_split, args.n, snrs,
                           args.seed, args.rate)
    held_out_utterances(Path(desc["voice_dir"]))   # refuse bad input before anything is written
    noise_clips(Path(desc["noise_root"]), tuple(desc["noise_sets"]), desc["noise_split"])
    rows = [] if args.build_only else make_rows(args.rows, args.run, args.steps, args.student, args.prior,
                                                args.precision)
    manifest = build_set(set_dir, desc, args.rebuild)
    mixtures = manifest["mixtures"]
    print(f"set: {len(mixtures)} mixtures in {set_dir}", file=sys.stderr, flush=True)
    if args.build_only:
        return {"set": manifest["set"], "mixtures": mixtures}
    outputs = args.outputs or RESULTS / f"denoise_real-{args.voice}"
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / ".gitignore").write_text("*\n")   # outputs of licensed recordings: never committed
    columns = ["pesq", "estoi", "si_sdr"] + ([] if args.no_dnsmos else ["dnsmos_ovrl"]) + ["rtf"]
    conditions = list(dict.fromkeys(m["condition"] for m in mixtures))
    result_rows, files, skipped, out_dirs = {}, {}, [], {}
    for row in rows:
        start = time.perf_counter()
        out_dirs[row.name] = set_dir / "noisy" if row.call is None else outputs / row.name
        rtf = run_row(row, set_dir, out_dirs[row.name], mixtures, args.rate)
        scored = score_speech(out_dirs[row.name], set_dir / "clean", metrics=metric_names)
        by_file = {f["file"]: f for f in scored["files"]}
        files[row.name] = [{"file": m["file"], "condition": m["condition"], **by_file.get(m["file"], {}),
                            "rtf": rtf[m["file"]]} for m in mixtures]
        skipped += [f"{row.name}: {line}" for line in scored["skipped"]]
        result_rows[row.name] = {"about": row.about, **cells(files[row.name], conditions, columns)}
        print(f"{row.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    result = {**envelope("denoise_real", argv=argv), "threads": args.threads,
              "set": {**manifest["set"], "folder": str(set_dir)}, "metrics": metric_names, "columns": columns,
              "conditions": [{"name": c, "noise": c.split("_")[0], "snr_db": next(m["snr_db"] for m in mixtures
                                                                                   if m["condition"] == c),
                              "n": sum(m["condition"] == c for m in mixtures)} for c in conditions],
              "rows": result_rows, "skipped": skipped, "mixtures": mixtures, "files": files}
    write_result(args.json or RESULTS / f"denoise_real-{args.voice}.json", result)
    print_tables(result)
    if args.report:
        write_page(args.report, result, set_dir, out_dirs, args.report_files)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command line → the result dict (also written as JSON); bad input exits with one `error: …` line."""
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
