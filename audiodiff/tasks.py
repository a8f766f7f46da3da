"""Training-free tasks built on the reverse chain: denoising, inpainting, bandwidth extension.

All work on tensors [B, C, L] at the model's rate and go through `sampling.sample`, so they share the
schedule, the samplers and the ε / v / x0 conversions with plain generation.  Each task's own sampler is
declared once (TASK_SAMPLERS); `task_call` lays a run's [sample] settings under it (what the Pipeline's
denoise, inpaint and upsample use), and each task takes that SamplerCall as `call=`, or a sampler name, steps
and options as GaussianDiffusion.sample's keywords.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping

import torch
from torch import Tensor

from .diffusion import GaussianDiffusion, Model
from .progress import progress as progress_bar
from .sampling import SampleOptions, SamplerCall, max_steps_from, randn, sample, split_options
from .windows import DEFAULT_OVERLAP, taper

MAD_TO_SIGMA = 0.6744897501960817  # median |N(0, 1)|
CONTINUATION_FADE = 0.25           # share of a continued window's overlap generated anew and cross-faded

# Each task's sampler when none is given: denoising is deterministic DDIM (η = 0) from the noise's level, the
# fills draw with DDPM (and can take RePaint's jumps).  A run's [sample] sampler does not replace these (its
# default, ddpm, would make every denoise a posterior draw); its other settings apply (task_call).
TASK_SAMPLERS: Mapping[str, str] = MappingProxyType({"denoise": "ddim", "inpaint": "ddpm", "upsample": "ddpm"})


def task_call(task: str, sampler: str | None = None, steps: int | None = None, run: SampleOptions | None = None,
              **options: Any) -> SamplerCall:
    """The SamplerCall of `task` (a key of TASK_SAMPLERS): `sampler` (None: the task's own) with `steps` and
    `options` over the run's [sample] settings (`run`; None: the defaults), laid as SampleOptions.resolve lays
    them: the run's steps, spacing, eta / variance, fast_betas and clip_x0 apply where the sampler takes them.
    Denoising starts part-way, so a run's levels and lambda_min (made for chains from pure noise) and a spacing
    that cannot start part-way ("leading") are left out there."""
    if task not in TASK_SAMPLERS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASK_SAMPLERS)}")
    return (run or SampleOptions()).resolve(sampler or TASK_SAMPLERS[task], steps, part_way=task == "denoise",
                                            **options)


def _call(task: str, sampler: str | None, steps: int | None, call: SamplerCall | None,
          kwargs: dict[str, Any]) -> tuple[SamplerCall, dict[str, Any]]:
    """(the task's SamplerCall, the loop's keywords): `call` as given, else made from the sampler, steps and
    the sampler options among kwargs (task_call without a run)."""
    options, rest = split_options(kwargs)
    if call is None:
        return task_call(task, sampler, steps, **options), rest
    if sampler is not None or steps is not None or options:
        raise TypeError(f"{task}: give call= or a sampler, steps and sampler options, not both")
    return call, rest


def estimate_noise_sigma(y: Tensor, order: int = 4) -> Tensor:
    """σ of additive white noise in y [..., L] → [...]: a MAD estimate on a high-pass band.

    The `order`-th difference of white noise has variance C(2·order, order)·σ², while audio with little
    energy near Nyquist nearly vanishes in it (a tone at ω shrinks by (2 sin(ω/2))^order), so the median
    absolute value, scaled, is a robust σ estimate (Donoho & Johnstone's MAD rule on a finer detail band).
    """
    if y.shape[-1] < order + 2:
        raise ValueError(f"need at least {order + 2} samples to estimate the noise level")
    detail = torch.diff(y.double(), n=order, dim=-1) / math.sqrt(math.comb(2 * order, order))
    return (detail.abs().median(dim=-1).values / MAD_TO_SIGMA).to(y.dtype)


def denoising_start(diffusion: GaussianDiffusion, sigma: float) -> tuple[float, float]:
    """(t_start, ᾱ) for y = x0 + σn: the level with (1 − ᾱ)/ᾱ = σ², so √ᾱ·y is distributed as x_t."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma}")
    alpha_bar = 1.0 / (1.0 + sigma ** 2)
    t_start = float(diffusion.schedule.continuous_step(torch.tensor(alpha_bar, dtype=torch.float64)))
    level = float(diffusion.schedule.sqrt_alpha_cumprod_at(torch.tensor([t_start], dtype=torch.float64))[0] ** 2)
    return t_start, level


def denoise(diffusion: GaussianDiffusion, model: Model, noisy: Tensor, sigma: float, sampler: str | None = None,
            steps: int | None = None, generator: torch.Generator | None = None, *, call: SamplerCall | None = None,
            **kwargs: Any) -> Tensor:
    """Run the reverse chain from the noise level matching σ, starting at √ᾱ·noisy.  noisy: [B, C, L].

    sampler None: TASK_SAMPLERS["denoise"]; `call`: a SamplerCall instead of sampler, steps and the sampler
    options among kwargs (task_call makes one with a run's settings); the other kwargs go to `sample`.
    σ beyond the schedule's noisiest level is clamped there (the model has never seen more noise);
    `steps` is an upper bound: a low σ leaves fewer training steps below its level (a sampler that cannot
    start part-way is left for `sample` to refuse by name).
    """
    call, rest = _call("denoise", sampler, steps, call, kwargs)
    t_start, level = denoising_start(diffusion, sigma)
    if call.steps is not None and call.sampler.starts_part_way:
        call = call.with_steps(min(call.steps, max_steps_from(t_start)))
    x_start = level ** 0.5 * noisy
    return sample(diffusion, model, noisy.shape, call, generator=generator, x_start=x_start, t_start=t_start, **rest)


def inpaint(diffusion: GaussianDiffusion, model: Model, audio: Tensor, known: Tensor, sampler: str | None = None,
            steps: int | None = None, resample: int = 1, generator: torch.Generator | None = None, *,
            call: SamplerCall | None = None, **kwargs: Any) -> Tensor:
    """Fill where `known` is False; known samples come back exactly.  audio, known: [B, C, L].

    After every step the known part is replaced by a fresh draw of q(x_prev | audio) (replacement
    guidance); resample > 1 adds RePaint's jumps for more coherent fills.  sampler None:
    TASK_SAMPLERS["inpaint"]; `call` and kwargs as in `denoise`.
    """
    call, rest = _call("inpaint", sampler, steps, call, kwargs)
    known = known.to(device=audio.device, dtype=torch.bool).expand_as(audio)

    def constraint(x: Tensor, a_prev: float) -> Tensor:
        noisy = a_prev ** 0.5 * audio + (1 - a_prev) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        return torch.where(known, noisy, x)

    return sample(diffusion, model, audio.shape, call, generator=generator, device=audio.device,
                  constraint=constraint, resample=resample, **rest)


def continuation(diffusion: GaussianDiffusion, model: Model, shape: tuple[int, int, int], window: int,
                 overlap: int | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, progress: bool = False, resample: int = 1,
                 jump_length: int = 1, call: SamplerCall | None = None, fade: int | None = None,
                 **options: Any) -> Tensor:
    """x of `shape` [B, C, L], longer than the `window` the model was trained on, made window by window: the first
    window is sampled freely and each next one shares `overlap` positions (default windows.DEFAULT_OVERLAP of the
    window) with the one before.  Of those, the first overlap − `fade` are known (set to the window before: the model
    continues what it made, and no window is ever longer than it was trained on) and the last `fade` (default a
    quarter of the overlap; 0: none) are generated anew and cross-faded from the window before into the new one
    along windows.py's raised-cosine ramp at constant power (power_preserving_fade): replacement conditioning
    alone leaves a step where the known part ends (a click, with an undertrained model), which the fade spreads
    over `fade` positions, and the two windows are partly separate draws there, whose power a plain
    (1 − w, w) fade would dip by up to 3 dB in the middle.  resample / jump_length:
    RePaint's jumps for the inpainted windows (tighter seams at that many times the network calls).  call: the
    SamplerCall of every window; else `options` (sampler, steps and the sampler's options) make one
    (SamplerCall.of, as GaussianDiffusion.sample does)."""
    if call is None:
        call = SamplerCall.of(**options)
    elif options:
        raise TypeError(f"continuation: give call= or {', '.join(sorted(options))}, not both")
    b, c, length = shape
    overlap = continuation_overlap(window, overlap)
    fade = continuation_fade(overlap, fade)
    kept = overlap - fade
    hop = window - overlap
    count = len(continuation_seams(length, window, overlap, fade)) + 1
    known = torch.zeros(1, 1, window, dtype=torch.bool)
    known[..., :kept] = True
    ramp = taper(2 * fade, fade)[:fade]                       # [fade] rising sin² weights of the new window
    out: Tensor | None = None
    for k in progress_bar(range(count), total=count, description="windows", enabled=progress):
        if out is None:
            x = sample(diffusion, model, (b, c, window), call, generator=generator, device=device)
            out = torch.zeros(b, c, hop * (count - 1) + window, dtype=x.dtype, device=x.device)
        else:
            at = k * hop
            given = torch.zeros(b, c, window, dtype=out.dtype, device=out.device)
            given[..., :kept] = out[..., at:at + kept]
            x = inpaint(diffusion, model, given, known, generator=generator, resample=resample,
                        jump_length=jump_length, call=call)
            x[..., kept:overlap] = power_preserving_fade(out[..., at + kept:at + overlap], x[..., kept:overlap], ramp)
        out[..., k * hop:k * hop + window] = x
    return out[..., :length]


def power_preserving_fade(old: Tensor, new: Tensor, ramp: Tensor) -> Tensor:
    """old [..., F] faded into new [..., F] along the rising weights `ramp` [F] (0..1) at constant power: the
    linear mix (1 − w)·old + w·new divided by its expected level √((1 − w)² + w² + 2ρ·w(1 − w)), ρ ≥ 0 the two
    signals' correlation over the fade (per leading index).  Identical signals (ρ = 1) get the plain linear fade;
    independent ones (ρ = 0) no 3 dB dip in the middle."""
    w = ramp.to(device=new.device, dtype=torch.float64)
    a, b = old.double(), new.double()
    rho = ((a * b).sum(-1, keepdim=True) / ((a * a).sum(-1, keepdim=True) * (b * b).sum(-1, keepdim=True)).sqrt()
           .clamp_min(1e-20)).clamp(0, 1)
    level = ((1 - w) ** 2 + w ** 2 + 2 * rho * w * (1 - w)).sqrt()
    return (((1 - w) * a + w * b) / level).to(new.dtype)


def continuation_overlap(window: int, overlap: int | None = None) -> int:
    """The positions each continued window shares with the one before: `overlap`, by default the share of a
    window that windows.py cross-fades (DEFAULT_OVERLAP); ValueError unless 0 < overlap < window."""
    overlap = int(window * DEFAULT_OVERLAP) if overlap is None else int(overlap)
    if not 0 < overlap < window:
        raise ValueError(f"continuation needs 0 < overlap < window, got overlap {overlap}, window {window}")
    return overlap


def continuation_fade(overlap: int, fade: int | None = None) -> int:
    """The positions at the end of each overlap that are generated anew and cross-faded: `fade`, by default
    CONTINUATION_FADE of the overlap; ValueError unless 0 <= fade < overlap (a known part must remain)."""
    fade = int(overlap * CONTINUATION_FADE) if fade is None else int(fade)
    if not 0 <= fade < overlap:
        raise ValueError(f"continuation needs 0 <= fade < overlap, got fade {fade}, overlap {overlap}")
    return fade


def continuation_seams(length: int, window: int, overlap: int | None = None, fade: int | None = None) -> list[int]:
    """Where `continuation` of `length` positions starts new material: the first position after each inpainted
    window's known part (where its cross-fade begins), in the model's positions (samples of a waveform run, frames
    of a mel run)."""
    overlap = continuation_overlap(window, overlap)
    kept = overlap - continuation_fade(overlap, fade)
    hop = window - overlap
    count = 1 + math.ceil(max(0, length - window) / hop)
    return [k * hop + kept for k in range(1, count)]


def lowpass(x: Tensor, fraction: float) -> Tensor:
    """Ideal low-pass along the last axis keeping frequencies below fraction × Nyquist."""
    spectrum = torch.fft.rfft(x.double(), dim=-1)
    cutoff = int(math.floor(fraction * (spectrum.shape[-1] - 1)))
    spectrum[..., cutoff + 1:] = 0
    return torch.fft.irfft(spectrum, n=x.shape[-1], dim=-1).to(x.dtype)


def bandwidth_extension(diffusion: GaussianDiffusion, model: Model, audio: Tensor, fraction: float,
                        sampler: str | None = None, steps: int | None = None, resample: int = 1,
                        generator: torch.Generator | None = None, *, call: SamplerCall | None = None,
                        **kwargs: Any) -> Tensor:
    """Keep audio's band below fraction × Nyquist, generate the rest.  audio: [B, C, L] at the model rate.

    Each step replaces the low band of the state by that of a fresh draw of q(x_prev | audio), so the
    output's low band equals the input's exactly.  sampler None: TASK_SAMPLERS["upsample"]; `call` and kwargs as
    in `denoise`.
    """
    call, rest = _call("upsample", sampler, steps, call, kwargs)
    if not 0 < fraction <= 1:
        raise ValueError(f"the kept band must be a fraction in (0, 1] of Nyquist, got {fraction}")

    def constraint(x: Tensor, a_prev: float) -> Tensor:
        noisy = a_prev ** 0.5 * audio + (1 - a_prev) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        return x - lowpass(x, fraction) + lowpass(noisy, fraction)

    return sample(diffusion, model, audio.shape, call, generator=generator, device=audio.device,
                  constraint=constraint, resample=resample, **rest)
