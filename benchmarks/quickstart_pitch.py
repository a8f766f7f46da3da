"""Quickstart acceptance figure: do generated clips land on the training notes?

Trains recipes/quickstart (unless --run points at a finished run), samples N clips, and for each finds
the dominant frequency (Hann-windowed FFT peak, refined by parabolic interpolation).  A clip counts as
"on a note" when that frequency is within 3% of one of the recipe's notes.  Prints a table, writes JSON.

    python benchmarks/quickstart_pitch.py                      # train + evaluate (times the training)
    python benchmarks/quickstart_pitch.py --run runs/quickstart  # evaluate an existing run
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import librosa
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import audiodiff  # noqa: E402
from audiodiff.recipe import load_recipe  # noqa: E402


def dominant_frequency(wave: np.ndarray, sample_rate: int, pad: int = 8) -> float:
    """Frequency (Hz) of the strongest spectral peak of `wave` [L]."""
    n = len(wave) * pad
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), n=n))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    if 0 < k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * sample_rate / n


def evaluate(run: Path, notes: list[int], n: int, seed: int, sampler: str | None, steps: int | None,
             tolerance: float = 0.03, precision: str = "auto") -> dict:
    pipe = audiodiff.load(run, device="cpu", precision=precision)
    t0 = time.perf_counter()
    waves = pipe.sample(n, seed=seed, sampler=sampler, steps=steps).numpy()
    sample_seconds = time.perf_counter() - t0
    return {**score_pitch(waves, pipe.sample_rate, notes, tolerance), "sample_seconds": round(sample_seconds, 2),
            "sampler": sampler or pipe.sample_defaults.get("sampler"),
            "steps": steps or pipe.sample_defaults.get("steps"), "precision": precision}


def score_pitch(waves: np.ndarray, sample_rate: int, notes: list[int], tolerance: float = 0.03) -> dict:
    """The pitch check on clips waves [N, L]: the share whose spectral peak lies within `tolerance` of a note,
    and the share of the notes that some clip hits."""
    n = len(waves)
    note_hz = librosa.midi_to_hz(np.array(notes))
    hits, found = [], set()
    for w in waves:
        f = dominant_frequency(w, sample_rate)
        rel = np.abs(f / note_hz - 1)
        j = int(np.argmin(rel))
        on_note = bool(rel[j] <= tolerance) and float(np.abs(w).max()) > 1e-3
        hits.append({"freq_hz": round(float(f), 2), "nearest_midi": int(notes[j]), "rel_error": round(float(rel[j]), 4),
                     "on_note": on_note})
        if on_note:
            found.add(int(notes[j]))
    return {"clips": n, "on_note_fraction": sum(h["on_note"] for h in hits) / n,
            "notes_present_fraction": len(found) / len(set(notes)), "notes_present": sorted(found),
            "per_clip": hits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes/quickstart"))
    ap.add_argument("--run", default=None, help="evaluate this run instead of training a fresh one")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="of the network while sampling (auto: bf16 where the CPU has it)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks/results/quickstart_pitch.json"))
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    result: dict = {"recipe": args.recipe}
    run = Path(args.run) if args.run else ROOT / "runs/bench-quickstart"
    if not args.run:
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "train", args.recipe, "--out", str(run),
                        "--no-progress"], check=True)
        result["train_seconds"] = round(time.perf_counter() - t0, 1)
    result.update(evaluate(run, recipe.data.notes, args.n, args.seed, args.sampler, args.steps,
                           precision=args.precision))

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"{'metric':<28}{'value':>10}")
    for key in ("train_seconds", "on_note_fraction", "notes_present_fraction", "sample_seconds"):
        if key in result:
            print(f"{key:<28}{result[key]:>10}")
    print(f"notes present: {result['notes_present']}  (of {sorted(set(recipe.data.notes))})")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
