"""Training-free tasks built on the reverse chain: denoising, inpainting, bandwidth extension.

All work on tensors [B, C, L] at the model's rate and go through `sampling.sample`, so they share the
schedule, the samplers and the ε / v / x0 conversions with plain generation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .diffusion import GaussianDiffusion, Model
from .progress import progress as progress_bar
from .sampling import get_sampler, max_steps_from, randn, sample
from .windows import DEFAULT_OVERLAP

MAD_TO_SIGMA = 0.6744897501960817  # median |N(0, 1)|


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


def denoise(diffusion: GaussianDiffusion, model: Model, noisy: Tensor, sigma: float, sampler: str = "ddim",
            steps: int | None = None, generator: torch.Generator | None = None, **kwargs: Any) -> Tensor:
    """Run the reverse chain from the noise level matching σ, starting at √ᾱ·noisy.  noisy: [B, C, L].

    σ beyond the schedule's noisiest level is clamped there (the model has never seen more noise);
    `steps` is an upper bound: a low σ leaves fewer training steps below its level (a sampler that cannot
    start part-way is left for `sample` to refuse by name).
    """
    t_start, level = denoising_start(diffusion, sigma)
    if steps is not None and get_sampler(sampler).starts_part_way:
        steps = min(int(steps), max_steps_from(t_start))
    x_start = level ** 0.5 * noisy
    return sample(diffusion, model, noisy.shape, sampler=sampler, steps=steps, generator=generator,
                  x_start=x_start, t_start=t_start, **kwargs)


def inpaint(diffusion: GaussianDiffusion, model: Model, audio: Tensor, known: Tensor, sampler: str = "ddpm",
            steps: int | None = None, resample: int = 1, generator: torch.Generator | None = None,
            **kwargs: Any) -> Tensor:
    """Fill where `known` is False; known samples come back exactly.  audio, known: [B, C, L].

    After every step the known part is replaced by a fresh draw of q(x_prev | audio) (replacement
    guidance); resample > 1 adds RePaint's jumps for more coherent fills.
    """
    known = known.to(device=audio.device, dtype=torch.bool).expand_as(audio)

    def constraint(x: Tensor, a_prev: float) -> Tensor:
        noisy = a_prev ** 0.5 * audio + (1 - a_prev) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        return torch.where(known, noisy, x)

    return sample(diffusion, model, audio.shape, sampler=sampler, steps=steps, generator=generator,
                  device=audio.device, constraint=constraint, resample=resample, **kwargs)


def continuation(diffusion: GaussianDiffusion, model: Model, shape: tuple[int, int, int], window: int,
                 overlap: int | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, progress: bool = False, resample: int = 1,
                 jump_length: int = 1, **kwargs: Any) -> Tensor:
    """x of `shape` [B, C, L], longer than the `window` the model was trained on, made window by window: the first
    window is sampled freely and each next one is inpainted with its first `overlap` positions (default
    windows.DEFAULT_OVERLAP of the window) known, set to the end of the window before.  The known part comes back
    exactly, so the model continues what it made and no window is ever longer than it was trained on.  resample /
    jump_length: RePaint's jumps for the inpainted windows (tighter seams at that many times the network calls).
    kwargs: the sampler's."""
    b, c, length = shape
    overlap = continuation_overlap(window, overlap)
    hop = window - overlap
    count = len(continuation_seams(length, window, overlap)) + 1
    known = torch.zeros(1, 1, window, dtype=torch.bool)
    known[..., :overlap] = True
    out: Tensor | None = None
    for k in progress_bar(range(count), total=count, description="windows", enabled=progress):
        if out is None:
            x = sample(diffusion, model, (b, c, window), generator=generator, device=device, **kwargs)
            out = torch.zeros(b, c, hop * (count - 1) + window, dtype=x.dtype, device=x.device)
        else:
            given = torch.zeros(b, c, window, dtype=out.dtype, device=out.device)
            given[..., :overlap] = out[..., k * hop:k * hop + overlap]
            x = inpaint(diffusion, model, given, known, generator=generator, resample=resample,
                        jump_length=jump_length, **kwargs)
        out[..., k * hop:k * hop + window] = x
    return out[..., :length]


def continuation_overlap(window: int, overlap: int | None = None) -> int:
    """The positions each continued window shares with the one before: `overlap`, by default the share of a
    window that windows.py cross-fades (DEFAULT_OVERLAP); ValueError unless 0 < overlap < window."""
    overlap = int(window * DEFAULT_OVERLAP) if overlap is None else int(overlap)
    if not 0 < overlap < window:
        raise ValueError(f"continuation needs 0 < overlap < window, got overlap {overlap}, window {window}")
    return overlap


def continuation_seams(length: int, window: int, overlap: int | None = None) -> list[int]:
    """Where `continuation` of `length` positions starts new material: the first position after each inpainted
    window's known part, in the model's positions (samples of a waveform run, frames of a mel run)."""
    overlap = continuation_overlap(window, overlap)
    hop = window - overlap
    count = 1 + math.ceil(max(0, length - window) / hop)
    return [k * hop + overlap for k in range(1, count)]


def lowpass(x: Tensor, fraction: float) -> Tensor:
    """Ideal low-pass along the last axis keeping frequencies below fraction × Nyquist."""
    spectrum = torch.fft.rfft(x.double(), dim=-1)
    cutoff = int(math.floor(fraction * (spectrum.shape[-1] - 1)))
    spectrum[..., cutoff + 1:] = 0
    return torch.fft.irfft(spectrum, n=x.shape[-1], dim=-1).to(x.dtype)


def bandwidth_extension(diffusion: GaussianDiffusion, model: Model, audio: Tensor, fraction: float,
                        sampler: str = "ddpm", steps: int | None = None, resample: int = 1,
                        generator: torch.Generator | None = None, **kwargs: Any) -> Tensor:
    """Keep audio's band below fraction × Nyquist, generate the rest.  audio: [B, C, L] at the model rate.

    Each step replaces the low band of the state by that of a fresh draw of q(x_prev | audio), so the
    output's low band equals the input's exactly.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"the kept band must be a fraction in (0, 1] of Nyquist, got {fraction}")

    def constraint(x: Tensor, a_prev: float) -> Tensor:
        noisy = a_prev ** 0.5 * audio + (1 - a_prev) ** 0.5 * randn(x.shape, generator, x.device, x.dtype)
        return x - lowpass(x, fraction) + lowpass(noisy, fraction)

    return sample(diffusion, model, audio.shape, sampler=sampler, steps=steps, generator=generator,
                  device=audio.device, constraint=constraint, resample=resample, **kwargs)
