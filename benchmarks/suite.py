"""The regression suite: "did this commit get slower or worse?"

    python -m benchmarks.suite run [--size quick|full|smallest] [--rows a,b] [--json OUT]   # a few minutes (quick)
    python -m benchmarks.suite compare OLD.json NEW.json                                  # ratios with spread
    python -m benchmarks.suite commits OLD NEW [--size quick]                             # both, one machine

Run from the repository root.  Every row times one thing the toolkit does, repeated, and keeps the median with its
quartiles (benchmarks/lib/timing.py); `compare` divides NEW by OLD row by row and calls a row slower or faster only
when the quartile ranges do not overlap past 5 %.  `commits` checks each commit out into a temporary worktree and
runs this file's rows against that commit's `audiodiff` (the rows here, the package there), one after the other on
this machine.  The result JSON starts with the shared envelope (commit, dirty flag, machine, command, date).

Rows (sizes: smallest for the test, quick by default, full = the issues' sizes):
  diffwave_step     DiffWave training step (loss, backward, fused AdamW) on fixed tensors      s/step
  trainer_overhead  the Trainer's iteration at a recipe's defaults against that raw step       raw / trainer
  ddim_step         one DDIM step of the same DiffWave, batch as above                        s/step
  unet2d_step       sc09-cpu's 2-D U-Net training step on mel images                          s/step
  masker_rtf        denoise-speech's SpectralMasker on 10 s of audio, one call                 s per s of audio
  sampler_error     DDIM (20 steps) on Gaussian data with the exact ε: |variance ratio − 1|     error (quality)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from .lib import envelope, read_result, spread_ratio, time_calls, write_result
from .lib.envelope import RESULTS, ROOT
from .lib.fixtures import DIFFWAVE, diffwave, train_step
from .lib.trainer import trainer_vs_raw

NAME = "suite"

UNET2D = {"smallest": (8, 2), "quick": (8, 6), "full": (32, 10)}          # (batch, repeats)
MASKER = {"smallest": (1.0, 2), "quick": (10.0, 5), "full": (10.0, 10)}   # (seconds of audio, repeats)


def diffwave_step(size: str) -> dict:
    net, diffusion, x0, repeats = diffwave(size)
    return {"unit": "s/step", "shape": list(x0.shape), **time_calls(train_step(net, diffusion, x0), repeats).to_dict()}


def trainer_overhead(size: str) -> dict:
    """The Trainer's iteration against the raw step on the same network and batch (lib/trainer.py)."""
    return trainer_vs_raw(size)


def ddim_step(size: str) -> dict:
    net, diffusion, x0, repeats = diffwave(size)
    net.eval()
    steps = 4
    timing = time_calls(lambda: diffusion.sample(net, tuple(x0.shape), sampler="ddim", steps=steps,
                                                 generator=torch.Generator().manual_seed(0)), repeats)
    per_step = {k: v / steps for k, v in timing.to_dict().items() if k != "samples"}
    return {"unit": "s/step", **per_step, "samples": [s / steps for s in timing.samples], "shape": list(x0.shape)}


def _recipe_model(name: str) -> dict:
    """recipes/<name>'s [model] as the recipe loader fills it (a mel model's input channels from [features])."""
    from audiodiff.recipe import load_recipe

    return dict(load_recipe(ROOT / "recipes" / name).model)


def unet2d_step(size: str) -> dict:
    from audiodiff import GaussianDiffusion, NoiseSchedule
    from audiodiff.nets import build_network

    batch, repeats = UNET2D[size]
    model = _recipe_model("sc09-cpu")
    torch.manual_seed(0)
    net = build_network(model)
    diffusion = GaussianDiffusion(NoiseSchedule.cosine(1000), prediction="v")
    x0 = torch.randn(batch, model["in_channels"], 64)
    labels = torch.arange(batch) % 10 if model.get("num_classes") else None
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        diffusion.loss(net, x0, **({"labels": labels} if labels is not None else {})).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {"unit": "s/step", "shape": list(x0.shape), **time_calls(step, repeats).to_dict()}


def masker_rtf(size: str) -> dict:
    from audiodiff.nets import build_network

    seconds, repeats = MASKER[size]
    net = build_network(_recipe_model("denoise-speech")).eval()
    rate = 16000
    noisy = torch.randn(1, 1, int(seconds * rate)) * 0.05
    with torch.no_grad():
        timing = time_calls(lambda: net(noisy), repeats)
    out = {k: v / seconds for k, v in timing.to_dict().items() if k != "samples"}
    return {"unit": "s per s of audio", **out, "samples": [s / seconds for s in timing.samples]}


def sampler_error(size: str) -> dict:
    """DDIM (20 trailing steps) with the exact ε-predictor of Gaussian data x0 ~ N(0.3, 0.5²): how far the sample
    variance lands from 0.25.  What remains is DDIM's discretisation error (it under-disperses: 0.14 at 20 steps,
    0.06 at 50, 0.013 at 200); seeded and deterministic, so a change in the sampler's math moves it."""
    from audiodiff import GaussianDiffusion, NoiseSchedule

    diffusion = GaussianDiffusion(NoiseSchedule.cosine(1000))
    mu, sd = 0.3, 0.5
    sched = diffusion.schedule

    def exact_eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = sched.sqrt_alpha_cumprod_at(t.double()).pow(2).reshape(-1, *([1] * (x_t.ndim - 1))).to(x_t.dtype)
        return (1 - ab).sqrt() * (x_t - ab.sqrt() * mu) / (ab * sd ** 2 + 1 - ab)

    n = 512 if size == "smallest" else 4096
    x = diffusion.sample(exact_eps, (n, 1, 64), sampler="ddim", steps=20, generator=torch.Generator().manual_seed(0))
    error = abs(float(x.double().var()) / sd ** 2 - 1)
    return {"unit": "|var ratio − 1|", "median": error, "q1": error, "q3": error, "samples": [error],
            "mean_error": abs(float(x.double().mean()) - mu)}


ROWS: dict[str, Callable[[str], dict]] = {f.__name__: f for f in
                                          (diffwave_step, trainer_overhead, ddim_step, unet2d_step, masker_rtf,
                                           sampler_error)}


def run(size: str, rows: list[str], threads: int, argv: list[str] | None = None) -> dict:
    """Every asked-for row, in order, with the envelope (argv: the command line it records); prints each row as
    it finishes."""
    torch.set_num_threads(threads)
    result = {**envelope(NAME, argv=argv), "size": size, "threads": threads, "rows": {}}
    for name in rows:
        try:
            row = ROWS[name](size)
        except Exception as exc:   # a row this commit cannot run (an older one lacks the network): named, skipped
            result["rows"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{name:17s} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        result["rows"][name] = row
        print(f"{name:17s} {_fmt(row['median'])} {row['unit']}  [{_fmt(row['q1'])} … {_fmt(row['q3'])}]",
              flush=True)
    return result


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def compare(old: dict, new: dict, tolerance: float = 0.05) -> list[dict]:
    """Row by row: NEW / OLD with the range the quartiles allow, and a verdict: "worse" or "better" only when that
    whole range lies past 1 ± tolerance (a time or an error is worse when it grows; a row marked higher_is_better
    is worse when it shrinks), else "same".  Rows either side could not run are left out."""
    out = []
    for name in [r for r in new["rows"] if r in old["rows"]]:
        a, b = old["rows"][name], new["rows"][name]
        if "error" in a or "error" in b or a["median"] == 0 or a["q1"] == 0:
            continue
        ratio, low, high = spread_ratio(b, a)
        grew, shrank = low > 1 + tolerance, high < 1 - tolerance
        if b.get("higher_is_better", False):
            grew, shrank = shrank, grew
        verdict = "worse" if grew else "better" if shrank else "same"
        out.append({"row": name, "unit": a["unit"], "old": a["median"], "new": b["median"], "ratio": ratio,
                    "low": low, "high": high, "verdict": verdict})
    return out


def print_comparison(old: dict, new: dict, lines: list[dict]) -> None:
    for label, r in (("old", old), ("new", new)):
        m = r.get("machine", {})
        print(f"{label}: commit {str(r.get('commit'))[:10]}{' (dirty)' if r.get('dirty') else ''}, {m.get('cpu')}, "
              f"{m.get('cores')} cores, {m.get('threads')} threads, torch {m.get('torch')}, {r.get('date')}")
    print(f"{'row':17s} {'old':>10s} {'new':>10s} {'new/old':>8s}  {'range':>15s}  verdict")
    for x in lines:
        print(f"{x['row']:17s} {_fmt(x['old']):>10s} {_fmt(x['new']):>10s} {x['ratio']:8.3f}  "
              f"[{x['low']:.3f} … {x['high']:.3f}]  {x['verdict']}")


def run_commits(old: str, new: str, size: str, rows: list[str], threads: int, out_dir: Path) -> tuple[dict, dict]:
    """Each commit in a temporary worktree; this checkout's benchmarks/ copied beside and run against it."""
    results = []
    with tempfile.TemporaryDirectory(prefix="suite-commits-") as tmp:
        tmp = Path(tmp)
        code = tmp / "code"
        shutil.copytree(ROOT / "benchmarks", code / "benchmarks",
                        ignore=shutil.ignore_patterns("results", "__pycache__"))
        shutil.copytree(ROOT / "recipes", code / "recipes")
        for label, commit in (("old", old), ("new", new)):
            tree = tmp / label
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                           capture_output=True)
            try:
                path = out_dir / f"suite-{label}-{commit[:10]}.json"
                env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{code}"}
                subprocess.run([sys.executable, "-m", "benchmarks.suite", "run", "--size", size, "--rows",
                                ",".join(rows), "--threads", str(threads), "--json", str(path)],
                               cwd=code, env=env, check=True)
                results.append(read_result(path, NAME))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return results[0], results[1]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("run", "commits"):
        p = sub.add_parser(name)
        if name == "commits":
            p.add_argument("old", help="a commit (sha, tag, branch)")
            p.add_argument("new", help="a commit (sha, tag, branch)")
        p.add_argument("--size", choices=tuple(DIFFWAVE), default="quick", help="row sizes (default quick)")
        p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated (default all: {', '.join(ROWS)})")
        p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
        p.add_argument("--json", type=Path, help="result file (default benchmarks/results/suite-<size>.json)")
    p = sub.add_parser("compare")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        if args.command == "compare":
            old, new = read_result(args.old, NAME), read_result(args.new, NAME)
            print_comparison(old, new, compare(old, new))
            return 0
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        unknown = [r for r in rows if r not in ROWS]
        if unknown or not rows or args.threads < 1:
            raise ValueError(f"--rows {args.rows}: choose from {', '.join(ROWS)}" if unknown or not rows
                             else "--threads must be >= 1")
        if args.command == "run":
            result = run(args.size, rows, args.threads, sys.argv[1:] if argv is None else argv)
            path = write_result(args.json or RESULTS / f"suite-{args.size}.json", result)
            print(f"wrote {path} (commit {str(result['commit'])[:10]}, {result['machine']['cpu']})")
            return 0
        out_dir = (args.json.parent if args.json else RESULTS)
        old, new = run_commits(args.old, args.new, args.size, rows, args.threads, out_dir)
        print_comparison(old, new, compare(old, new))
        return 0
    except (ValueError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
