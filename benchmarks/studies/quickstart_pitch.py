"""Frozen study (the quickstart's acceptance figure): do generated clips land on the training notes?  Answer:
benchmarks/LOG.md, "Quickstart pitch check", and the README's sampler table.

Trains recipes/quickstart (unless --run points at a finished run), samples N clips, and for each finds
the dominant frequency (Hann-windowed FFT peak, refined by parabolic interpolation).  A clip counts as
"on a note" when that frequency is within 3% of one of the recipe's notes.  Prints a table, writes JSON.

    python -m benchmarks.studies.quickstart_pitch                      # train + evaluate (times the training)
    python -m benchmarks.studies.quickstart_pitch --run runs/quickstart  # evaluate an existing run
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import audiodiff
from audiodiff.recipe import load_recipe

from ..lib import RESULTS, envelope, write_result
from ..lib.envelope import ROOT
from ..lib.quality import score_pitch


def evaluate(run: Path, notes: list[int], n: int, seed: int, sampler: str | None, steps: int | None,
             tolerance: float = 0.03, precision: str = "auto") -> dict:
    pipe = audiodiff.load(run, device="cpu", precision=precision)
    t0 = time.perf_counter()
    waves = pipe.sample(n, seed=seed, sampler=sampler, steps=steps).numpy()
    sample_seconds = time.perf_counter() - t0
    return {**score_pitch(waves, pipe.sample_rate, notes, tolerance), "sample_seconds": round(sample_seconds, 2),
            "sampler": sampler or pipe.sample_defaults.get("sampler"),
            "steps": steps or pipe.sample_defaults.get("steps"), "precision": precision}


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
    ap.add_argument("--json", default=str(RESULTS / "quickstart_pitch.json"))
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    result: dict = {**envelope("studies.quickstart_pitch"), "recipe": args.recipe}
    run = Path(args.run) if args.run else ROOT / "runs/bench-quickstart"
    if not args.run:
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "train", args.recipe, "--out", str(run),
                        "--no-progress"], check=True)
        result["train_seconds"] = round(time.perf_counter() - t0, 1)
    result.update(evaluate(run, recipe.data.notes, args.n, args.seed, args.sampler, args.steps,
                           precision=args.precision))

    write_result(args.json, result)
    print(f"{'metric':<28}{'value':>10}")
    for key in ("train_seconds", "on_note_fraction", "notes_present_fraction", "sample_seconds"):
        if key in result:
            print(f"{key:<28}{result[key]:>10}")
    print(f"notes present: {result['notes_present']}  (of {sorted(set(recipe.data.notes))})")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
