"""A short check run of a recipe on a folder of audio (issue 26 point 5: `recipes/gtzan` on the produced-music clips,
before anyone spends GPU-hours on it): a few hundred CPU steps with previews, and each preview's statistics against
the training clips' (the trainer's own preview_stats: level, spread, share at full scale, largest octave-band gap).

What it shows: the data path reads the folder, the network trains on it (the loss falls), and what the model
makes moves toward the data's level and spectrum.  What it cannot show: musical quality; a few hundred steps
are a smoke test of the recipe, not a model.

The recipe keeps its network, diffusion and sampler; only these change: [data] dataset = "folder" and root =
--root; [train] batch_size = --batch-size, max_steps = --steps, warmup_steps = at most a quarter of them (a
longer warm-up would end the check before the peak learning rate), checkpoint_every = preview_every =
--preview-every, preview_n = --preview-n; with --sample-steps, [sample] steps (the previews' chain: fewer steps
make them cheap on a CPU).  The JSON records them.

    python -m benchmarks.studies.check_run recipes/gtzan --root data/real/music/16000/train --out runs/gtzan-check \
        --sample-steps 25
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..lib import RESULTS, envelope
from ..lib.cli import InputError, run_cli, write_or_refuse
from ..lib.tb_scalars import scalar_events

STATS = ("std", "data_std", "rms_db", "data_rms_db", "clipped", "band_gap_db")


def check_recipe(recipe_dir: Path, root: Path, steps: int, batch_size: int, preview_every: int, preview_n: int,
                 sample_steps: int | None = None):
    """The recipe at `recipe_dir` set to train on `root` for a check (see the module's docstring) and its
    changed keys {table.key: value}."""
    from audiodiff.recipe import RecipeError, load_recipe, recipe_from_dict

    if not root.is_dir():
        raise InputError(f"--root {root}: no such folder")
    try:
        recipe = load_recipe(recipe_dir)
        raw = recipe.to_dict()           # every key resolved, as a run's config.json records it
        changes = {"data.dataset": "folder", "data.root": str(root), "train.batch_size": batch_size,
                   "train.max_steps": steps, "train.warmup_steps": min(recipe.train.warmup_steps, steps // 4),
                   "train.checkpoint_every": preview_every, "train.preview_every": preview_every,
                   "train.preview_n": preview_n}
        if sample_steps is not None:
            changes["sample.steps"] = sample_steps
        for key in ("split", "download", "url", "sha256", "file_list"):   # the corpus's own: back to defaults
            raw["data"].pop(key)
        for dotted, value in changes.items():
            table, key = dotted.split(".")
            raw[table][key] = value
        return recipe_from_dict(raw, source=f"{recipe.path} (checked on {root})", path=recipe.path), changes
    except RecipeError as exc:
        raise InputError(str(exc)) from None


def preview_table(run_dir: Path) -> list[dict[str, Any]]:
    """[{step, loss, std, data_std, …}] at every preview the run wrote to TensorBoard, in step order (loss: the
    training loss logged nearest before the preview)."""
    acc = scalar_events(run_dir)
    tags = acc.Tags().get("scalars", [])
    by_step: dict[int, dict[str, Any]] = {}
    for name in STATS:
        if f"preview_stats/{name}" in tags:
            for e in acc.Scalars(f"preview_stats/{name}"):
                by_step.setdefault(e.step, {"step": e.step})[name] = e.value
    losses = [(e.step, e.value) for e in acc.Scalars("train/loss")] if "train/loss" in tags else []
    for step, row in by_step.items():
        before = [v for s, v in losses if s <= step]
        row["loss"] = before[-1] if before else None
    return [by_step[s] for s in sorted(by_step)]


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'step':>6}{'loss':>9}{'std':>9}{'data std':>10}{'RMS dB':>8}{'data':>7}{'clipped':>9}{'band gap dB':>13}")
    for r in rows:
        loss = f"{r['loss']:.4f}" if r.get("loss") is not None else "–"
        print(f"{r['step']:6d}{loss:>9}{r['std']:9.4f}{r['data_std']:10.4f}{r['rms_db']:8.1f}{r['data_rms_db']:7.1f}"
              f"{100 * r['clipped']:8.2f}%{r['band_gap_db']:13.1f}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe", type=Path, help="a recipe folder (or its .toml)")
    ap.add_argument("--root", type=Path, required=True, help="the folder of audio to train on (recursive)")
    ap.add_argument("--out", type=Path, required=True, help="the check's run folder (resumed when it exists)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--preview-every", type=int, default=100)
    ap.add_argument("--preview-n", type=int, default=8)
    ap.add_argument("--sample-steps", type=int, default=None,
                    help="the previews' sampler steps (default: the recipe's)")
    ap.add_argument("--json", type=Path, default=None, help="default benchmarks/results/check_run-OUT.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    for name in ("steps", "batch_size", "preview_every", "preview_n", "sample_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    from audiodiff.cli.common import setup_logging
    from audiodiff.training import train

    setup_logging()                     # the trainer's log lines (steps, previews against the data), as in the CLI
    recipe, changes = check_recipe(args.recipe, args.root, args.steps, args.batch_size, args.preview_every,
                                   args.preview_n, args.sample_steps)
    train(recipe, args.out, device="cpu", max_steps=args.steps, show_progress=not args.no_progress)
    rows = preview_table(args.out)
    print_table(rows)
    result = {**envelope("studies.check_run", argv=argv), "recipe": str(args.recipe), "root": str(args.root),
              "run": str(args.out), "changes": changes, "previews": rows}
    out = args.json or RESULTS / f"check_run-{args.out.name}.json"
    write_or_refuse(out, result, "--json")
    print(f"JSON: {out}")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
