"""The `audiodiff` command: a thin Typer layer over the Python API.

Errors a user can fix are printed as one line naming the file or option, with exit code 1; set
AUDIODIFF_DEBUG=1 to see the full traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .sampling import SAMPLERS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Denoising diffusion for audio: train models from recipes, generate WAV files.")
log = logging.getLogger("audiodiff")

RUNS_DIR = Path("runs")


def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("audiodiff: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def fail(message: str) -> None:
    """Print a one-line error and exit with status 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def latest_run(root: Path = RUNS_DIR) -> Path | None:
    """The run under root whose model.safetensors was written last."""
    candidates = sorted(root.glob("*/model.safetensors"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    candidates = [p for p in candidates if not _is_classifier_run(p.parent)]
    return candidates[-1].parent if candidates else None


def _is_classifier_run(run: Path) -> bool:
    """A run of recipes/sc09-classifier (it scores samples; `sample` never picks it by default)."""
    import json

    from .classifier import is_classifier_config

    try:
        return is_classifier_config(json.loads((run / "config.json").read_text()).get("model", {}))
    except (OSError, ValueError, AttributeError):
        return False


def _check_device_options(device: str, precision: str = "auto") -> None:
    """--device and --precision are usage errors, judged before any file is looked at."""
    from .device import DEVICES, device_choices
    from .precision import PRECISIONS

    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r}: use {device_choices()}", param_hint="--device")
    if precision not in PRECISIONS:
        raise typer.BadParameter(f"{precision!r}: use {', '.join(PRECISIONS)}", param_hint="--precision")


def _load_pipeline(model: Optional[Path], device: str, precision: str = "auto"):
    """--model, or the most recent run under ./runs (said on stderr) → Pipeline on the chosen device."""
    from .device import resolve_device
    from .pipeline import load

    _check_device_options(device, precision)
    if model is None:
        model = latest_run()
        if model is None:
            fail(f"no trained model under ./{RUNS_DIR}: train one first (audiodiff train recipes/quickstart) "
                 f"or pass --model RUN_DIR")
        log.info("using the most recent run: %s", model)
    return load(model, device=resolve_device(device), precision=precision)


MODEL_HELP = "Run directory or export (default: the most recently trained run under ./runs)."
PRECISION_HELP = "The network's precision: auto (bf16 where the hardware has it: CUDA compute 8.0+, CPUs with " \
    "AMX / AVX512-BF16) | fp32 | bf16."
WINDOW_HELP = ("Long recordings are processed in cross-faded windows of this many samples at the model's rate "
               "(default: the run's clip_length).")


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe directory holding recipe.toml (e.g. recipes/quickstart), a "
                                  ".toml file, or a built-in recipe's name (e.g. quickstart; see audiodiff recipes)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: runs/<recipe name>). "
                                       "An existing run is resumed from its last checkpoint."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps in total "
                                            "(overrides \\[train] max_steps)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    restart: bool = typer.Option(False, "--restart", help="Train from step 0 even though --out holds a "
                                 "checkpoint or weights (they are replaced at the first checkpoint)."),
) -> None:
    """Train a model from a recipe (GPU when present, CPU otherwise); resumes an existing run.

    Ctrl-C, SIGTERM or SIGHUP stop it after the current step with a checkpoint (exit status 130, 143,
    129); the same command resumes."""
    from .catalog import resolve_recipe
    from .recipe import load_recipe
    from .training import train as run_training

    _check_device_options(device)
    r = load_recipe(resolve_recipe(recipe))
    run_dir = out or RUNS_DIR / r.name
    run_training(r, run_dir, device=device, max_steps=max_steps, show_progress=progress, restart=restart)
    from .classifier import is_classifier_config

    if is_classifier_config(r.model):
        typer.echo(f"classifier ready in {run_dir}; score samples with: audiodiff eval SAMPLES --classifier {run_dir}")
        return
    typer.echo(f"model ready in {run_dir}; generate with: audiodiff sample --model {run_dir} --n 16 --out wavs/")


@app.command()
def sample(
    n: int = typer.Option(16, "--n", min=1, help="Number of clips to generate."),
    out: Path = typer.Option(Path("wavs"), "--out", help="Folder for sample_000.wav, sample_001.wav, …"),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Reverse steps (default: the run's \\[sample] "
                                        "steps, else every training step)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=f"One of {', '.join(SAMPLERS)} "
                                          "(default: the run's \\[sample] sampler)."),
    eta: Optional[float] = typer.Option(None, "--eta", min=0.0, max=1.0, help="DDIM η (ddim only)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for reproducible samples."),
    label: Optional[int] = typer.Option(None, "--label", min=0, help="Class to generate (class-conditional "
                                        "models, e.g. a digit 0-9 for sc09-cond)."),
    guidance: Optional[float] = typer.Option(None, "--guidance", min=0.0, help="Classifier-free guidance scale "
                                             "(1 = plain conditional; needs --label)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips generated at once."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    vocoder: Optional[Path] = typer.Option(None, "--vocoder", help="Mel-domain models: the vocoder run that turns "
                                           "the generated mels into audio (default: Griffin-Lim)."),
    plot: bool = typer.Option(False, "--plot", help="Also write each clip's mel spectrogram as sample_NNN.png."),
    save_mel: bool = typer.Option(False, "--save-mel", help="Mel-domain models: also write each normalised mel "
                                  "as sample_NNN.npy (for audiodiff vocode ... --mel-from MODEL)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write one self-contained HTML page with a "
                                          "player and a spectrogram per clip and the model card (e.g. report.html)."),
    force: bool = typer.Option(False, "--force", help="Write into an --out folder that already holds sample_* "
                               "files: they are replaced, and any this run does not write are removed."),
    spacing: Optional[str] = typer.Option(None, "--spacing", help="Where the steps go: uniform | trailing | leading "
                                          "| logsnr | karras (default: the run's recipe spacing, else dpm++ "
                                          "logsnr, others uniform)."),
    clip_x0: Optional[str] = typer.Option(None, "--clip-x0", help="Clip each x̂0: none | clip | dynamic (Imagen's "
                                          "dynamic thresholding; default: the run's recipe clip_x0, else none)."),
) -> None:
    """Generate --n clips with a trained model and write them as 16-bit WAV files."""
    from .audio import save_wav
    from .outputs import check_sample_folder, remove_stale_samples
    from .sampling import CLIP_X0
    from .spacing import SPACINGS

    if spacing is not None and spacing not in SPACINGS:
        raise typer.BadParameter(f"{spacing!r}: use one of {', '.join(SPACINGS)}", param_hint="--spacing")
    if clip_x0 is not None and clip_x0 not in CLIP_X0:
        raise typer.BadParameter(f"{clip_x0!r}: use one of {', '.join(CLIP_X0)}", param_hint="--clip-x0")

    if sampler is not None and sampler not in SAMPLERS:
        raise typer.BadParameter(f"{sampler!r}: use one of {', '.join(SAMPLERS)}", param_hint="--sampler")
    if report is not None and report.is_dir():
        raise typer.BadParameter(f"{report} is a folder: name the page's file, e.g. {report / 'report.html'}",
                                 param_hint="--report")
    _check_device_options(device, precision)
    check_sample_folder(out, force)
    pipe = _load_pipeline(model, device, precision)
    voc = _check_mel_options(pipe, model, vocoder, save_mel, device)
    if guidance is not None and label is None:
        raise typer.BadParameter("needs --label: say which class to generate", param_hint="--guidance")
    if label is not None and not getattr(pipe.model, "num_classes", 0):
        fail(f"{model or 'this run'} is not class-conditional: drop --label, or train a recipe with "
             f"[model] num_classes (e.g. recipes/sc09-cond)")
    if label is not None and label >= pipe.model.num_classes:
        fail(f"--label {label}: this model has classes 0..{pipe.model.num_classes - 1}")
    if eta is not None and (sampler or pipe.sample_defaults.get("sampler", "ddpm")) != "ddim":
        # judged after loading: a run whose [sample] sampler is ddim takes --eta without --sampler
        raise typer.BadParameter("applies to --sampler ddim only", param_hint="--eta")
    generator = pipe._generator(seed)
    written, clips = 0, []
    paths: list[Path] = []
    while written < n:
        count = min(batch_size, n - written)
        mels = None
        if pipe.domain == "mel":
            mels = pipe.sample_mel(count, steps=steps, sampler=sampler, eta=eta, generator=generator,
                                   progress=progress, labels=label, guidance=guidance, spacing=spacing,
                                   clip_x0=clip_x0)
            waves = pipe.decode(mels, vocoder=voc, generator=generator, progress=progress)
        else:
            waves = pipe.sample(count, steps=steps, sampler=sampler, eta=eta, generator=generator, progress=progress,
                                labels=label, guidance=guidance, spacing=spacing, clip_x0=clip_x0)
        for i, wave in enumerate(waves):
            stem = out / f"sample_{written:03d}"
            paths.append(save_wav(stem.with_suffix(".wav"), wave, pipe.sample_rate))
            if plot:
                paths.append(_plot_mel(stem.with_suffix(".png"), wave, pipe, None if mels is None else mels[i]))
            if save_mel:
                paths.append(_save_npy(stem.with_suffix(".npy"), mels[i].numpy()))
            if report is not None:
                clips.append((stem.name, wave))
            written += 1
    stale = remove_stale_samples(out, paths)
    if stale:
        log.info("removed %d sample_* file(s) of an earlier run from %s", len(stale), out)
    if label is not None:   # audiodiff eval reads it: accuracy of the classifier on the asked-for class
        from .evaluate import write_labels

        names = pipe.config.get("class_names") or []
        write_labels(out, {f"sample_{i:03d}.wav": names[label] if label < len(names) else label for i in range(n)})
    extra = (" with mel images (.png)" if plot else "") + (" and mels (.npy)" if save_mel else "")
    how = "" if pipe.domain != "mel" else f" (mels decoded by {'vocoder ' + str(vocoder) if voc else 'Griffin-Lim'})"
    typer.echo(f"wrote {n} WAV file(s) at {pipe.sample_rate} Hz{extra} to {out}/{how}")
    if report is not None:
        from .report import write_sample_report

        write_sample_report(report, clips, pipe, sampler=sampler, steps=steps, eta=eta, seed=seed, label=label,
                            guidance=guidance, vocoder=str(vocoder) if voc else None)
        typer.echo(f"wrote the report page {report}")


def _check_mel_options(pipe, model: Optional[Path], vocoder: Optional[Path], save_mel: bool, device: str):
    """`sample`'s domain checks; returns the vocoder Pipeline (or None)."""
    name = model or "this run"
    if pipe.domain == "vocoder":
        fail(f"{name} is a vocoder (it turns mels into audio): use audiodiff vocode IN.wav|IN.npy --model {name} "
             f"--out OUT.wav, or pass it to a mel-domain model with --vocoder")
    if pipe.domain != "mel":
        if vocoder is not None:
            fail(f"--vocoder needs a mel-domain model; {name} makes waveforms directly")
        if save_mel:
            fail(f"--save-mel needs a mel-domain model; {name} makes waveforms directly (--plot draws their mels)")
        return None
    if vocoder is None:
        return None
    from .device import resolve_device
    from .pipeline import load

    voc = load(vocoder, device=resolve_device(device), precision=pipe.precision)
    _check_vocoder_for(voc, vocoder, pipe.features)
    return voc


def _check_vocoder_for(voc, path: Path, features) -> None:
    """Fail unless `voc` is a vocoder run for mels made with `features` (statistics may differ)."""
    if voc.domain != "vocoder":
        fail(f"{path} is not a vocoder run (its domain is {voc.domain!r})")
    diff = voc.features.same_transform(features)
    if diff:
        mine, theirs = voc.features.to_config(), features.to_config()
        fail(f"the vocoder {path} was trained on other mel settings: " + ", ".join(
            f"{k} {mine[k]} (vocoder) vs {theirs[k]}" for k in diff))


def _plot_mel(path: Path, wave, pipe, mel=None) -> Path:
    from .features import preview_image, save_mel_png, write_png

    if mel is not None:   # minmax mels lie in [−1, 1]; meanstd ones are drawn over their own range
        return save_mel_png(path, mel, *((-1.0, 1.0) if pipe.features.norm == "minmax" else (None, None)))
    return write_png(path, preview_image(wave, pipe.sample_rate, pipe.features))


def _save_npy(path: Path, array) -> Path:
    import numpy as np

    from .atomic import atomic_write

    return atomic_write(path, lambda f: np.save(f, array.astype(np.float32), allow_pickle=False))


def _require_file(path: Path) -> None:
    if not path.is_file():
        fail(f"input file {path} does not exist")


def _check_out_file(path: Path) -> None:
    """Judge --out before any work: a file path whose folder can exist (audiodiff/atomic.py)."""
    from .atomic import check_output_file

    check_output_file(path)


def _read_input(path: Path, sample_rate: int | None = None):
    """(wave [L], rate) of an input recording, resampled to sample_rate when given; one-line error if missing."""
    from .audio import load_audio

    _require_file(path)
    return load_audio(path, sample_rate)


@app.command()
def denoise(
    audio: Path = typer.Argument(..., help="Noisy recording (wav/flac/ogg); any sample rate."),
    out: Path = typer.Option(..., "--out", help="Output WAV (same rate and length as the input)."),
    sigma: Optional[float] = typer.Option(None, "--sigma", min=1e-6, help="Noise standard deviation "
                                          "(default: estimated from the recording, and printed)."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Most reverse steps to run."),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim (deterministic) or ddpm (a posterior draw)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    window: Optional[int] = typer.Option(None, "--window", min=16, help=WINDOW_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over the windows."),
) -> None:
    """Remove additive white noise from a recording with a trained waveform model."""
    from .audio import save_wav

    if sampler not in ("ddim", "ddpm", "dpm++"):
        raise typer.BadParameter(f"{sampler!r}: use ddim, ddpm or dpm++", param_hint="--sampler")
    _check_out_file(out)
    wave, rate = _read_input(audio)
    pipe = _load_pipeline(model, device, precision)
    clean, sigmas = pipe.denoise(wave, sigma=sigma, steps=steps, sampler=sampler, sample_rate=rate, seed=seed,
                                 return_sigma=True, window=window, progress=progress)
    save_wav(out, clean, rate)
    typer.echo(f"wrote {out} (σ = {sigmas[0]:.4g}{', estimated' if sigma is None else ''})")


@app.command()
def vocode(
    audio: Path = typer.Argument(..., help="A recording (wav/flac/ogg, any rate) to re-synthesise from its mel, or "
                                 "a mel .npy [n_mels, frames], normalised (as pipe.sample_mel or sample --save-mel "
                                 "write it)."),
    out: Path = typer.Option(..., "--out", help="Output WAV at the vocoder's rate."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vocoder run directory (default: the most recently "
                                         "trained run under ./runs)."),
    mel_from: Optional[Path] = typer.Option(None, "--mel-from", help="For a .npy: the mel-domain run whose "
                                            "statistics normalised it (default: the vocoder's own)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Reverse steps (default: the run's \\[sample])."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=f"One of {', '.join(SAMPLERS)} (default: the "
                                          "run's \\[sample] sampler)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Turn a mel spectrogram into audio with a vocoder run: re-synthesise a recording, or vocode a saved .npy."""
    import numpy as np

    from .audio import load_audio, save_wav

    if sampler is not None and sampler not in SAMPLERS:
        raise typer.BadParameter(f"{sampler!r}: use one of {', '.join(SAMPLERS)}", param_hint="--sampler")
    _require_file(audio)
    _check_out_file(out)
    pipe = _load_pipeline(model, device, precision)
    if pipe.domain != "vocoder":
        fail(f"{model or 'this run'} is not a vocoder (its domain is {pipe.domain!r}): pass a vocoder run with --model")
    options = dict(steps=steps, sampler=sampler, seed=seed, progress=progress)
    if audio.suffix.lower() == ".npy":
        try:
            mel = np.load(audio, allow_pickle=False)
        except (OSError, ValueError) as exc:
            fail(f"{audio}: cannot read a .npy array ({exc})")
        if mel.ndim != 2:
            fail(f"{audio}: a mel must be [n_mels, frames], got shape {mel.shape}")
        if mel.shape[1] == 0:
            fail(f"{audio}: the mel has no frames (shape {mel.shape}); nothing to vocode")
        features = None
        if mel_from is not None:
            from .pipeline import load

            source = load(mel_from, device="cpu")
            if source.features is None:
                fail(f"--mel-from {mel_from}: not a mel-domain run")
            _check_vocoder_for(pipe, model or Path("this run"), source.features)
            features = source.features
        wave = pipe.vocode(mel.astype(np.float32), features=features, **options)
        what = f"{mel.shape[1]} mel frames"
    else:
        if mel_from is not None:
            raise typer.BadParameter("applies to a .npy mel only", param_hint="--mel-from")
        wave, rate = load_audio(audio)
        wave = pipe.resynthesize(wave, sample_rate=rate, **options)
        what = f"{audio} re-synthesised from its mel"
    save_wav(out, wave, pipe.sample_rate)
    typer.echo(f"wrote {out} ({what}, {pipe.sample_rate} Hz)")


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
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse cached reference statistics."),
) -> None:
    """Score audio: classifier metrics (FID, IS, mIS, AM, NDB, accuracy), FAD, or denoising pairs (SI-SDR)."""
    import json

    from rich.console import Console

    from .device import resolve_device
    from .evaluate import metrics_table, result_table

    _check_device_options(device)
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
        from .evaluate import evaluate

        result = evaluate(samples, classifier, reference=reference, device=resolve_device(device), use_cache=cache)
        console.print(result_table(result))
        out.update(result.to_json())
    if fad_name is not None:
        from .fad import fad

        scores = fad(samples, reference, fad_name)
        console.print(metrics_table(f"FAD ({fad_name} embedding, reference {reference})", scores))
        out.update(scores)
    if clean is not None:
        from .pairs import score_pairs

        scores = score_pairs(samples, clean, noisy)
        console.print(metrics_table(f"denoising pairs (clean: {clean})", scores))
        out.update(scores)
    if json_out is not None:
        from .atomic import atomic_write

        atomic_write(json_out, lambda f: f.write((json.dumps(out, indent=2) + "\n").encode()))
        typer.echo(f"wrote {json_out}")
    if report is not None:
        from .report import write_eval_report

        write_eval_report(report, result, samples, classifier, extra_metrics=out)
        typer.echo(f"wrote {report}")


def _parse_gap(gap: str, rate: int, length: int) -> tuple[int, int]:
    import math

    try:
        start_s, end_s = (float(v) for v in gap.split(":"))
    except ValueError:
        fail(f"--gap {gap!r}: write START:END in seconds, e.g. 0.5:0.75")
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        fail(f"--gap {gap!r}: START and END must be finite numbers of seconds, e.g. 0.5:0.75")
    start, end = round(start_s * rate), round(end_s * rate)
    if not 0 <= start < end <= length:
        fail(f"--gap {gap!r}: need 0 <= START < END <= {length / rate:.3f} s (the file's length)")
    return start, end


@app.command()
def inpaint(
    audio: Path = typer.Argument(..., help="Recording with a gap to fill; resampled to the model's rate."),
    gap: str = typer.Option(..., "--gap", help="START:END in seconds, the span to regenerate."),
    out: Path = typer.Option(..., "--out", help="Output WAV at the model's rate."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", min=1),
    jumps: int = typer.Option(1, "--jumps", "--jump-n-sample", min=1, help="RePaint's jump_n_sample: times each "
                              "stretch is resampled (more = more coherent; the paper uses 10)."),
    jump_length: int = typer.Option(1, "--jump-length", min=1, help="RePaint's jump_length: steps the chain goes "
                                    "back up each time (the paper uses 10)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    window: Optional[int] = typer.Option(None, "--window", min=16, help=WINDOW_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over the windows."),
) -> None:
    """Regenerate a span of a recording; everything outside the span is kept exactly."""
    import torch

    from .audio import save_wav

    _check_out_file(out)
    pipe = _load_pipeline(model, device)
    wave, rate = _read_input(audio, pipe.sample_rate)
    start, end = _parse_gap(gap, rate, wave.shape[-1])
    mask = torch.zeros_like(wave, dtype=torch.bool)
    mask[start:end] = True
    filled = pipe.inpaint(wave, mask, steps=steps, resample_jumps=jumps, jump_length=jump_length, seed=seed,
                          window=window, progress=progress)
    save_wav(out, filled, rate)
    typer.echo(f"wrote {out} ({(end - start) / rate:.3f} s regenerated)")


@app.command()
def upsample(
    audio: Path = typer.Argument(..., help="Band-limited recording at a rate below the model's."),
    out: Path = typer.Option(..., "--out", help="Output WAV at the model's rate."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", min=1),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    window: Optional[int] = typer.Option(None, "--window", min=16, help=WINDOW_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over the windows."),
) -> None:
    """Bandwidth extension: keep the recording's band and generate the missing high band."""
    from .audio import save_wav

    _check_out_file(out)
    wave, rate = _read_input(audio)
    pipe = _load_pipeline(model, device)
    if rate >= pipe.sample_rate:
        fail(f"{audio} is at {rate} Hz, not below the model's {pipe.sample_rate} Hz: nothing to extend")
    wide = pipe.upsample(wave, rate, steps=steps, seed=seed, window=window, progress=progress)
    save_wav(out, wide, pipe.sample_rate)
    typer.echo(f"wrote {out} ({rate} Hz → {pipe.sample_rate} Hz)")


@app.command()
def env() -> None:
    """Print versions, devices and bf16 support (paste it into a bug report); exit 1 if torchaudio cannot load."""
    from .install import InstallError, check_install, environment, format_environment

    typer.echo(format_environment(environment()))
    try:
        check_install()
    except InstallError as exc:
        fail(str(exc))


recipes_app = typer.Typer(help="The built-in recipes: list them, or copy one to edit.", invoke_without_command=True)
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback()
def recipes(ctx: typer.Context) -> None:
    """List the built-in recipes (train one by name: audiodiff train quickstart)."""
    from .catalog import builtin_recipes

    if ctx.invoked_subcommand is not None:
        return
    found = builtin_recipes()
    if not found:
        fail("this install has no built-in recipes (reinstall audiodiff)")
    width = max(len(r.name) for r in found)
    for r in found:
        typer.echo(f"{r.name:<{width}}  {r.description}")


@recipes_app.command("copy")
def recipes_copy(
    name: str = typer.Argument(..., help="A built-in recipe's name (see audiodiff recipes)."),
    dest: Path = typer.Argument(..., help="New directory to copy it into."),
) -> None:
    """Copy a built-in recipe (recipe.toml, README.md) into a new directory to edit and train."""
    from .catalog import copy_recipe

    copy_recipe(name, dest)
    typer.echo(f"copied recipe {name} to {dest}; edit {dest / 'recipe.toml'}, then: audiodiff train {dest}")


def main() -> None:
    """Entry point: run the app, turning known errors into one-line messages."""
    from .audio import AudioReadError
    from .data import DatasetError
    from .install import InstallError, check_install
    from .interrupt import Interrupted
    from .recipe import RecipeError
    from .training import TrainingError

    _setup_logging()
    if sys.argv[1:2] != ["env"]:   # `env` reports a broken install itself, after the versions
        try:
            check_install()
        except InstallError as exc:
            typer.echo(f"error: {exc}", err=True)
            sys.exit(1)
    try:
        code = app(standalone_mode=False)
    except Interrupted as exc:     # the trainer stopped on a signal (after a checkpoint, when it could)
        typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command again to resume from the last checkpoint", err=True)
        sys.exit(130)
    except (RecipeError, DatasetError, TrainingError, AudioReadError, InstallError, FileNotFoundError,
            ValueError) as exc:
        if os.environ.get("AUDIODIFF_DEBUG"):
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # Typer's (click's) usage errors: a bad option value, a missing argument
        if type(exc).__name__ == "Abort" and isinstance(exc.__cause__, EOFError):   # Typer's wrapping of EOFError
            if os.environ.get("AUDIODIFF_DEBUG"):
                raise
            typer.echo(f"error: a file ended early ({exc.__cause__ or 'EOFError'}): it is empty or truncated; "
                       f"set AUDIODIFF_DEBUG=1 to see which", err=True)
            sys.exit(1)
        if type(exc).__name__ == "Abort":  # Ctrl-C, re-raised as Abort outside standalone mode
            typer.echo("interrupted: run the same command again to resume from the last checkpoint", err=True)
            sys.exit(130)
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    if code == 130:   # Typer turns a KeyboardInterrupt (Ctrl-C outside training) into a silent exit 130
        typer.echo("interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)

