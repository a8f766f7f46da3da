"""Long clips by windowed continuation (issue 26 point 4): `sample --seconds 20` for a music run, and whether its
seams can be heard.

    python -m benchmarks.continuation --model runs/music --seconds 20 --n 4 --out benchmarks/results/continuation.json
    python -m benchmarks.continuation --model runs/music --reference data/real/music/16000/test --save-wavs long/
    python -m benchmarks.continuation --model runs/music --seconds 5 --n 1 --steps 10          # smoke run

Generation: one call `audiodiff.load(RUN).sample(n, seconds=S, seed=--seed, steps=--steps, sampler=--sampler)`,
the clips `audiodiff sample --n N --seconds S` writes.  A waveform run makes audio longer than its window
(clip_length, what it was trained on) by windowed continuation (audiodiff/tasks.continuation): the first window is
sampled, each next one inpainted with its first `overlap` samples (tasks.continuation_overlap: a quarter window)
set to the end of the window before, and the rest of the overlap (tasks.continuation_fade: a quarter of it)
generated anew and cross-faded in.  The call is timed by the wall clock, set-up of a first call included (seconds
in all, and per second of audio made).

Seams: where each window's new material starts, tasks.continuation_seams(length, clip_length) with the overlap and
fade the pipeline uses; a seam spans its fade.  Scores (audiodiff/eval/seams.py): 20 ms Hann frames tile a clip; between neighbouring frames
  level step     |Δ 10·log10 frame energy| (dB)
  spectral step  log-spectral distance, sqrt(mean over bins of (Δ 10·log10 power)²) (dB)
A seam's steps are those of the frame pairs its fade touches (seams.seam_pairs); a clip's spread is the 95th
percentile of the steps at its other frame pairs, and a seam is audible when either step at any of its pairs
exceeds its clip's spread (the bar is the clip's own frame-to-frame variation: about one ordinary frame pair in
twenty passes it, so a seam touching three pairs would be called audible about one time in seven by chance).

Per clip: seams scored, audible seams, the largest seam step beside the spread, the excess (largest seam step −
spread, dB; above 0 means an audible seam), and the mean step at the seams beside the mean at the other frame pairs.
Summary: seams and audible seams in all, the worst excess and its clip, and the steps pooled over every seam and over
every other frame pair of every clip; a cell written "m ± h" is the mean and the 95 % Student-t half-width
(audiodiff.eval.metrics.mean_ci).

Reference (--reference FOLDER): --reference-n audio files under FOLDER (recursively; e.g. held-out real music clips),
drawn with --seed, read as mono at the run's rate (audiodiff.audio.load_audio): each file's spread (the 95th
percentile of all its frame-to-frame steps, over clips) and the 95th percentile of all their steps pooled, so real
music's own frame-to-frame spread stands beside the generated clips'.  Files under three frames are skipped, named.

Writes JSON (--out; the shared envelope: commit, dirty, machine, command, date) with the timing, every clip's report
and each seam's steps, the summary and the reference; prints the tables; --save-wavs DIR writes DIR/clip_000.wav …
to listen to.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from audiodiff.audio import AUDIO_EXTENSIONS, AudioReadError, load_audio, save_wav
from audiodiff.eval.metrics import mean_ci
from audiodiff.eval.seams import FRAME_S, PERCENTILE, frame_samples, frame_steps, seam_pairs, seam_report
from audiodiff.progress import progress

from .lib import envelope
from .lib.cli import InputError, run_cli, write_or_refuse
from .lib.envelope import ROOT

NAME = "continuation"
KINDS = {"level": "level step (dB)", "spectral": "spectral step, LSD (dB)"}
MIN_FRAMES = 3   # two frame pairs at least: a spread needs more than one step


# ---------------------------------------------------------------------------------------------------- the run
def load_run(run: Path, device: str | None) -> Any:
    """The run's pipeline; InputError unless it is a waveform run (seams in samples, long clips by continuation)."""
    import audiodiff

    try:
        pipe = audiodiff.load(run, device=device)
    except (OSError, ValueError) as exc:
        raise InputError(f"--model {run}: {exc}") from None
    if getattr(pipe, "domain", None) != "waveform":
        raise InputError(f"--model {run}: {getattr(pipe, 'what', 'this run')} cannot be measured here; this benchmark "
                         f"scores a waveform run's long clips (windowed continuation, seams in samples)")
    return pipe


def generate(pipe: Any, args: argparse.Namespace) -> tuple[np.ndarray, float]:
    """(clips float32 [n, L], seconds the sample call took): the public API's long clips, timed."""
    try:
        t0 = time.perf_counter()
        audio = pipe.sample(args.n, seconds=args.seconds, seed=args.seed, steps=args.steps, sampler=args.sampler,
                            progress=not args.no_progress)     # returned on the CPU: the clock sees the device finish
        elapsed = time.perf_counter() - t0
    except ValueError as exc:   # a sampler or step count the run refuses
        raise InputError(f"--model {args.model}: {exc}") from None
    return audio.numpy(), elapsed


# -------------------------------------------------------------------------------------------------- the seams
def clip_report(wave: np.ndarray, rate: int, seams: list[int], span: int) -> dict[str, Any]:
    """seam_report of one clip [L] (each seam covering `span` samples: the cross-fade) plus each seam's largest
    steps over its frame pairs, the excess of the largest over the spread, and the mean step at the seams' pairs
    beside the other frame pairs (needs the steps per pair, which seam_report keeps to itself)."""
    try:
        report = seam_report(wave, rate, seams, span)
    except ValueError as exc:   # no seam inside the frames, or too few pairs left for a spread
        raise InputError(f"cannot score the seams: {exc}; give a longer --seconds") from None
    steps = dict(zip(KINDS, frame_steps(wave, rate)))    # {kind: [pairs]}
    pairs = len(steps["level"])
    at = {s: seam_pairs(s, rate, pairs, span) for s in seams}
    scored = sorted({p for ps in at.values() for p in ps})
    others = np.setdiff1d(np.arange(pairs), scored)
    spread = {k: report[f"spread_{k}_db"] for k in KINDS}
    per_seam = [{"sample": int(s), "seconds": s / rate, "pairs": ps,
                 **{f"{k}_db": float(steps[k][ps].max()) for k in KINDS},
                 "audible": bool(any(steps[k][ps].max() > spread[k] for k in KINDS))}
                for s, ps in at.items() if ps]
    return {**report, "seam_positions": len(seams), "unscored_seams": [int(s) for s, ps in at.items() if not ps],
            **{f"{k}_excess_db": report[f"seam_{k}_db"] - spread[k] for k in KINDS},
            **{f"seam_{k}_mean_db": float(steps[k][scored].mean()) for k in KINDS},
            **{f"other_{k}_mean_db": float(steps[k][others].mean()) for k in KINDS},
            "per_seam": per_seam, "_steps": steps, "_scored": scored, "_others": others}


def summarise(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the clips, the worst excess per kind with its clip, and every seam's and every other pair's
    steps pooled over the clips (mean ± 95 % CI, and the pooled 95th percentile of the other pairs)."""
    out: dict[str, Any] = {"clips": len(clips), "seam_positions": sum(c["seam_positions"] for c in clips),
                           "seams": sum(c["seams"] for c in clips),
                           "audible_seams": sum(c["audible_seams"] for c in clips)}
    out["no_audible_seam"] = out["audible_seams"] == 0
    for k in KINDS:
        worst = max(clips, key=lambda c: c[f"{k}_excess_db"])
        out[f"worst_{k}"] = {"clip": worst["clip"], "seam_db": worst[f"seam_{k}_db"],
                             "spread_db": worst[f"spread_{k}_db"], "excess_db": worst[f"{k}_excess_db"]}
        seam = np.concatenate([c["_steps"][k][c["_scored"]] for c in clips])
        other = np.concatenate([c["_steps"][k][c["_others"]] for c in clips])
        out[f"seam_{k}_db"] = mean_ci(seam)
        out[f"other_{k}_db"] = mean_ci(other)
        out[f"other_{k}_p{PERCENTILE:g}_db"] = float(np.percentile(other, PERCENTILE))
        out[f"spread_{k}_db"] = mean_ci([c[f"spread_{k}_db"] for c in clips])
    return out


# ---------------------------------------------------------------------------------------------- the reference
def reference_files(folder: Path, n: int, seed: int) -> list[Path]:
    """n audio files under `folder` (recursively), drawn with `seed` (all when there are no more), sorted."""
    if not folder.is_dir():
        raise InputError(f"--reference {folder}: no such folder")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not paths:
        raise InputError(f"--reference {folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
    keep = np.sort(np.random.default_rng(seed).permutation(len(paths))[:n])
    return [paths[i] for i in keep]


def reference_spread(folder: Path, n: int, seed: int, rate: int, show: bool) -> dict[str, Any]:
    """Real audio's own frame-to-frame spread at `rate`: per file the PERCENTILE-th percentile of its level and
    spectral steps (mean ± 95 % CI over files), and the percentile and mean of all their steps pooled."""
    paths = reference_files(folder, n, seed)
    per_file: dict[str, list[float]] = {k: [] for k in KINDS}
    pooled: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    names, skipped = [], []
    for path in progress(paths, total=len(paths), description="reading the reference", enabled=show):
        name = path.relative_to(folder).as_posix()
        try:
            audio, _ = load_audio(path, rate)
        except AudioReadError as exc:
            raise InputError(str(exc)) from None
        if audio.numel() < MIN_FRAMES * frame_samples(rate):
            skipped.append(name)
            continue
        for k, steps in zip(KINDS, frame_steps(audio, rate)):
            per_file[k].append(float(np.percentile(steps, PERCENTILE)))
            pooled[k].append(steps)
        names.append(name)
    if not names:
        raise InputError(f"--reference {folder}: every drawn file is shorter than {MIN_FRAMES} frames of "
                         f"{FRAME_S * 1000:g} ms")
    out: dict[str, Any] = {"source": str(folder), "rate": rate, "count": len(names), "names": names,
                           "skipped_short": skipped}
    for k in KINDS:
        steps = np.concatenate(pooled[k])
        out[f"spread_{k}_db"] = mean_ci(per_file[k])
        out[f"pooled_{k}_p{PERCENTILE:g}_db"] = float(np.percentile(steps, PERCENTILE))
        out[f"pooled_{k}_db"] = mean_ci(steps)
    return out


# ----------------------------------------------------------------------------------------------------- output
def _fmt(cell: dict[str, Any] | float | None, digits: int = 2) -> str:
    """A mean_ci cell as "m ± h", a number as itself, None as a dash."""
    if cell is None:
        return "–"
    if not isinstance(cell, dict):
        return f"{cell:.{digits}f}"
    if cell["mean"] is None:
        return "–"
    return f"{cell['mean']:.{digits}f}" + ("" if cell["ci95"] is None else f" ± {cell['ci95']:.{digits}f}")


def print_tables(result: dict[str, Any]) -> None:
    """Per clip: seams, audible, largest seam step / spread, mean seam step / other pairs; then the summary beside
    the reference."""
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    gen = result["generation"]
    table = Table(title=f"{gen['n']} clips of {gen['seconds_per_clip']:g} s by continuation (window "
                        f"{gen['window']} samples, overlap {gen['overlap']}): seam steps in dB")
    for column in ("clip", "seams", "audible", "level max / spread", "spectral max / spread",
                   "level mean seam / other", "spectral mean seam / other"):
        table.add_column(column, justify="left" if column == "clip" else "right")
    for c in result["clips"]:
        table.add_row(c["clip"], str(c["seams"]), str(c["audible_seams"]),
                      *(f"{c[f'seam_{k}_db']:.2f} / {c[f'spread_{k}_db']:.2f}" for k in KINDS),
                      *(f"{c[f'seam_{k}_mean_db']:.2f} / {c[f'other_{k}_mean_db']:.2f}" for k in KINDS))
    console.print(table)

    s, ref = result["summary"], result.get("reference")
    table = Table(title=f"{s['audible_seams']} audible seams of {s['seams']}; generation {gen['seconds']:.1f} s "
                        f"({gen['seconds_per_audio_second']:.3g} s per second of audio)")
    table.add_column("quantity (dB)")
    table.add_column("generated", justify="right")
    table.add_column("reference", justify="right")
    for k, about in KINDS.items():
        worst = s[f"worst_{k}"]
        table.add_row(f"{about}: worst seam − its clip's spread ({worst['clip']})", _fmt(worst["excess_db"]), "")
        table.add_row(f"{about}: at the seams", _fmt(s[f"seam_{k}_db"]), "")
        table.add_row(f"{about}: elsewhere", _fmt(s[f"other_{k}_db"]), _fmt(ref and ref[f"pooled_{k}_db"]))
        table.add_row(f"{about}: spread, P{PERCENTILE:g} per clip", _fmt(s[f"spread_{k}_db"]),
                      _fmt(ref and ref[f"spread_{k}_db"]))
        table.add_row(f"{about}: P{PERCENTILE:g} pooled", _fmt(s[f"other_{k}_p{PERCENTILE:g}_db"]),
                      _fmt(ref and ref[f"pooled_{k}_p{PERCENTILE:g}_db"]))
    console.print(table)


def save_clips(folder: Path, audio: np.ndarray, rate: int) -> list[str]:
    """folder/clip_000.wav …, one per clip [n, L]; their paths."""
    return [str(save_wav(folder / f"clip_{i:03d}.wav", clip, rate)) for i, clip in enumerate(audio)]


# -------------------------------------------------------------------------------------------- command line
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.continuation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a waveform run (e.g. runs/music)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each clip (default 20)")
    ap.add_argument("--n", type=int, default=4, help="clips made (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the sampling and the reference draw (default 0)")
    ap.add_argument("--steps", type=int, help="reverse steps (default: the run's own)")
    ap.add_argument("--sampler", help="sampler (default: the run's own)")
    ap.add_argument("--device", help="device (default: the library's choice)")
    ap.add_argument("--threads", type=int, help="torch threads (default torch's)")
    ap.add_argument("--reference", type=Path, help="a folder of real audio: its own frame-to-frame spread")
    ap.add_argument("--reference-n", type=int, default=50, help="reference files drawn (default 50)")
    ap.add_argument("--out", type=Path, default=ROOT / f"benchmarks/results/{NAME}.json", help="the JSON result")
    ap.add_argument("--save-wavs", type=Path, help="write the clips here as WAV, to listen to")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """The benchmark; raises InputError for bad input."""
    from audiodiff import tasks

    if args.n < 1 or args.reference_n < 1 or (args.threads is not None and args.threads < 1):
        raise InputError("--n, --reference-n and --threads must be >= 1")
    if not args.seconds > 0 or not np.isfinite(args.seconds):
        raise InputError(f"--seconds {args.seconds}: give a positive number")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    pipe = load_run(args.model, args.device)
    rate, window = pipe.sample_rate, pipe.clip_length
    if round(args.seconds * rate) <= window:
        raise InputError(f"--seconds {args.seconds:g}: not longer than one window of the run ({window} samples = "
                         f"{window / rate:g} s), so there is no seam; give more")
    reference = None if args.reference is None else \
        reference_spread(args.reference, args.reference_n, args.seed, rate, not args.no_progress)  # errors first
    audio, elapsed = generate(pipe, args)
    length = audio.shape[-1]
    seams = tasks.continuation_seams(length, window)          # the pipeline's own overlap and fade (the defaults)
    fade = tasks.continuation_fade(tasks.continuation_overlap(window))
    reports = [{"clip": f"clip_{i:03d}", **clip_report(wave, rate, seams, fade)} for i, wave in enumerate(audio)]
    summary = summarise(reports)
    generation = {"model": str(args.model), "n": args.n, "seconds_per_clip": length / rate, "samples": length,
                  "rate": rate, "window": window, "overlap": tasks.continuation_overlap(window), "fade": fade,
                  "seam_samples": seams, "steps": args.steps, "sampler": args.sampler, "seed": args.seed,
                  "seconds": elapsed, "seconds_per_audio_second": elapsed / (args.n * length / rate)}
    result = {**envelope(NAME, "cuda" if pipe.device.type == "cuda" else "cpu", argv),
              "generation": generation,
              "definitions": "audiodiff/eval/seams.py: 20 ms Hann frames; level and spectral steps between "
                             f"neighbouring frames; spread = P{PERCENTILE:g} of a clip's steps away from its seams; a "
                             "seam (its cross-fade's frame pairs) is audible when a step there exceeds its clip's spread; excess = largest seam step − "
                             "spread; cells {mean, ci95 (Student-t half-width), n}",
              "summary": summary,
              "clips": [{k: v for k, v in r.items() if not k.startswith("_")} for r in reports]}
    if reference is not None:
        result["reference"] = reference
    if args.save_wavs is not None:
        result["wavs"] = save_clips(args.save_wavs, audio, rate)
    write_or_refuse(args.out, result, "--out")
    print_tables(result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line → the result dict (also written as JSON); bad input exits with one `error: …` line."""
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
