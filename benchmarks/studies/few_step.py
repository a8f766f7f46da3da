"""Frozen study: which sampler, spacing and step count should be the defaults?  Answer: benchmarks/LOG.md,
"Quality against network calls", and the README's sampler table.

Quality against network calls: every sampler × step spacing × step count on one trained run.

For each (sampler, spacing, steps) it samples --n clips with one seed and scores them with the quickstart pitch
check (benchmarks/lib/quality.py `score_pitch`: share of clips whose spectral peak lies on a training note),
and, with --classifier RUN, with FID / IS from `audiodiff.eval.evaluate` (skipped with a message where that module is
absent).  Network calls are counted by a forward hook on the model.  Also: x̂0 clipping none vs dynamic.

Grid: samplers ddpm, ddim, dpm++ × spacings uniform, trailing, leading, logsnr, karras (and logsnr / karras with
λ clipped at --lambda-min, where the schedule's top λ lies below it) × steps 1, 2, 4, 8, 12, 25, 50, all ("all":
every training step, t-uniform only), plus DiffWave's 6-step fast sampler, plus ddim / dpm++ at 12 steps with
x̂0 clip_x0 = dynamic.  --quick runs a subset (ddim and dpm++, four spacings, steps 1, 4, 12).
Invalid combinations (e.g. more steps than the schedule has) are skipped.

    python -m benchmarks.studies.few_step runs/quickstart --quick
    python -m benchmarks.studies.few_step runs/quickstart --classifier runs/sc09-classifier --n 256

Writes benchmarks/results/few_step.json, prints a table, and plots on-note share against network calls to
benchmarks/results/few_step.png (needs matplotlib: pip install -e .[bench]; skipped with a message otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import torch

import audiodiff
from audiodiff.data import QUICKSTART_NOTES
from audiodiff.sampling.spacing import half_logsnr

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name
from ..lib.quality import score_pitch

STEPS = (1, 2, 4, 8, 12, 25, 50, "all")
SAMPLERS = ("ddpm", "ddim", "dpm++")
SPACINGS = ("uniform", "trailing", "leading", "logsnr", "karras")
QUICK = {"samplers": ("ddim", "dpm++"), "spacings": ("uniform", "trailing", "logsnr", "karras"), "steps": (1, 4, 12)}


def configs(quick: bool, schedule, lambda_min: float) -> list[dict]:
    """The (sampler, spacing, lambda_min, steps, clip_x0) points to measure."""
    samplers, spacings, steps = (QUICK["samplers"], QUICK["spacings"], QUICK["steps"]) if quick \
        else (SAMPLERS, SPACINGS, STEPS)
    num_steps = schedule.num_steps
    clip_bites = float(half_logsnr(schedule.alphas_cumprod[-1])) < lambda_min   # else clipping changes nothing
    out = []
    for sampler in samplers:
        for spacing in spacings:
            for lam in [None] + ([lambda_min] if clip_bites and spacing in ("logsnr", "karras") else []):
                for s in steps:
                    if s == "all" and (spacing != "uniform" or lam is not None):
                        continue   # every training step: only t-uniform means anything
                    n = num_steps if s == "all" else s
                    if n <= num_steps:
                        out.append({"sampler": sampler, "spacing": spacing, "lambda_min": lam, "steps": n,
                                    "clip_x0": "none"})
    out.append({"sampler": "fast", "spacing": None, "lambda_min": None, "steps": None, "clip_x0": "none"})
    mid = min(12, num_steps)
    for sampler in samplers:   # x̂0 clipping: none vs dynamic at one step count, the sampler's own spacing
        for clip in ("none", "dynamic"):
            if sampler != "ddpm" and not (clip == "none" and mid in steps):   # "none" there is in the grid already
                out.append({"sampler": sampler, "spacing": None, "lambda_min": None, "steps": mid, "clip_x0": clip})
    return out


def label(c: dict) -> str:
    spacing = c["spacing"] or ("own" if c["sampler"] != "fast" else "betas")
    lam = f"(λ≥{c['lambda_min']:g})" if c["lambda_min"] is not None else ""
    clip = "" if c["clip_x0"] == "none" else f" clip={c['clip_x0']}"
    return f"{c['sampler']} {spacing}{lam}{clip}"


def load_evaluate():
    """audiodiff.eval.evaluate (lands from another branch), or None with a message."""
    try:
        return importlib.import_module("audiodiff.eval.evaluate")
    except ImportError as exc:
        print(f"FID/IS skipped: audiodiff.eval.evaluate is not available ({exc})")
        return None


def fid_is(evaluate_mod, waves: torch.Tensor, sample_rate: int, classifier: str) -> dict:
    """FID and IS of waves [N, L] through the classifier run, via a folder of WAVs (evaluate's input)."""
    from audiodiff.audio import save_wav

    with tempfile.TemporaryDirectory() as tmp:
        for i, w in enumerate(waves):
            save_wav(Path(tmp) / f"sample_{i:04d}.wav", w, sample_rate)
        metrics = evaluate_mod.evaluate(tmp, classifier).metrics
    return {k: float(metrics[k]) for k in ("fid", "is") if k in metrics}


def measure(pipe, c: dict, n: int, seed: int, notes: list[int], classifier: str | None, evaluate_mod) -> dict:
    """Sample n clips with configuration c through audiodiff.sampling.sample (the options Pipeline.sample
    passes on, plus lambda_min) and score them."""
    calls = [0]
    hook = pipe.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    kwargs = {"sampler": c["sampler"], "clip_x0": c["clip_x0"]}
    if c["sampler"] != "fast":
        kwargs.update(steps=c["steps"], spacing=c["spacing"], lambda_min=c["lambda_min"])
    try:
        t0 = time.perf_counter()
        x = pipe.diffusion.sample(pipe.model, (n, 1, pipe.clip_length), generator=torch.Generator().manual_seed(seed),
                                  device="cpu", **kwargs)
        seconds = time.perf_counter() - t0
    finally:
        hook.remove()
    waves = x[:, 0].clamp(-1.0, 1.0).float()   # as Pipeline.sample returns them
    score = score_pitch(waves.numpy(), pipe.sample_rate, notes)
    row = {**c, "label": label(c), "network_calls_per_clip": calls[0], "on_note": score["on_note_fraction"],
           "notes_present": score["notes_present_fraction"], "seconds": round(seconds, 2),
           "finite": bool(torch.isfinite(x).all())}
    if classifier and evaluate_mod is not None:
        row.update(fid_is(evaluate_mod, waves, pipe.sample_rate, classifier))
    return row


def plot(rows: list[dict], path: Path, title: str) -> Path | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot skipped: matplotlib is not installed (pip install -e .[bench])")
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["label"], []).append(r)
    styles = {"ddpm": ":", "ddim": "-", "dpm++": "--", "fast": "none"}        # line style: the sampler
    placements = sorted({r["label"].split(" ", 1)[1] for r in rows})          # colour: spacing (+ λ clip, clip_x0)
    colours = {p: plt.cm.tab20(i % 20) for i, p in enumerate(placements)}
    for name, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["network_calls_per_clip"])
        ax.plot([r["network_calls_per_clip"] for r in rs], [100 * r["on_note"] for r in rs], marker="o",
                linestyle=styles[rs[0]["sampler"]] if len(rs) > 1 else "none", color=colours[name.split(" ", 1)[1]],
                label=name)
    ax.set_xscale("log")
    ax.set_xlabel("network calls per clip")
    ax.set_ylabel("clips on a training note (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a trained run directory (waveform domain)")
    ap.add_argument("--quick", action="store_true", help="a subset: ddim and dpm++, 4 spacings, steps 1, 4, 12")
    ap.add_argument("--n", type=int, default=64, help="clips per configuration")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lambda-min", type=float, default=-5.1,
                    help="λ clip for the clipped logsnr / karras variants (diffusers' lambda_min_clipped)")
    ap.add_argument("--classifier", default=None, help="a classifier run: also score FID / IS (audiodiff.eval.evaluate)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(RESULTS / "few_step.json"))
    ap.add_argument("--png", default=str(RESULTS / "few_step.png"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    pipe = audiodiff.load(args.run, device="cpu")
    if pipe.domain != "waveform":
        sys.exit(f"error: {args.run}: the pitch check needs a waveform-domain run, this one is {pipe.domain!r}")
    notes = (pipe.config.get("recipe", {}).get("data", {}) or {}).get("notes") or QUICKSTART_NOTES
    evaluate_mod = load_evaluate() if args.classifier else None
    todo = configs(args.quick, pipe.diffusion.schedule, args.lambda_min)
    rows = []
    print(f"{'configuration':<34}{'steps':>6}{'calls':>7}{'on note':>9}{'notes':>7}{'s':>8}  fid / is")
    for c in todo:
        try:
            r = measure(pipe, c, args.n, args.seed, notes, args.classifier, evaluate_mod)
        except ValueError as exc:   # an invalid combination for this schedule
            print(f"{label(c):<34} skipped: {exc}")
            continue
        rows.append(r)
        extra = f"  {r['fid']:.2f} / {r['is']:.2f}" if "fid" in r and "is" in r else ""
        print(f"{r['label']:<34}{str(r['steps'] or '-'):>6}{r['network_calls_per_clip']:>7}"
              f"{100 * r['on_note']:>8.0f}%{100 * r['notes_present']:>6.0f}%{r['seconds']:>8.1f}{extra}", flush=True)
    result = {**envelope("studies.few_step"), "run": str(args.run), "quick": args.quick, "clips": args.n, "seed": args.seed,
              "schedule": pipe.diffusion.schedule.to_config(), "prediction": pipe.diffusion.prediction,
              "threads": args.threads, "cpu": cpu_name(), "torch": torch.__version__, "rows": rows}
    print(f"JSON: {write_result(args.json, result)}")
    png = plot(rows, Path(args.png), f"{args.run}: {args.n} clips, seed {args.seed}")
    if png:
        print(f"plot: {png}")


if __name__ == "__main__":
    main()
