"""`denoise`, `inpaint` and `upsample`: the tasks on a recording, training-free with a waveform run, or with a run
trained for the task (a supervised denoiser, a bandwidth-extension run, a gapfill run)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..pipeline.bandwidth import HIGH_BAND_GAIN
from ..sampling import samplers_where
from ..tasks import TASK_SAMPLERS
from .common import (Device, Force, Model, Precision, Progress, Seed, Window, app, check_out_file, fail,
                     load_pipeline, read_input)


@app.command()
def denoise(
    audio: Path = typer.Argument(..., help="Noisy recording (wav/flac/ogg); any sample rate."),
    out: Path = typer.Option(..., "--out", help="Output WAV (same rate and length as the input)."),
    sigma: Optional[float] = typer.Option(None, "--sigma", min=1e-6, help="Noise standard deviation "
                                          "(default: estimated from the recording, and printed)."),
    model: Model = None,
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Most reverse steps to run (not for a "
                                        "one-call spectral_mask denoiser)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=f"A waveform run: {TASK_SAMPLERS['denoise']} "
                                          "(deterministic, the default) or ddpm (a posterior draw). A supervised "
                                          "diffusion denoiser run: any sampler (default: the run's [sample] "
                                          "sampler); a spectral_mask run takes none."),
    noise: Optional[str] = typer.Option(None, "--noise", help="A waveform run: white (one σ) or coloured (the "
                                        "noise's spectrum estimated from the recording's quietest frames and "
                                        "whitened for the model); default: the run's \\[sample] denoise_noise. "
                                        "A supervised denoiser learned its noise: leave it out."),
    seed: Seed = None,
    device: Device = "auto",
    precision: Precision = "auto",
    window: Window = None,
    progress: Progress = True,
    force: Force = False,
) -> None:
    """Remove noise from a recording: with a supervised denoiser run (recipes/denoise-speech: real noise of any
    colour), or training-free with a waveform model (recipes/speech-prior: white noise, or coloured noise whose
    spectrum it estimates from the recording)."""
    from ..audio import save_wav
    from ..pipeline import DenoiserPipeline
    from ..noise_spectrum import NOISE_KINDS

    if noise is not None and noise not in NOISE_KINDS:
        raise typer.BadParameter(f"{noise!r}: use {', '.join(NOISE_KINDS)}", param_hint="--noise")
    check_out_file(out, force)
    wave, rate = read_input(audio)
    pipe = load_pipeline(model, device, precision)
    supervised = isinstance(pipe, DenoiserPipeline)
    if supervised and noise is not None:
        raise typer.BadParameter("a supervised denoiser run learned the noise from its training mixes: leave "
                                 "--noise out", param_hint="--noise")
    part_way = samplers_where(lambda s: s.starts_part_way)   # training-free denoising starts at the noise's level
    if not supervised and sampler is not None and sampler not in part_way:
        raise typer.BadParameter(f"{sampler!r}: use {', '.join(part_way)}", param_hint="--sampler")
    options = {"noise": noise} if noise is not None else {}
    clean, sigmas = pipe.denoise(wave, sigma=sigma, steps=steps, sampler=sampler, sample_rate=rate, seed=seed,
                                 return_sigma=True, window=window, progress=progress, **options)
    save_wav(out, clean, rate)
    if supervised:
        typer.echo(f"wrote {out} (supervised denoiser)")
    else:
        kind = pipe.noise_kind(noise, sigma)
        typer.echo(f"wrote {out} ({kind} noise, σ = {sigmas[0]:.4g}{', estimated' if sigma is None else ''}"
                   f"{' after whitening' if kind == 'coloured' else ''})")


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
    model: Model = None,
    steps: Optional[int] = typer.Option(None, "--steps", min=1),
    jumps: int = typer.Option(1, "--jumps", "--jump-n-sample", min=1, help="RePaint's jump_n_sample: times each "
                              "stretch is resampled (more = more coherent; the paper uses 10)."),
    jump_length: int = typer.Option(1, "--jump-length", min=1, help="RePaint's jump_length: steps the chain goes "
                                    "back up each time (the paper uses 10)."),
    seed: Seed = None,
    device: Device = "auto",
    window: Window = None,
    progress: Progress = True,
    force: Force = False,
) -> None:
    """Regenerate a span of a recording; everything outside the span is kept exactly.  A waveform run fills it by
    RePaint conditioning (--jumps, --jump-length), a gapfill run (recipes/music-gapfill) by hearing the context."""
    import torch

    from ..audio import save_wav

    check_out_file(out, force)
    pipe = load_pipeline(model, device)
    wave, rate = read_input(audio, pipe.sample_rate)
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
    model: Model = None,
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Reverse steps (not for a one-call "
                                        "bandwidth run such as recipes/telephone-bwe)."),
    high_band_gain: Optional[float] = typer.Option(None, "--high-band-gain", min=0.0, max=2.0, help="A bandwidth "
                                                   f"run: gain on the band it adds (default {HIGH_BAND_GAIN}: too "
                                                   "much of an uncertain band is worse than too little; 1 = as "
                                                   "estimated)."),
    seed: Seed = None,
    device: Device = "auto",
    window: Window = None,
    progress: Progress = True,
    force: Force = False,
) -> None:
    """Bandwidth extension: keep the recording's band and add the missing high band, with a bandwidth run
    (recipes/telephone-bwe: 8 kHz telephone speech to 16 kHz) or training-free with a waveform run."""
    from ..audio import save_wav
    from ..pipeline import BandwidthPipeline

    check_out_file(out, force)
    wave, rate = read_input(audio)
    pipe = load_pipeline(model, device)
    if rate >= pipe.sample_rate:
        fail(f"{audio} is at {rate} Hz, not below the model's {pipe.sample_rate} Hz: nothing to extend")
    gain = {} if high_band_gain is None else {"high_band_gain": high_band_gain}
    if gain and not isinstance(pipe, BandwidthPipeline):
        fail(f"--high-band-gain is for a bandwidth run (recipes/telephone-bwe); {model} is a {pipe.domain} run")
    wide = pipe.upsample(wave, rate, steps=steps, seed=seed, window=window, progress=progress, **gain)
    save_wav(out, wide, pipe.sample_rate)
    typer.echo(f"wrote {out} ({rate} Hz → {pipe.sample_rate} Hz)")
