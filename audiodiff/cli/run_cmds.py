"""`train`: make (or resume) a run from a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import Device, Progress, RUNS_DIR, TrainPrecision, app


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe directory holding recipe.toml (e.g. recipes/quickstart), a "
                                  ".toml file, or a built-in recipe's name (e.g. quickstart; see audiodiff recipes)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: runs/<recipe name>). "
                                       "An existing run is resumed from its last checkpoint."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps in total "
                                            "(overrides \\[train] max_steps)."),
    minutes: Optional[str] = typer.Option(None, "--minutes", metavar="M", help="Train for this many minutes of wall clock "
                                          "(data preparation not counted; overrides \\[train] minutes), then save "
                                          "as at the end of a run; on a resumed run, this many more. With "
                                          "--max-steps: whichever comes first."),
    device: Device = "auto",
    precision: TrainPrecision = None,
    progress: Progress = True,
    restart: bool = typer.Option(False, "--restart", help="Train from step 0 even though --out holds a "
                                 "checkpoint or weights (they are replaced at the first checkpoint)."),
) -> None:
    """Train a model from a recipe (GPU when present, CPU otherwise); resumes an existing run.

    Ctrl-C, SIGTERM or SIGHUP stop it after the current step with a checkpoint (exit status 130, 143,
    129); the same command resumes."""
    from ..catalog import resolve_recipe
    from ..recipe import load_recipe
    from ..training import train as run_training

    r = load_recipe(resolve_recipe(recipe))
    if precision is not None:
        r.train.precision = precision
    run_dir = out or RUNS_DIR / r.name
    run_training(r, run_dir, device=device, max_steps=max_steps, show_progress=progress, restart=restart,
                 minutes=minutes)
    from ..eval.scorer import is_classifier_config

    if is_classifier_config(r.model):
        typer.echo(f"classifier ready in {run_dir}; score samples with: audiodiff eval SAMPLES --classifier {run_dir}")
        return
    from ..hub import USAGE

    typer.echo(f"model ready in {run_dir}; use it with: {USAGE[r.data.domain][0].format(ref=run_dir)}")
