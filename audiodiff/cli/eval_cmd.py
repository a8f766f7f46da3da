"""`eval`: score a folder of audio (classifier metrics, FAD, denoising / vocoder pairs, DNSMOS)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import Device, Force, app, check_out_file, fail


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
    clean: Optional[Path] = typer.Option(None, "--clean", help="Denoising / vocoding: folder of clean references, "
                                         "matched to SAMPLES by relative path: PESQ (wide-band), ESTOI, SI-SDR, "
                                         "MR-STFT, log-mel L1, DNSMOS (per file in --json)."),
    noisy: Optional[Path] = typer.Option(None, "--noisy", help="Denoising: folder of the noisy inputs (with "
                                         "--clean): their PESQ, ESTOI, SI-SDR and the improvements."),
    speech_metrics: Optional[str] = typer.Option(None, "--speech-metrics", help="With --clean: which, comma-"
                                                 "separated: pesq,estoi,si_sdr,mr_stft,log_mel_l1,dnsmos (default: "
                                                 "all installed; pesq, estoi, dnsmos need pip install "
                                                 "'audiodiff\\[speech]'). dnsmos is the slow one: about 3 s per "
                                                 "3 s clip on 2 CPU cores (clips under 9 s are tiled to 9 s)."),
    dnsmos: bool = typer.Option(False, "--dnsmos", help="DNSMOS SIG / BAK / OVRL of SAMPLES alone, no reference "
                                "needed (pip install 'audiodiff\\[speech]'; about 3 s per 3 s clip on 2 CPU cores)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="With --classifier: also write one "
                                          "self-contained HTML page with a player and a spectrogram per clip, "
                                          "grouped by label, and the metric table (e.g. report.html)."),
    device: Device = "auto",
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse cached reference statistics."),
    force: Force = False,
) -> None:
    """Score audio: classifier metrics (FID, IS, mIS, AM, NDB, accuracy), FAD, denoising / vocoder pairs (PESQ,
    ESTOI, SI-SDR, MR-STFT, log-mel L1, DNSMOS), or DNSMOS alone."""
    import json

    from rich.console import Console

    from ..eval.evaluate import metrics_table, result_table
    from ..device import resolve_device

    if classifier is None and fad_name is None and clean is None and not dnsmos and speech_metrics is None:
        fail("say what to measure: --classifier RUN (digit metrics), --fad EMBEDDING --reference DIR, "
             "--clean DIR (denoising / vocoder pairs), or --dnsmos (speech quality without a reference)")
    if noisy is not None and clean is None:
        raise typer.BadParameter("needs --clean: the references the noisy inputs are scored against",
                                 param_hint="--noisy")
    if report is not None and (classifier is None or report.is_dir()):
        raise typer.BadParameter("needs --classifier (the page shows the clips it scored) and a file name, e.g. "
                                 "report.html", param_hint="--report")
    if report is not None:
        check_out_file(report, force, "--report")
    console, out = Console(), {}
    result = None
    if classifier is not None:
        from ..eval.evaluate import evaluate

        result = evaluate(samples, classifier, reference=reference, device=resolve_device(device), use_cache=cache)
        console.print(result_table(result))
        out.update(result.to_json())
    if fad_name is not None:
        from ..eval.fad import fad

        scores = fad(samples, reference, fad_name)
        console.print(metrics_table(f"FAD ({fad_name} embedding, reference {reference})", scores))
        out.update(scores)
    if clean is not None or dnsmos or speech_metrics is not None:
        from ..eval.speech import EXTRA, choose_metrics, missing_extra, score_speech

        names = speech_metrics
        if dnsmos:   # DNSMOS asked for by name: added to the chosen (or default) metrics, refused when not installed
            chosen = names.split(",") if names else [m.name for m in choose_metrics(None, clean is not None)]
            names = ",".join([*chosen, "dnsmos"])
        scores = score_speech(samples, clean, noisy, metrics=names)
        if names is None and missing_extra():   # said after scoring, so that an error stays one line
            typer.echo(f"{', '.join(missing_extra())} not scored: {EXTRA}", err=True)
        title = f"speech pairs (clean: {clean})" if clean is not None else f"speech quality of {samples} (no reference)"
        console.print(metrics_table(title, scores))
        out.update(scores)
    if json_out is not None:
        from ..atomic import atomic_write

        atomic_write(json_out, lambda f: f.write((json.dumps(out, indent=2) + "\n").encode()))
        typer.echo(f"wrote {json_out}")
    if report is not None:
        from ..eval.report import write_eval_report

        write_eval_report(report, result, samples, classifier, extra_metrics=out)
        typer.echo(f"wrote {report}")
