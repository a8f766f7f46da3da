"""Gap filling in real music (issues 26 and 30): one gap per clip and gap length, every method on the same gaps.

    python -m benchmarks.gap_fill --clips data/real/music/16000/test --out benchmarks/results/gap_fill.json
    python -m benchmarks.gap_fill --clips FOLDER --model runs/music --jumps 1,10 --jump-length 10 --report gaps/
    python -m benchmarks.gap_fill --clips clips.txt --n 20 --gaps 20,100 --methods silence,ar       # smoke run

Clips: every audio file under the folder --clips (recursively), or the files a text file --clips lists (one path a
line, relative to the list's folder; blank lines and # comments skipped); a clip's name is its path relative to the
folder or to the list's folder.  --n of them (default 200) are drawn with --seed, read as mono and resampled to
--rate (16 kHz) by audiodiff.audio.load_audio.

Gaps: for each clip and each length in --gaps (ms; default 20,50,100,200,400) one gap at a random place, seeded by
(--seed, the clip's name, the length) so a clip's gaps do not depend on --n or on the other lengths, keeping
max(gap, --context) samples of context each side (--context default 0.256 s).  A clip too short for that is an
error.

Methods (--methods, default all three, plus one per --jumps value for a waveform --model, one for a gapfill one;
--model may be given several times, each run's rows then named after its folder):
  silence      the gap zeroed: the input as a listener hears it, and the floor (SNR exactly 0 dB)
  crossfade    the audio before the gap continued forward, cross-faded linearly into the audio after it continued
               backward (benchmarks/lib/ar_fill.linear_crossfade_fill)
  ar           Janssen's AR interpolation from --context seconds each side, order --ar-order (capped at 3·gap + 2),
               --ar-iterations rounds (benchmarks/lib/ar_fill.ar_fill)
  repaint[-JxK] --model RUN: `audiodiff.load(RUN).inpaint(crop, mask, resample_jumps=J, jump_length=K, steps, seed)`
               on a crop of the run's clip_length (at least the gap + 100 ms each side) centred on the gap; one row per
               J in --jumps (1 = plain RePaint conditioning; RePaint's paper uses 10 × 10)
  conditional  --model RUN of a gapfill run (recipes/music-gapfill): its `inpaint(crop, mask, steps, seed)` on the
               same crop, the network hearing the context and the gap's mask (the run's own sampler by default)

Scores, inside the gap only (audiodiff/eval/gaps.py): SNR (dB) and log-spectral distance (dB, 512-sample Hann frames,
hop 128, floored at −100 dB, over the frames overlapping the gap), plus seconds per fill; each cell is the mean over
clips ± the 95 % Student-t half-width.  Writes JSON (--out; the shared envelope: commit, dirty, machine, command,
date) with every cell and every gap's scores, prints the tables, and with --report DIR writes DIR/gap_fill.html,
which plays the clip with the gap / every fill / the original around the gap for --report-clips clips per length.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from audiodiff.audio import AUDIO_EXTENSIONS, AudioReadError, load_audio
from audiodiff.eval.gaps import gap_lsd, gap_snr, random_gaps
from audiodiff.eval.metrics import mean_ci
from audiodiff.progress import progress

from .lib import envelope
from .lib.cli import InputError, add_precision, run_cli, write_or_refuse
from .lib.ar_fill import DEFAULT_CONTEXT_S, DEFAULT_ITERATIONS, DEFAULT_ORDER, ar_fill, linear_crossfade_fill, \
    silence_fill
from .lib.envelope import ROOT

NAME = "gap_fill"
BUILTIN = ("silence", "crossfade", "ar")
METRICS = {"snr_db": "SNR in the gap (dB)", "lsd_db": "LSD over frames overlapping the gap (dB)",
           "seconds": "seconds per fill"}
PAGE_CONTEXT_S = 0.5   # audio kept each side of the gap on the report page


@dataclass
class Method:
    """A row: `fill(audio [L] float32, start, length, key) -> [L]`, key = (clip name, gap length) for seeding."""
    name: str
    about: str
    fill: Callable[[np.ndarray, int, int, tuple[str, int]], np.ndarray]


@dataclass
class Clip:
    name: str
    audio: np.ndarray          # float32 [L] at the benchmark's rate
    gaps: dict[int, int] = field(default_factory=dict)   # gap length (samples) → start


# ------------------------------------------------------------------------------------------------------- clips
def find_clips(source: Path) -> list[tuple[str, Path]]:
    """(name, path) of every clip: audio files under a folder (names relative to it), or the files a list names."""
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not paths:
            raise InputError(f"{source}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
        return [(p.relative_to(source).as_posix(), p) for p in paths]
    if not source.is_file():
        raise InputError(f"--clips {source}: no such folder or list file")
    try:
        lines = source.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--clips {source}: cannot read it as a list of files ({exc})") from None
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not names:
        raise InputError(f"--clips {source}: the list names no files")
    out = [(n, (source.parent / n)) for n in names]
    missing = [n for n, p in out if not p.is_file()]
    if missing:
        raise InputError(f"--clips {source}: {len(missing)} listed file(s) missing, first {missing[0]}")
    return out


def choose(clips: list[tuple[str, Path]], n: int, seed: int) -> list[tuple[str, Path]]:
    """n clips drawn with `seed` (all when there are no more), in their listed order."""
    if len(clips) <= n:
        return clips
    picks = np.random.default_rng(seed).choice(len(clips), size=n, replace=False)
    return [clips[i] for i in sorted(picks)]


def margin_for(length: int, context: int) -> int:
    """Samples of context each side of a gap of `length`: max(length, context) (the crossfade reads `length`)."""
    return max(length, context)


def load_clips(chosen: list[tuple[str, Path]], rate: int, lengths: list[int], context: int, seed: int,
               show: bool) -> list[Clip]:
    """Read and resample the clips, and place each gap; InputError for an unreadable or too short clip."""
    out = []
    for name, path in progress(chosen, total=len(chosen), description="reading clips", enabled=show):
        try:
            audio, _ = load_audio(path, rate)
        except AudioReadError as exc:
            raise InputError(str(exc)) from None
        clip = Clip(name, audio.numpy().astype(np.float32))
        for length in lengths:
            margin = margin_for(length, context)
            if clip.audio.size < length + 2 * margin:
                raise InputError(f"clip {name}: {clip.audio.size / rate:.3g} s cannot hold a {1000 * length / rate:g} "
                                 f"ms gap with {1000 * margin / rate:g} ms of context each side (needs "
                                 f"{(length + 2 * margin) / rate:.3g} s); give shorter --gaps or longer clips")
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), length])
            clip.gaps[length] = int(random_gaps(clip.audio.size, length, 1, rng, margin)[0])
        out.append(clip)
    return out


# ----------------------------------------------------------------------------------------------------- methods
def builtin_methods(names: list[str], rate: int, context_s: float, order: int, iterations: int) -> list[Method]:
    table = {
        "silence": Method("silence", "the gap zeroed (the input with its gap)",
                          lambda x, s, n, key: silence_fill(x, s, n)),
        "crossfade": Method("crossfade", "the audio before the gap cross-faded linearly into the audio after it",
                            lambda x, s, n, key: linear_crossfade_fill(x, s, n)),
        "ar": Method("ar", f"Janssen AR interpolation, {context_s:g} s context each side, order <= {order}, "
                           f"{iterations} iterations",
                     lambda x, s, n, key: ar_fill(x, s, n, rate, context_s, order, iterations)),
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InputError(f"--methods: unknown {', '.join(unknown)} (choose from {', '.join(BUILTIN)})")
    return [table[n] for n in names]


def model_methods(run: Path, jumps: list[int], jump_length: int, steps: int | None, sampler: str | None, seed: int,
                  device: str | None, rate: int, precision: str = "auto", prefix: str = "") -> tuple[list[Method], Any]:
    """The rows of one run (loaded at `precision`), each name after `prefix`: a waveform prior's one per
    resample_jumps value over its RePaint inpaint (sampler None: ddpm, as RePaint), a gapfill run's one row
    "conditional" (sampler None: the run's own); (rows, the pipeline)."""
    import audiodiff
    import torch

    try:
        pipe = audiodiff.load(run, device=device, precision=precision)
    except (OSError, ValueError) as exc:
        raise InputError(f"--model {run}: {exc}") from None
    if not hasattr(pipe, "inpaint"):
        raise InputError(f"--model {run}: a {pipe.domain} run cannot inpaint (a waveform or gapfill run can)")
    if pipe.sample_rate != rate:
        raise InputError(f"--model {run} works at {pipe.sample_rate} Hz, the clips are read at {rate} Hz: "
                         f"give --rate {pipe.sample_rate}")
    conditional = pipe.domain == "gapfill"
    if not conditional:
        sampler = sampler or "ddpm"

    def make(j: int) -> Callable[[np.ndarray, int, int, tuple[str, int]], np.ndarray]:
        def fill(x: np.ndarray, start: int, length: int, key: tuple[str, int]) -> np.ndarray:
            width = min(x.size, max(pipe.clip_length, length + 2 * (rate // 10)))
            lo = min(max(0, start + length // 2 - width // 2), x.size - width)
            crop = torch.from_numpy(np.ascontiguousarray(x[lo:lo + width]))
            mask = torch.zeros(width, dtype=torch.bool)
            mask[start - lo:start - lo + length] = True
            item_seed = zlib.crc32(f"{seed}/{key[0]}/{key[1]}".encode())
            jumping = {} if conditional else {"resample_jumps": j, "jump_length": jump_length}
            try:
                out = pipe.inpaint(crop, mask, steps=steps, sampler=sampler, seed=item_seed, window=width,
                                   **jumping)
            except ValueError as exc:   # a sampler or step count the run refuses
                raise InputError(f"--model {run}: {exc}") from None
            y = x.copy()
            y[lo:lo + width] = out.numpy()
            return y
        return fill

    if conditional:
        about = (f"{run}: a gapfill run (conditional diffusion), {sampler or 'the run sampler'}, steps "
                 f"{steps or 'the run default'}")
        return [Method(prefix + "conditional", about, make(1))], pipe
    rows = []
    for j in jumps:
        name = "repaint" if j == 1 else f"repaint-{j}x{jump_length}"
        about = (f"{run}: RePaint, {sampler}, steps {steps or 'the run default'}, resample_jumps {j}"
                 + (f", jump_length {jump_length}" if j > 1 else ""))
        rows.append(Method(prefix + name, about, make(j)))
    return rows, pipe


# --------------------------------------------------------------------------------------------------------- run
def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None   # JSON has no inf / NaN: the cells count them


def score(clips: list[Clip], methods: list[Method], lengths: list[int], rate: int, keep: int,
          show: bool) -> tuple[list[dict], dict]:
    """Every method on every clip's gaps → (items, examples): items one dict a gap (scores per method), examples
    {length: [(clip, {method: filled [L]})]} for the first `keep` clips (the report page)."""
    items, examples = [], {length: [] for length in lengths}
    pairs = [(c, length) for c in clips for length in lengths]
    for clip, length in progress(pairs, total=len(pairs), description="filling gaps", enabled=show):
        start = clip.gaps[length]
        item = {"clip": clip.name, "gap_ms": round(1000 * length / rate, 3), "start": start, "length": length,
                "snr_db": {}, "lsd_db": {}, "seconds": {}}
        fills = {}
        for m in methods:
            t0 = time.perf_counter()
            filled = m.fill(clip.audio, start, length, (clip.name, length))
            item["seconds"][m.name] = time.perf_counter() - t0
            item["snr_db"][m.name] = _finite(gap_snr(clip.audio, filled, start, length))
            item["lsd_db"][m.name] = _finite(gap_lsd(clip.audio, filled, start, length, rate))
            fills[m.name] = filled
        items.append(item)
        if len(examples[length]) < keep:
            examples[length].append((clip, fills))
    return items, examples


def cells(items: list[dict], methods: list[Method], gaps_ms: list[float]) -> dict:
    """{method: {gap ms as text: {metric: mean_ci}}}; a None score (±inf, NaN) counts as nonfinite."""
    rows = {}
    for m in methods:
        rows[m.name] = {}
        for g in gaps_ms:
            group = [it for it in items if it["gap_ms"] == g]
            rows[m.name][f"{g:g}"] = {
                k: mean_ci([np.nan if it[k][m.name] is None else it[k][m.name] for it in group]) for k in METRICS}
    return rows


def _fmt(cell: dict, digits: int) -> str:
    if cell["mean"] is None:
        return "–"
    return f"{cell['mean']:.{digits}f}" + ("" if cell["ci95"] is None else f" ± {cell['ci95']:.{digits}f}")


def print_tables(result: dict) -> None:
    """One table per metric: methods × gap lengths, mean ± 95 % CI."""
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    gaps = [f"{g:g}" for g in result["gaps_ms"]]
    for key, digits in (("snr_db", 2), ("lsd_db", 2), ("seconds", 4)):
        table = Table(title=f"{METRICS[key]}, {result['clips']['count']} clips (mean ± 95 % CI)")
        table.add_column("method")
        for g in gaps:
            table.add_column(f"{g} ms", justify="right")
        for name, row in result["rows"].items():
            table.add_row(name, *(_fmt(row[g][key], digits) for g in gaps))
        console.print(table)


def write_page(folder: Path, result: dict, examples: dict, rate: int) -> Path:
    """folder/gap_fill.html: per gap length and example clip, the audio around the gap with the gap / each fill /
    the original, as players and spectrograms (audiodiff.eval.report)."""
    from audiodiff.eval.report import ReportClip, write_report

    clips = []
    for length, group in examples.items():
        for clip, fills in group:
            start = clip.gaps[length]
            lo = max(0, start - int(PAGE_CONTEXT_S * rate))
            hi = min(clip.audio.size, start + length + int(PAGE_CONTEXT_S * rate))
            label = (f"{1000 * length / rate:g} ms gap · {clip.name} · gap at {start / rate:.3f} s "
                     f"(shown from {lo / rate:.3f} s)")
            with_gap = silence_fill(clip.audio, start, length)
            clips.append(ReportClip("with the gap", with_gap[lo:hi], rate, label))
            clips += [ReportClip(name, filled[lo:hi], rate, label) for name, filled in fills.items()
                      if name != "silence"]
            clips.append(ReportClip("original", clip.audio[lo:hi], rate, label))
    metrics = {f"{name} · {g} ms · {k}": row[g][k]["mean"] for name, row in result["rows"].items() for g in row
               for k in ("snr_db", "lsd_db") if row[g][k]["mean"] is not None}
    card = {"clips": result["clips"]["source"], "clips scored": result["clips"]["count"],
            "gaps (ms)": ", ".join(f"{g:g}" for g in result["gaps_ms"]), "seed": result["seed"],
            "commit": f"{result['commit']}{' (dirty)' if result['dirty'] else ''}", "date": result["date"]}
    folder.mkdir(parents=True, exist_ok=True)
    return write_report(folder / "gap_fill.html", clips, metrics=metrics, card=card, card_title="Benchmark",
                        title="gap filling: with the gap / each fill / original")


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} {text}: give whole numbers separated by commas") from None
    if not values or min(values) < 1:
        raise InputError(f"{option} {text}: give one value at least, each >= 1")
    return values


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gap_fill", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, required=True, help="a folder of audio files, or a text file listing them")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gap_fill.json", help="the JSON result")
    ap.add_argument("--gaps", default="20,50,100,200,400", help="gap lengths in ms (default 20,50,100,200,400)")
    ap.add_argument("--n", type=int, default=200, help="clips drawn (default 200; all when there are fewer)")
    ap.add_argument("--seed", type=int, default=0, help="draws the clips and the gaps' places (default 0)")
    ap.add_argument("--rate", type=int, default=16000, help="clips are resampled to this rate (default 16000)")
    ap.add_argument("--methods", default=",".join(BUILTIN), help=f"built-in rows (default {','.join(BUILTIN)})")
    ap.add_argument("--context", type=float, default=DEFAULT_CONTEXT_S,
                    help=f"seconds of context each side of a gap, and the AR window (default {DEFAULT_CONTEXT_S})")
    ap.add_argument("--ar-order", type=int, default=DEFAULT_ORDER, help=f"AR order cap (default {DEFAULT_ORDER})")
    ap.add_argument("--ar-iterations", type=int, default=DEFAULT_ITERATIONS,
                    help=f"Janssen iterations (default {DEFAULT_ITERATIONS})")
    ap.add_argument("--model", type=Path, action="append", default=[],
                    help="a waveform run (rows repaint[-JxK] from its inpaint) or a gapfill run (row conditional); "
                         "give it again for more runs (rows then named RUN:…)")
    ap.add_argument("--jumps", default="1,10", help="RePaint resample_jumps, one row each (default 1,10)")
    ap.add_argument("--jump-length", type=int, default=10, help="RePaint jump_length (default 10)")
    ap.add_argument("--steps", type=int, help="reverse steps for --model (default: the run's own)")
    ap.add_argument("--sampler", help="sampler for --model (default: ddpm for RePaint, a gapfill run's own)")
    ap.add_argument("--device", help="device for --model (default: the library's choice)")
    add_precision(ap)
    ap.add_argument("--threads", type=int, help="torch threads for --model (default torch's)")
    ap.add_argument("--report", type=Path, help="write DIR/gap_fill.html with players for a few clips per length")
    ap.add_argument("--report-clips", type=int, default=3, help="clips per gap length on the page (default 3)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """The benchmark; raises InputError for bad input."""
    gaps_ms = _ints(args.gaps, "--gaps")
    jumps = list(dict.fromkeys(_ints(args.jumps, "--jumps")))
    if args.n < 1 or args.rate < 1 or args.report_clips < 1 or args.ar_order < 1 or args.ar_iterations < 1 \
            or args.jump_length < 1 or args.context < 0:
        raise InputError("--n, --rate, --report-clips, --ar-order, --ar-iterations and --jump-length must be >= 1, "
                         "--context >= 0")
    rate, show = args.rate, not args.no_progress
    lengths = list(dict.fromkeys(max(1, round(g * rate / 1000)) for g in gaps_ms))
    gaps_ms = [round(1000 * n / rate, 3) for n in lengths]   # what was measured, after rounding to samples
    context = int(round(args.context * rate))
    methods = builtin_methods([m for m in args.methods.split(",") if m.strip()], rate, args.context, args.ar_order,
                              args.ar_iterations)
    chosen = choose(find_clips(args.clips), args.n, args.seed)
    device = "cpu"
    if args.model and args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if len({m.name for m in args.model}) < len(args.model):
        raise InputError("--model: give runs with different folder names (the rows are named after them)")
    for model in args.model:
        prefix = f"{model.name}:" if len(args.model) > 1 else ""
        rows, pipe = model_methods(model, jumps, args.jump_length, args.steps, args.sampler, args.seed, args.device,
                                   rate, args.precision, prefix)
        methods += rows
        device = "cuda" if pipe.device.type == "cuda" else device
    if not methods:
        raise InputError("no methods: give --methods and / or --model")
    clips = load_clips(chosen, rate, lengths, context, args.seed, show)
    items, examples = score(clips, methods, lengths, rate, args.report_clips if args.report else 0, show)
    result = {**envelope(NAME, device, argv),
              "clips": {"source": str(args.clips), "count": len(clips), "rate": rate,
                        "names": [c.name for c in clips]},
              "seed": args.seed, "gaps_ms": gaps_ms, "gap_samples": lengths,
              "context_samples": {f"{g:g}": margin_for(n, context) for g, n in zip(gaps_ms, lengths)},
              "methods": {m.name: m.about for m in methods},
              "metrics": {**METRICS, "definitions": "audiodiff/eval/gaps.py; cells: mean ± 95 % Student-t "
                                                    "half-width over clips (ci95), nonfinite scores left out"},
              "rows": cells(items, methods, gaps_ms), "items": items}
    write_or_refuse(args.out, result, "--out")
    print_tables(result)
    if args.report:
        page = write_page(args.report, result, examples, rate)
        print(f"report: {page}", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command line → the result dict (also written as JSON); bad input exits with one `error: …` line."""
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
