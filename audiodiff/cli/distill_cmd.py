"""`distill`: progressive distillation of a trained run into a few-step student run (audiodiff.distill)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import Device, Progress, app

# The defaults are audiodiff.training.distillation's (FROM_STEPS, ITERS_PER_ROUND, LEARNING_RATE; a test checks
# they agree), written out so that `--help` does not import the trainer.


@app.command()
def distill(
    run: Path = typer.Argument(..., help="The trained run directory to distil (its EMA weights are the teacher; "
                               "its recipe's dataset is the training data)."),
    steps: int = typer.Option(4, "--steps", help="DDIM steps of the final student: --from-steps halved one or "
                              "more times (e.g. 4, 2, 1)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Student run directory (default: RUN-<steps>step). "
                                       "The same command on it resumes an interrupted distillation."),
    from_steps: int = typer.Option(64, "--from-steps", help="DDIM steps of the teacher in the first round; each "
                                   "round halves them."),
    iters_per_round: int = typer.Option(200, "--iters-per-round", min=1, help="Optimiser steps per halving round."),
    lr: float = typer.Option(1e-4, "--lr", min=0, help="Learning rate at the start of each round (decays "
                             "linearly to 0 within it)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Clips per step (default: the "
                                             "run's \\[train] batch_size)."),
    weighting: str = typer.Option("snr+1", "--weighting", help="Loss weight in x̂0 terms: snr+1 (the v-MSE) | "
                                  "truncated-snr (max(SNR, 1))."),
    ema_decay: float = typer.Option(0.0, "--ema-decay", min=0, max=0.9999, help="EMA of the student's weights "
                                    "(0: none; the learning rate's decay already averages)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", min=1, help="Steps between "
                                                   "checkpoints (default: the run's); every round's end is one too."),
    device: Device = "auto",
    progress: Progress = True,
) -> None:
    """Distil RUN to a few DDIM steps (progressive distillation, Salimans & Ho 2022).

    Each round a student, started from the teacher, learns to do in one DDIM step what the teacher does in
    two, halving the steps from --from-steps down to --steps.  --out is an ordinary run directory whose
    config.json makes DDIM on the distilled levels its default sampler: `audiodiff sample --model OUT` uses
    it with no flags.  Checkpoints, resume (run the same command), TensorBoard and Ctrl-C behave as in train."""
    from ..training.distillation import distill as run_distill

    student = run_distill(run, steps=steps, out=out, from_steps=from_steps, iters_per_round=iters_per_round, lr=lr,
                          batch_size=batch_size, weighting=weighting, ema_decay=ema_decay,
                          checkpoint_every=checkpoint_every, device=device, show_progress=progress)
    typer.echo(f"{steps}-step student ready in {student}; generate with: audiodiff sample --model {student} "
               f"--n 16 --out wavs/")
