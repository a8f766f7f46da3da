"""Issue 25 point 4's baseline: telephone speech (8 kHz) to wide band (16 kHz), scored against the 16 kHz release of
the same prompts.

    python -m benchmarks.telephone_bwe                                   # sinc on every held-out prompt
    python -m benchmarks.telephone_bwe --model runs/telephone-bwe --out bwe-wavs/   # + a run's upsample, WAVs to hear
    python -m benchmarks.telephone_bwe --n 3                              # smoke run

Input: --narrow (default data/real/speech/allison-en-8k/8000, 8 kHz files) and --wide (default
data/real/speech/allison-en/16000, 16 kHz files), both in the LJSpeech layout that
`python3 ../shared/data/real/build_speech.py` builds; --list (default test_list.txt, read from --narrow) names the
prompts (`LJSpeech-1.1/wavs/<id>.wav`, one a line), each of which must exist in both folders; the first --n of them
(default all).  The 16 kHz release lags the 8 kHz one by 22 samples (G.722's codec delay, ../shared/data/real/
README.md): --delay (default 22) samples are dropped from each wide reference's start, and every row's 16 kHz
output is compared with the reference over their common length after that.

Rows: sinc (torchaudio.functional.resample 8 kHz → 16 kHz at its defaults, Hann-windowed sinc, width 6, rolloff 0.99:
what a user does first; it adds nothing above 4 kHz, so "silence above 4 kHz" is the same row) and one per --model
RUN (an audiodiff run at 16 kHz that upsamples: a bandwidth run, recipes/telephone-bwe, which answers in one call,
or a waveform run through the training-free path; `audiodiff.load(RUN).upsample(audio, from_rate=8000,
steps=--steps, seed=--seed)`).

Columns, per prompt, then the mean ± 95 % Student-t half-width over prompts (audiodiff.eval.metrics.mean_ci):
  LSD 0-8k   log-spectral distance (dB; audiodiff/eval/spectra.lsd: 512-sample Hann frames, hop 128, power in dB
             floored at −100 dB; per frame sqrt(mean over bins of the squared dB difference), mean over frames) over
             every bin; lower is better, 0 for identical spectra
  LSD 4-8k   the same over the bins in [4, 8] kHz: the band the input lacks and a model must add
  LSD 0-4k   the same over [0, 4) kHz: the band the input carries (the 8 kHz release is high-passed below 300 Hz with
             a phase twist, so even a perfect model does not reach 0 here; waveform metrics such as SNR would
             punish that phase, which is why the spectral ones are used)
  PESQ       wide-band PESQ (ITU-T P.862.2, MOS-LQO 1.04 … 4.64, higher is better; audiodiff.eval.speech.pesq_wb)
  RTF        seconds of the row's call / seconds of audio, one prompt at a time, after one untimed call

Writes JSON (--json, default benchmarks/results/telephone_bwe.json: the shared envelope, every cell and every
prompt's scores), prints a markdown table, and with --out DIR writes DIR/<row>/<id>.wav (each row's 16 kHz output
over the compared span) and DIR/reference/<id>.wav (the wide release after the delay) for listening.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audiodiff.audio import AudioReadError, load_audio, save_wav
from audiodiff.eval.metrics import mean_ci
from audiodiff.eval.spectra import lsd
from audiodiff.eval.speech import MetricError, choose_metrics, pesq_wb

from .lib import envelope
from .lib.cli import InputError, add_precision, run_cli, write_or_refuse
from .lib.envelope import ROOT

NAME = "telephone_bwe"
NARROW_RATE, WIDE_RATE = 8000, 16000
BUILD = "python3 ../shared/data/real/build_speech.py"
BANDS = {"lsd_full": None, "lsd_high": (4000.0, 8000.0), "lsd_low": (0.0, 4000.0)}
COLUMNS = {"lsd_full": "LSD 0-8k dB", "lsd_high": "LSD 4-8k dB", "lsd_low": "LSD 0-4k dB", "pesq": "PESQ-WB",
           "rtf": "RTF"}


@dataclass
class Row:
    """A method: `call(narrow [L] float32 at 8 kHz) -> [≈ 2·L] at 16 kHz`."""
    name: str
    about: str
    call: Callable[[np.ndarray], Any]
    device: str = "cpu"


# ---------------------------------------------------------------------------------------------------------- input
def prompts(narrow: Path, wide: Path, listing: str, n: int | None) -> list[str]:
    """The first n names (`LJSpeech-1.1/wavs/<id>.wav`) of narrow/listing, each checked to exist in both folders."""
    for option, folder in (("--narrow", narrow), ("--wide", wide)):
        if not folder.is_dir():
            raise InputError(f"{option} {folder}: no such folder (build the speech releases with {BUILD})")
    path = narrow / listing
    if not path.is_file():
        raise InputError(f"--list {path}: no such file (one `LJSpeech-1.1/wavs/<id>.wav` a line; {BUILD} writes "
                         f"test_list.txt)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise InputError(f"--list {path}: lists no file")
    names = names[:n]
    for i, name in enumerate(names, 1):
        for option, folder in (("--narrow", narrow), ("--wide", wide)):
            if not (folder / name).is_file():
                raise InputError(f"{folder / name}: missing ({path} line {i} names it; {option} must hold every "
                                 f"listed file: rebuild with {BUILD})")
    return names


def read(path: Path, rate: int, option: str) -> np.ndarray:
    """The file as mono float32 [L], refused unless it is at `rate` Hz."""
    try:
        audio, found = load_audio(path)
    except AudioReadError as exc:
        raise InputError(f"{exc} (rebuild with {BUILD})") from None
    if found != rate:
        raise InputError(f"{path}: is at {found} Hz, {option} needs {rate} Hz files (the {rate // 1000} kHz release "
                         f"that {BUILD} builds)")
    return audio.numpy()


# ----------------------------------------------------------------------------------------------------------- rows
def sinc(narrow: np.ndarray) -> torch.Tensor:
    """8 kHz [L] → 16 kHz [2L] by torchaudio.functional.resample at its defaults (the `sinc` row)."""
    from audiodiff.install import torchaudio

    return torchaudio.functional.resample(torch.from_numpy(narrow), NARROW_RATE, WIDE_RATE)


def model_rows(runs: list[Path], steps: int | None, seed: int, taken: set[str],
               precision: str = "auto") -> list[Row]:
    """One row per 16 kHz run that upsamples (bandwidth or waveform), loaded at `precision`, named after its folder
    (suffixed -2, -3 … when taken)."""
    import audiodiff

    rows = []
    for run in runs:
        try:
            pipe = audiodiff.load(run, precision=precision)
        except (OSError, ValueError) as exc:
            raise InputError(f"--model {run}: {exc}") from None
        if not hasattr(pipe, "upsample"):
            raise InputError(f"--model {run}: a {getattr(pipe, 'domain', 'non-waveform')} run cannot upsample "
                             f"(a bandwidth or waveform run can)")
        if pipe.sample_rate != WIDE_RATE:
            raise InputError(f"--model {run}: works at {pipe.sample_rate} Hz; this benchmark needs a {WIDE_RATE} Hz "
                             f"run")
        name, k = Path(run).name or "model", 1
        while (name if k == 1 else f"{name}-{k}") in taken:
            k += 1
        name = name if k == 1 else f"{name}-{k}"
        taken.add(name)

        def call(narrow: np.ndarray, pipe=pipe, run=run) -> Any:
            try:
                return pipe.upsample(narrow, from_rate=NARROW_RATE, steps=steps, seed=seed)
            except ValueError as exc:   # a step count the run refuses
                raise InputError(f"--model {run}: {exc}") from None

        rows.append(Row(name, f"audiodiff.load({run}).upsample(audio, from_rate=8000, steps={steps}, seed={seed})",
                        call, pipe.device.type))
    return rows


# ---------------------------------------------------------------------------------------------------------- score
def score(reference: np.ndarray, estimate: np.ndarray) -> dict[str, Any]:
    """Both at 16 kHz, same length → {lsd_full, lsd_high, lsd_low, pesq (None when PESQ refuses the pair), note}."""
    out: dict[str, Any] = {key: lsd(reference, estimate, WIDE_RATE, band=band) for key, band in BANDS.items()}
    try:
        out["pesq"] = pesq_wb(reference, estimate, WIDE_RATE)
    except MetricError as exc:
        out["pesq"], out["note"] = None, str(exc)
    return out


def run_row(row: Row, pairs: list[tuple[str, np.ndarray, np.ndarray]], out: Path | None) -> list[dict]:
    """Score `row` on every (name, narrow, reference) → one dict a prompt; one untimed call on the first prompt."""
    items = []
    with torch.no_grad():
        row.call(pairs[0][1][:NARROW_RATE])
        for name, narrow, reference in pairs:
            start = time.perf_counter()
            wide = row.call(narrow)
            seconds = time.perf_counter() - start
            wide = np.asarray(wide.detach().cpu() if hasattr(wide, "detach") else wide, dtype=np.float32)
            if wide.ndim != 1 or not np.isfinite(wide).all():
                raise RuntimeError(f"row {row.name} on {name}: gave shape {wide.shape} or non-finite samples")
            n = min(wide.size, reference.size)
            if out is not None:
                save_wav(out / row.name / Path(name).name, wide[:n], WIDE_RATE)
            items.append({"file": name, "samples": n, **score(reference[:n], wide[:n]),
                          "rtf": seconds / (narrow.size / NARROW_RATE)})
    return items


def cells(items: list[dict]) -> dict[str, dict]:
    """Per-prompt scores → {column: mean_ci over prompts}."""
    return {c: mean_ci([i[c] for i in items if i.get(c) is not None]) for c in COLUMNS}


def _fmt(cell: dict, column: str) -> str:
    if cell["mean"] is None:
        return "–"
    digits = 3 if column == "rtf" else 2
    return f"{cell['mean']:.{digits}f}" + ("" if cell["ci95"] is None else f" ± {cell['ci95']:.{digits}f}")


def print_table(result: dict) -> None:
    """The rows × columns markdown table (mean ± 95 % CI)."""
    print(f"\ntelephone → wide band: {result['input']['prompts']} prompts, reference delayed "
          f"{result['input']['delay']} samples (mean ± 95 % CI)\n")
    print("| row | " + " | ".join(COLUMNS.values()) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name, row in result["rows"].items():
        print(f"| {name} | " + " | ".join(_fmt(row["cells"][c], c) for c in COLUMNS) + " |")


# ----------------------------------------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--narrow", type=Path, default=ROOT / "data/real/speech/allison-en-8k/8000",
                    help="the 8 kHz voice folder (default data/real/speech/allison-en-8k/8000)")
    ap.add_argument("--wide", type=Path, default=ROOT / "data/real/speech/allison-en/16000",
                    help="the 16 kHz voice folder (default data/real/speech/allison-en/16000)")
    ap.add_argument("--list", default="test_list.txt", help="the prompts, a file in --narrow (default test_list.txt)")
    ap.add_argument("--n", type=int, help="the first N listed prompts (default all)")
    ap.add_argument("--delay", type=int, default=22, help="samples dropped from each 16 kHz reference's start "
                                                          "(default 22: G.722's delay)")
    ap.add_argument("--model", type=Path, action="append", default=[], help="a 16 kHz bandwidth or waveform run (repeatable)")
    ap.add_argument("--steps", type=int, help="sampling steps for --model (default: the run's own)")
    ap.add_argument("--seed", type=int, default=0, help="--model's sampling seed (default 0)")
    ap.add_argument("--out", type=Path, help="write each row's 16 kHz outputs here, <out>/<row>/<id>.wav")
    add_precision(ap)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/telephone_bwe.json",
                    help="the result (default benchmarks/results/telephone_bwe.json)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """The benchmark; raises InputError for bad input."""
    if (args.n is not None and args.n < 1) or args.delay < 0 or (args.steps is not None and args.steps < 1):
        raise InputError("--n and --steps must be >= 1, --delay >= 0")
    try:
        choose_metrics(["pesq"])
    except ValueError as exc:   # SpeechExtraMissing names the pip command
        raise InputError(str(exc)) from None
    names = prompts(args.narrow, args.wide, args.list, args.n)
    pairs = []
    for name in names:
        narrow = read(args.narrow / name, NARROW_RATE, "--narrow")
        wide = read(args.wide / name, WIDE_RATE, "--wide")
        if wide.size <= args.delay:
            raise InputError(f"{args.wide / name}: {wide.size} samples, not more than --delay {args.delay}")
        pairs.append((name, narrow, wide[args.delay:]))
    rows = [Row("sinc", "torchaudio.functional.resample(audio, 8000, 16000) at its defaults (nothing above 4 kHz)",
                sinc)]
    rows += model_rows(args.model, args.steps, args.seed, {"sinc", "reference"}, args.precision)
    if args.out is not None:
        for name, _, reference in pairs:
            save_wav(args.out / "reference" / Path(name).name, reference, WIDE_RATE)
    items = {}
    for row in rows:
        t0 = time.perf_counter()
        items[row.name] = run_row(row, pairs, args.out)
        print(f"{row.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    device = "cuda" if any(row.device == "cuda" for row in rows) else "cpu"
    result = {**envelope(NAME, device, argv),
              "input": {"narrow": str(args.narrow), "wide": str(args.wide), "list": args.list,
                        "prompts": len(pairs), "delay": args.delay, "names": names},
              "columns": COLUMNS,
              "metrics": {"definitions": "benchmarks/telephone_bwe.py's docstring; LSD: audiodiff/eval/spectra.lsd "
                                         "(512-sample Hann frames, hop 128, floor −100 dB); cells: mean ± 95 % "
                                         "Student-t half-width over prompts (ci95)"},
              "rows": {row.name: {"about": row.about, "cells": cells(items[row.name])} for row in rows},
              "files": items}
    write_or_refuse(args.json, result, "--json")
    print_table(result)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command line → the result dict (also written as JSON); bad input exits with one `error: …` line."""
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
