"""`sample` and `vocode`: generate audio with a run, or turn mels into audio with a vocoder run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..options import option_meta
from ..sampling import SampleOptions, check_guidance_interval, get_sampler, own_spacings, samplers_where
from .common import (Device, Force, Model, Precision, Progress, Seed, Window, app, check_out_file, fail,
                     load_pipeline, log, require_file)


def declared(key: str) -> tuple[str, ...]:
    """The choices SampleOptions declares for `key` ([sample] in a recipe), less "" (the recipe's "not set")."""
    return tuple(c for c in option_meta(SampleOptions, key)["choices"] if c)


def choice_of(key: str, flag: str):
    """A Typer callback judging `flag` against the declared choices of [sample] `key` while parsing (before any
    run is looked for): one usage-error line naming them."""
    choices = declared(key)

    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r}: use one of {', '.join(choices)}", param_hint=flag)
        return value

    return check


def _sigma_interval(value: Optional[str]) -> Optional[list[float]]:
    """--guidance-interval LO,HI → [lo, hi] (checked as [sample] guidance_interval is); "none" → []."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return []
    try:
        interval = [float(v) for v in value.split(",")]
        check_guidance_interval(interval)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give two noise levels LO,HI with 0 <= LO < HI (e.g. 0.3,5), or "
                                 f"none") from None
    return interval


# --sampler, --spacing and --clip-x0 take what [sample] takes
SAMPLER_CHOICES, SPACING_CHOICES, CLIP_CHOICES = declared("sampler"), declared("spacing"), declared("clip_x0")


@app.command()
def sample(
    n: int = typer.Option(16, "--n", min=1, help="Number of clips to generate."),
    out: Path = typer.Option(Path("wavs"), "--out", help="Folder for sample_000.wav, sample_001.wav, …"),
    model: Model = None,
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Reverse steps (default: the run's \\[sample] "
                                        "steps, else every training step)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", callback=choice_of("sampler", "--sampler"),
                                          help=f"One of {', '.join(SAMPLER_CHOICES)} (default: the run's \\[sample] "
                                          "sampler)."),
    eta: Optional[float] = typer.Option(None, "--eta", min=0.0, max=1.0, help="DDIM η (ddim only)."),
    seed: Seed = None,
    label: Optional[str] = typer.Option(None, "--label", help="Class to generate (class-conditional models): an "
                                        "index, a class name (e.g. seven for sc09-cond), or each (the classes in "
                                        "turn, evenly); default: the run's \\[sample] label, else unconditional."),
    guidance: Optional[float] = typer.Option(None, "--guidance", min=0.0, help="Classifier-free guidance scale "
                                             "(1 = plain conditional; needs a label)."),
    guidance_interval: Optional[str] = typer.Option(None, "--guidance-interval", callback=_sigma_interval,
                                                    metavar="LO,HI", help="Guide only at noise levels σ from LO to "
                                                    "HI, plain conditional elsewhere (none = every step; default: "
                                                    "the run's \\[sample] guidance_interval)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips generated at once."),
    device: Device = "auto",
    precision: Precision = "auto",
    progress: Progress = True,
    vocoder: Optional[Path] = typer.Option(None, "--vocoder", help="Mel-domain models: the vocoder run that turns "
                                           "the generated mels into audio (default: Griffin-Lim)."),
    plot: bool = typer.Option(False, "--plot", help="Also write each clip's mel spectrogram as sample_NNN.png."),
    save_mel: bool = typer.Option(False, "--save-mel", help="Mel-domain models: also write each normalised mel "
                                  "as sample_NNN.npy (for audiodiff vocode ... --mel-from MODEL)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write one self-contained HTML page with a "
                                          "player and a spectrogram per clip and the model card (e.g. report.html)."),
    force: bool = typer.Option(False, "--force", help="Write into an --out folder that already holds sample_* "
                               "files (they are replaced, and any this run does not write are removed), and "
                               "replace an existing --report page."),
    spacing: Optional[str] = typer.Option(None, "--spacing", callback=choice_of("spacing", "--spacing"),
                                          help=f"Where the steps go: {' | '.join(SPACING_CHOICES)} (default: the run's "
                                          f"recipe spacing, else the sampler's own: {own_spacings()})."),
    clip_x0: Optional[str] = typer.Option(None, "--clip-x0", callback=choice_of("clip_x0", "--clip-x0"),
                                          help=f"Clip each x̂0: {' | '.join(CLIP_CHOICES)} (Imagen's dynamic "
                                          "thresholding; default: the run's recipe clip_x0, else none)."),
    seconds: Optional[float] = typer.Option(None, "--seconds", min=0.001, help="Make clips this long "
                                            "whatever the run's clip length, window by window: each new window "
                                            "continues the last quarter of the one before, cross-faded in (music; "
                                            "default: one clip of the run's length)."),
    trim_db: Optional[float] = typer.Option(None, "--trim-db", max=0.0, help="Cut each clip after its last sample "
                                            "louder than this many dB below its peak, with a 10 ms fade (one-shots; "
                                            "0 = keep the full length; default: the run's \\[sample] trim_db)."),
) -> None:
    """Generate --n clips with a trained model and write them as 16-bit WAV files."""
    from ..audio import save_wav, trim_trailing_silence
    from ..outputs import check_sample_folder, remove_stale_samples

    if report is not None and report.is_dir():
        raise typer.BadParameter(f"{report} is a folder: name the page's file, e.g. {report / 'report.html'}",
                                 param_hint="--report")
    if report is not None:
        check_out_file(report, force, "--report")
    check_sample_folder(out, force)
    pipe = load_pipeline(model, device, precision)
    voc = _check_mel_options(pipe, model, vocoder, save_mel, device)
    try:
        labels = pipe.class_labels(label, n)   # one class per sample: --label, else the run's [sample] label
    except ValueError as exc:
        fail(f"--label: {exc}" if label is not None else f"{model or 'this run'}: [sample] {exc}")
    for flag, value in (("--guidance", guidance), ("--guidance-interval", guidance_interval)):
        if value is not None and labels is None:
            raise typer.BadParameter("needs a label: say which class to generate (--label)", param_hint=flag)
    if eta is not None and "eta" not in get_sampler(sampler or pipe.sample_options.sampler).options:
        # judged after loading: a run whose [sample] sampler is ddim takes --eta without --sampler
        takers = " | ".join(samplers_where(lambda s: "eta" in s.options))
        raise typer.BadParameter(f"applies to --sampler {takers} only", param_hint="--eta")
    trim = pipe.sample_options.trim_db if trim_db is None else trim_db
    generator = pipe._generator(seed)
    written, clips = 0, []
    paths: list[Path] = []
    while written < n:
        count = min(batch_size, n - written)
        batch_labels = None if labels is None else labels[written:written + count]
        waves, mels = pipe.generate(count, steps=steps, sampler=sampler, eta=eta, generator=generator,
                                    progress=progress, labels=batch_labels, guidance=guidance,
                                    guidance_interval=guidance_interval, spacing=spacing,
                                    clip_x0=clip_x0, vocoder=voc, seconds=seconds)
        for i, wave in enumerate(waves):
            stem = out / f"sample_{written:03d}"
            if trim < 0:
                wave = trim_trailing_silence(wave, pipe.sample_rate, trim)
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
    if labels is not None:   # audiodiff eval reads it: accuracy of the classifier on the asked-for classes
        from ..eval.evaluate import write_labels
        from ..eval.report import class_name

        write_labels(out, {f"sample_{i:03d}.wav": class_name(pipe, k) for i, k in enumerate(labels)})
    extra = (" with mel images (.png)" if plot else "") + (" and mels (.npy)" if save_mel else "")
    how = "" if mels is None else f" (mels decoded by {'vocoder ' + str(vocoder) if voc else 'Griffin-Lim'})"
    typer.echo(f"wrote {n} WAV file(s) at {pipe.sample_rate} Hz{extra} to {out}/{how}")
    if report is not None:
        from ..eval.report import write_sample_report

        write_sample_report(report, clips, pipe, labels=labels, sampler=sampler, steps=steps, eta=eta, seed=seed,
                            guidance=guidance, guidance_interval=guidance_interval,
                            vocoder=str(vocoder) if voc else None)
        typer.echo(f"wrote the report page {report}")


def _check_mel_options(pipe, model: Optional[Path], vocoder: Optional[Path], save_mel: bool, device: str):
    """`sample`'s domain checks; returns the vocoder Pipeline (or None)."""
    from ..pipeline import MelPipeline, VocoderPipeline

    name = model or "this run"
    if isinstance(pipe, VocoderPipeline):
        fail(f"{name} is a vocoder (it turns mels into audio): use audiodiff vocode IN.wav|IN.npy --model {name} "
             f"--out OUT.wav, or pass it to a mel-domain model with --vocoder")
    if not isinstance(pipe, MelPipeline):
        if vocoder is not None:
            fail(f"--vocoder needs a mel-domain model; {name} makes waveforms directly")
        if save_mel:
            fail(f"--save-mel needs a mel-domain model; {name} makes waveforms directly (--plot draws their mels)")
        return None
    if vocoder is None:
        return None
    from ..pipeline import load
    from ..device import resolve_device

    voc = load(vocoder, device=resolve_device(device), precision=pipe.precision)
    try:
        pipe.check_vocoder(voc, f"the vocoder {vocoder}")
    except ValueError as exc:
        fail(str(exc))
    return voc


def _plot_mel(path: Path, wave, pipe, mel=None) -> Path:
    from ..features import preview_image, save_mel_png, write_png

    if mel is not None:   # minmax mels lie in [−1, 1]; meanstd ones are drawn over their own range
        return save_mel_png(path, mel, *((-1.0, 1.0) if pipe.features.norm == "minmax" else (None, None)))
    return write_png(path, preview_image(wave, pipe.sample_rate, pipe.features))


def _save_npy(path: Path, array) -> Path:
    import numpy as np

    from ..atomic import atomic_write

    return atomic_write(path, lambda f: np.save(f, array.astype(np.float32), allow_pickle=False))


@app.command()
def vocode(
    audio: Path = typer.Argument(..., help="A recording (wav/flac/ogg, any rate) to re-synthesise from its mel, or "
                                 "a mel .npy [n_mels, frames], normalised (as pipe.sample_mel or sample --save-mel "
                                 "write it)."),
    out: Path = typer.Option(..., "--out", help="Output WAV at the vocoder's rate."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vocoder run directory, or hf://ORG/NAME[@REVISION] "
                                         "(default: the most recently trained run under ./runs)."),
    mel_from: Optional[Path] = typer.Option(None, "--mel-from", help="For a .npy: the mel-domain run whose "
                                            "statistics normalised it (default: the vocoder's own)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Reverse steps (default: the run's \\[sample])."),
    sampler: Optional[str] = typer.Option(None, "--sampler", callback=choice_of("sampler", "--sampler"),
                                          help=f"One of {', '.join(SAMPLER_CHOICES)} (default: the run's \\[sample] "
                                          "sampler)."),
    seed: Seed = None,
    window: Window = None,
    device: Device = "auto",
    precision: Precision = "auto",
    progress: Progress = True,
    force: Force = False,
) -> None:
    """Turn a mel spectrogram into audio with a vocoder run: re-synthesise a recording, or vocode a saved .npy."""
    import numpy as np

    from ..audio import load_audio, save_wav

    require_file(audio)
    check_out_file(out, force)
    pipe = load_pipeline(model, device, precision)
    if not hasattr(pipe, "vocode"):
        fail(f"{model or 'this run'} is not a vocoder (its domain is {pipe.domain!r}): pass a vocoder run with --model")
    options = dict(steps=steps, sampler=sampler, seed=seed, progress=progress, window=window)
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
            from ..pipeline import load

            source = load(mel_from, device="cpu")
            if source.features is None:
                fail(f"--mel-from {mel_from}: not a mel-domain run")
            try:
                pipe.check_features(source.features, f"the vocoder {model or 'this run'}")
            except ValueError as exc:
                fail(str(exc))
            features = source.features
        try:
            (features or pipe.features).check_normalised(mel, f"{audio}: the vocoder")
        except ValueError as exc:
            fail(str(exc))
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
