"""`eval`: score a folder of audio (classifier metrics, FAD, denoising pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import Device, app, fail


@app.command("eval")
def eval_(
    samples: Path = typer.Argument(..., help="Folder of audio files to score (from any model; resampled and "
                                   "cropped / padded to the classifier's input)."),
    classifier: Optional[Path] = typer.Option(None, "--classifier", help="Classifier run (audiodiff train "
                                              "recipes/sc09-classifier): FID, IS, mIS, AM, NDB, accuracy."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Speech Commands tree or folder of real "
                                             "audio (default with --classifier: its training split)."),
    fad_name: Optional[str] = typer.Option(None, "--fad", help="FAD against --reference with this embedding: "
                                           "vggish | pann | clap | encodec (pip install "
                                           "'audiodiff\\[fad]') | mfcc (no download)."),
    clean: Optional[Path] = typer.Option(None, "--clean", help="Denoising: folder of clean references, matched "
                                         "to SAMPLES by relative path: SI-SDR."),
    noisy: Optional[Path] = typer.Option(None, "--noisy", help="Denoising: folder of the noisy inputs (with "
                                         "--clean): SI-SDR improvement."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="With --classifier: also write one "
                                          "self-contained HTML page with a player and a spectrogram per clip, "
                                          "grouped by label, and the metric table (e.g. report.html)."),
    device: Device = "auto",
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse cached reference statistics."),
) -> None:
    """Score audio: classifier metrics (FID, IS, mIS, AM, NDB, accuracy), FAD, or denoising pairs (SI-SDR)."""
    import json

    from rich.console import Console

    from ..evaluate import metrics_table, result_table
    from ..device import resolve_device

    if classifier is None and fad_name is None and clean is None:
        fail("say what to measure: --classifier RUN (digit metrics), --fad EMBEDDING --reference DIR, or "
             "--clean DIR (denoising pairs)")
    if noisy is not None and clean is None:
        raise typer.BadParameter("needs --clean: the references the noisy inputs are scored against",
                                 param_hint="--noisy")
    if report is not None and (classifier is None or report.is_dir()):
        raise typer.BadParameter("needs --classifier (the page shows the clips it scored) and a file name, e.g. "
                                 "report.html", param_hint="--report")
    console, out = Console(), {}
    result = None
    if classifier is not None:
        from ..evaluate import evaluate

        result = evaluate(samples, classifier, reference=reference, device=resolve_device(device), use_cache=cache)
        console.print(result_table(result))
        out.update(result.to_json())
    if fad_name is not None:
        from ..fad import fad

        scores = fad(samples, reference, fad_name)
        console.print(metrics_table(f"FAD ({fad_name} embedding, reference {reference})", scores))
        out.update(scores)
    if clean is not None:
        from ..pairs import score_pairs

        scores = score_pairs(samples, clean, noisy)
        console.print(metrics_table(f"denoising pairs (clean: {clean})", scores))
        out.update(scores)
    if json_out is not None:
        from ..atomic import atomic_write

        atomic_write(json_out, lambda f: f.write((json.dumps(out, indent=2) + "\n").encode()))
        typer.echo(f"wrote {json_out}")
    if report is not None:
        from ..report import write_eval_report

        write_eval_report(report, result, samples, classifier, extra_metrics=out)
        typer.echo(f"wrote {report}")
