"""Frozen study (issue 14): how does quality grow with minutes of CPU training?  Answer: recipes/sc09-cpu/README.md
("Quality against time") and docs/sc09-cpu-curve.png.

Quality against wall-clock minutes for a run trained with [train] eval_every: FID and IS of each evaluation
(RUN/metrics.jsonl) at the minutes since its TensorBoard log began (the eval/fid event's wall time), as a table,
JSON and a PNG plot (matplotlib, from the `bench` extra).

    python -m benchmarks.studies.training_curve runs/sc09-cpu --png docs/sc09-cpu-curve.png

Minutes count everything after the run's set-up: training steps, checkpoints and the evaluations themselves.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..lib import RESULTS, envelope, write_result
from ..lib.tb_scalars import scalar_events


def curve(run: Path) -> list[dict]:
    """[{step, minutes, fid, is}] for each evaluation of `run`, in step order."""
    acc = scalar_events(run)
    start = acc.FirstEventTimestamp()
    minutes = {e.step: (e.wall_time - start) / 60 for e in acc.Scalars("eval/fid")}
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{"step": r["step"], "minutes": round(minutes[r["step"]], 2), "fid": r["fid"], "is": r["is"],
             "n": r.get("n")} for r in records if r["step"] in minutes]


def plot(points: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=110)
    m = [p["minutes"] for p in points]
    ax.plot(m, [p["fid"] for p in points], "o-", color="tab:red", label="FID (↓)")
    ax.set_xlabel("minutes of training")
    ax.set_ylabel("FID", color="tab:red")
    ax.set_yscale("log")
    ax2 = ax.twinx()
    ax2.plot(m, [p["is"] for p in points], "s-", color="tab:blue", label="IS (↑)")
    ax2.set_ylabel("IS", color="tab:blue")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--json", default=None, help="default benchmarks/results/training_curve-RUN.json")
    ap.add_argument("--png", type=Path, default=None, help="also plot FID and IS against minutes here")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    points = curve(args.run)
    print(f"{'step':>6}{'minutes':>9}{'FID':>9}{'IS':>7}")
    for p in points:
        print(f"{p['step']:6d}{p['minutes']:9.1f}{p['fid']:9.2f}{p['is']:7.2f}")
    out = args.json or RESULTS / f"training_curve-{args.run.name}.json"
    result = {**envelope("studies.training_curve", argv=argv), "run": str(args.run), "points": points}
    print(f"JSON: {write_result(out, result)}")
    if args.png:
        plot(points, args.png, args.title or f"{args.run.name}: {points[-1]['n'] if points else 0} samples per point")
        print(f"PNG: {args.png}")
    return points


if __name__ == "__main__":
    main()
