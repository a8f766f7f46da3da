"""Audio domains: what a model generates, and how a batch of training clips becomes (x0, conditioning).

    domain      x0 (what is diffused)                 conditioning (keywords to the model)
    waveform    wave [B, 1, L]                        labels, when given
    mel         normalised log-mel [B, n_mels, F]     labels, when given
    vocoder     wave [B, 1, F·hop]                    mel = normalised log-mel [B, n_mels, F]; labels
                (played at a [data] speed, if any)    (of the wave as played)
    denoiser    clean wave [B, 1, L] (level-scaled)   cond_wave = the noisy mix [B, 1, L] (data/mixing.py)
    bandwidth   wide wave [B, 1, L] (level-scaled)    cond_wave = its narrow-band version [B, 1, L] (data/band.py)
    gapfill     whole wave [B, 1, L] (level-scaled)   cond_wave = [B, 2, L]: the wave with a gap crossfaded from
                                                      its sides, the gap's mask; loss_weights [B, 1, L]
                                                      (data/dropouts.py)

F = L // hop_length (see audiodiff/features.py).  Each domain is one object (Waveform, Mel, ... in DOMAIN_OBJECTS)
owning what differs by domain: the batch preparation, the recipe checks, the config entry and the preview; the
trainer calls `prepare_batch` on every batch and passes the conditioning to the loss: `diffusion.loss(model,
x0, **cond)`.  A new domain is one more Domain subclass here (plus its Pipeline subclass, audiodiff/pipeline/, and
its hub.USAGE line).  The mel settings and their normalisation statistics live in the run's config.json under
"features" (audiodiff/run_features.py).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, ClassVar, Sequence

import torch
from torch import Tensor

from .features import MelFeatures
from .nets import NETWORKS
from .options import RecipeError

log = logging.getLogger("audiodiff")

# A run's transform of each clean batch [B, 1, L] (Domain.batch_transform), bound to a step's generator: a
# supervised run's pairing → (clean, degraded) at the network's input level (data/mixing.py, data/band.py); a
# vocoder's speed perturbation → clips [B, 1, L]
BatchTransform = Callable[[Tensor], Any]

class Domain:
    """What one domain does differently.  Subclasses set `name` and override what differs."""

    name: ClassVar[str] = ""
    uses_features: ClassVar[bool] = True   # mel settings + statistics in config.json's "features"
    generates: ClassVar[bool] = True       # makes free-running samples from noise (a vocoder needs a mel)
    supervised: ClassVar[bool] = False     # learns from (degraded, clean) pairs that `batch_transform` makes

    def config_entries(self, recipe: Any) -> dict[str, Any]:
        """config.json entries of this domain besides "domain" and "features" (what its pipeline reads)."""
        return {}

    def batch_transform(self, data: Any, seed: int = 0, show_progress: bool = True) -> Callable | None:
        """What this domain does to each clean batch on the fly, built from the recipe's [data] (a DataConfig) and
        called as batch_transform(clean [B, 1, L], generator): a supervised domain pairs it with its degraded
        version → (clean, degraded); a vocoder perturbs its speed ([data] speeds) → clips.  None when there is
        nothing to do."""
        return None

    def batch(self, features: MelFeatures, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Mono clips wave [B, 1, L] → (x0, conditioning without labels), computed without gradient.  transform: the
        run's `batch_transform` of the batch, bound to this step's generator (None where the domain has none)."""
        raise NotImplementedError

    def check_recipe(self, recipe: Any, source: str) -> None:
        """Raise RecipeError for [model] / [features] settings this domain cannot train; fill the model's keys that
        follow [features]."""
        raise NotImplementedError

    def preview(self, pipe: Any, n: int, clips: Sequence[Tensor] | None, seed: int = 0) -> Tensor:
        """What the trainer's TensorBoard preview plays, [n, L]: samples, as `audiodiff sample` makes them by
        default (a mel run's through Griffin-Lim)."""
        return pipe.sample(n=n, seed=seed)


def _one_channel(recipe: Any, source: str) -> None:
    kind = recipe.model["type"]
    if getattr(NETWORKS.get(kind), "mel_image", False):
        raise RecipeError(f"{source}: [model] type = {kind!r} convolves a mel spectrogram as an image (bins × "
                          f"frames): set [data] domain = \"mel\"")
    if kind == "diffwave" and recipe.model.get("in_channels", 1) != 1:
        raise RecipeError(f"{source}: [model] in_channels must be 1 for waveform diffusion")


def _recipe_features(recipe: Any, source: str) -> MelFeatures:
    """The recipe's [features] as MelFeatures, with clip_length at least one frame; RecipeError otherwise."""
    try:
        features = MelFeatures.from_recipe(recipe)
    except ValueError as exc:
        raise RecipeError(f"{source}: [features] {str(exc).removeprefix('mel features: ')}") from None
    if recipe.data.clip_length < features.hop_length:
        raise RecipeError(f"{source}: [data] clip_length = {recipe.data.clip_length} is shorter than one mel frame "
                          f"([features] hop_length = {features.hop_length})")
    return features


def _follow_features(model: dict[str, Any], key: str, value: int, source: str) -> None:
    """Set [model] key from [features], refusing a recipe that says otherwise."""
    if model.setdefault(key, value) != value:
        raise RecipeError(f"{source}: [model] {key} = {model[key]} contradicts [features] ({value}); leave "
                          f"{key} out and it follows [features]")


def _first_clips(clips: Sequence[Tensor] | None, n: int, refusal: str) -> Tensor:
    """The first n training clips as one batch [n, L], for a preview that works on given audio; ValueError(refusal)
    when there are none."""
    if clips is None or not len(clips):
        raise ValueError(refusal)
    return torch.cat([clips[i].reshape(1, -1) for i in range(min(n, len(clips)))])


def _conditional_unet(recipe: Any, source: str, cond_channels: int, heard: str) -> None:
    """A 1-D U-Net that generates one waveform channel while it hears `cond_channels` (filled in when left out)."""
    _one_channel(recipe, source)
    if recipe.model.get("in_channels", 1) != 1:
        raise RecipeError(f"{source}: [model] in_channels must be 1 for [data] domain = \"{recipe.data.domain}\" "
                          f"(a mono waveform)")
    if recipe.model.setdefault("cond_channels", cond_channels) != cond_channels:
        raise RecipeError(f"{source}: [model] cond_channels must be {cond_channels} for [data] domain = "
                          f"\"{recipe.data.domain}\" ({heard}); leave it out")


class Waveform(Domain):
    """x0 = the waveform itself [B, 1, L]."""

    name = "waveform"
    uses_features = False

    def batch(self, features: MelFeatures | None, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        return wave, {}

    def check_recipe(self, recipe: Any, source: str) -> None:
        if recipe.model.get("n_mels"):
            raise RecipeError(f"{source}: [model] n_mels = {recipe.model['n_mels']} makes a mel-conditioned vocoder: "
                              f"set [data] domain = \"vocoder\" (and the mel settings in [features])")
        if recipe.model.get("cond_channels"):
            raise RecipeError(f"{source}: [model] cond_channels makes a network that hears a noisy waveform: set "
                              f"[data] domain = \"denoiser\" (and [data] noise_root)")
        _one_channel(recipe, source)


class Mel(Domain):
    """x0 = the normalised log-mel [B, n_mels, L // hop]; the mel bins are the network's channels."""

    name = "mel"

    def batch(self, features: MelFeatures, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        return features.encode(wave).to(wave.dtype), {}

    def check_recipe(self, recipe: Any, source: str) -> None:
        features = _recipe_features(recipe, source)
        if recipe.model.get("n_mels"):
            raise RecipeError(f"{source}: [model] n_mels is for vocoders; a mel-domain model takes the mel bins "
                              f"as channels (in_channels = [features] n_mels)")
        _follow_features(recipe.model, "in_channels", features.n_mels, source)
        if recipe.diffusion.loss == "spectral":
            raise RecipeError(f"{source}: [diffusion] loss = \"spectral\" measures waveforms through their STFT; "
                              f"a mel-domain model's x0 is a log-mel: use loss = \"mse\" or \"l1\"")


class Vocoder(Domain):
    """x0 = the waveform cropped to whole frames [B, 1, F·hop], conditioned on its mel [B, n_mels, F]."""

    name = "vocoder"
    generates = False

    def batch_transform(self, data: Any, seed: int = 0, show_progress: bool = True) -> Callable | None:
        from .data import SpeedPerturbation

        return SpeedPerturbation(data.speeds) if data.speeds else None

    def batch(self, features: MelFeatures, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        if transform is not None:   # the crop at another speed, before its mel is made: both sides hear the same voice
            wave = transform(wave)
        wave = wave[..., :features.samples(features.frames(wave.shape[-1]))]
        return wave, {"mel": features.encode(wave).to(wave.dtype)}

    def check_recipe(self, recipe: Any, source: str) -> None:
        features = _recipe_features(recipe, source)
        model, hop, clip = recipe.model, features.hop_length, recipe.data.clip_length
        if model["type"] not in ("diffwave", "mel_inverter"):
            raise RecipeError(f"{source}: [data] domain = \"vocoder\" needs [model] type = \"diffwave\" (the "
                              f"mel-conditioned diffusion network) or \"mel_inverter\" (magnitude + Griffin-Lim), "
                              f"not {model['type']!r}")
        if clip % hop:
            raise RecipeError(f"{source}: [data] clip_length = {clip} must be a multiple of [features] hop_length "
                              f"= {hop} for a vocoder (frames × hop samples), e.g. {clip // hop * hop}")
        _one_channel(recipe, source)
        _follow_features(model, "n_mels", features.n_mels, source)
        _follow_features(model, "hop_length", hop, source)
        if model["type"] == "mel_inverter":   # it answers in the STFT the mel is made from
            _follow_features(model, "n_fft", features.n_fft, source)
            _follow_features(model, "win_length", features.win_length, source)

    def preview(self, pipe: Any, n: int, clips: Sequence[Tensor] | None, seed: int = 0) -> Tensor:
        """A vocoder run re-synthesises the first n training clips."""
        clips = _first_clips(clips, n, "a vocoder preview needs training clips to re-synthesise")
        return pipe.resynthesize(clips, seed=seed)


class Denoiser(Domain):
    """x0 = the clean clip, conditioned on its noisy mix (keyword cond_wave), both at the level that brings the
    mix to data/mixing.INPUT_RMS: a supervised denoiser, sampled from noise while it hears the recording."""

    name = "denoiser"
    uses_features = False
    generates = False
    supervised = True
    heard = "noisy"           # what the network hears, in messages

    def batch_transform(self, data: Any, seed: int = 0, show_progress: bool = True) -> Callable:
        from .data import mixer_for

        return mixer_for(data, seed, show_progress)

    def batch(self, features: MelFeatures | None, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        if transform is None:
            raise ValueError(f"a {self.name} batch needs its pairing (Domain.batch_transform)")
        clean, noisy = transform(wave)
        return clean, {"cond_wave": noisy}

    def check_recipe(self, recipe: Any, source: str) -> None:
        kind = recipe.model["type"]
        if kind == "spectral_mask":   # one call, no diffusion: it takes the noisy wave as its only input
            return
        if kind != "unet1d":
            raise RecipeError(f"{source}: [data] domain = \"{self.name}\" needs a network that hears the "
                              f"{self.heard} waveform: [model] type = \"unet1d\" (a conditional diffusion model: "
                              f"cond_channels) or \"spectral_mask\" (a one-call predictive one), not {kind!r}")
        _conditional_unet(recipe, source, 1, f"the {self.heard} mono input")

    def preview(self, pipe: Any, n: int, clips: Sequence[Tensor] | None, seed: int = 0) -> Tensor:
        """A denoiser run denoises the first n training clips with white noise added at 5 dB SNR."""
        clean = _first_clips(clips, n, "a denoiser preview needs training clips")
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(clean.shape, generator=g) * clean.pow(2).mean(-1, keepdim=True).sqrt() * 10 ** (-5 / 20)
        return pipe.denoise(clean + noise, seed=seed)


class Bandwidth(Denoiser):
    """x0 = the wide-band clip, conditioned on its narrow-band version (keyword cond_wave, data/band.py), both at
    the denoiser's input level: bandwidth extension learned from pairs.  A spectral_mask network must fold
    (`[model] fold = true`): a mask alone cannot add the band its input lacks."""

    name = "bandwidth"
    heard = "narrow-band"

    def config_entries(self, recipe: Any) -> dict[str, Any]:
        return {"narrow_rate": int(recipe.data.narrow_rate)}

    def batch_transform(self, data: Any, seed: int = 0, show_progress: bool = True) -> Callable:
        from .data import band_limiter_for

        return band_limiter_for(data)

    def check_recipe(self, recipe: Any, source: str) -> None:
        if recipe.model["type"] == "spectral_mask":
            if not recipe.model.setdefault("fold", True):
                raise RecipeError(f"{source}: [model] fold = false: a spectral mask cannot add the band its input "
                                  f"lacks; leave fold out (it defaults to true for [data] domain = \"bandwidth\")")
            if 2 * recipe.data.narrow_rate != recipe.data.sample_rate:
                raise RecipeError(f"{source}: [model] fold mirrors the band below a quarter of the rate into the "
                                  f"band above it, so [data] narrow_rate ({recipe.data.narrow_rate}) must be half "
                                  f"of sample_rate ({recipe.data.sample_rate})")
        super().check_recipe(recipe, source)

    def preview(self, pipe: Any, n: int, clips: Sequence[Tensor] | None, seed: int = 0) -> Tensor:
        """A bandwidth run extends the first n training clips made narrow at its narrow rate."""
        from .audio import resample

        wide = _first_clips(clips, n, "a bandwidth preview needs training clips")
        return pipe.upsample(resample(wide, pipe.sample_rate, pipe.narrow_rate), pipe.narrow_rate, seed=seed)


class GapFill(Domain):
    """x0 = the whole clip, conditioned on it with one gap crossfaded from its sides and the gap's mask (keyword
    cond_wave [B, 2, L], data/dropouts.py), at the level that brings its known part to data/dropouts.GAP_RMS; the
    loss weighs the gap above the context (keyword loss_weights).  Gap filling learned from pairs (Palette's conditional inpainting) rather
    than a prior's RePaint conditioning."""

    name = "gapfill"
    uses_features = False
    generates = False
    supervised = True

    def batch_transform(self, data: Any, seed: int = 0, show_progress: bool = True) -> Callable:
        from .data.dropouts import gap_maker_for

        return gap_maker_for(data)

    def batch(self, features: MelFeatures | None, wave: Tensor,
              transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        if transform is None:
            raise ValueError("a gapfill batch needs its dropouts (Domain.batch_transform)")
        clean, cond, weights = transform(wave)
        return clean, {"cond_wave": cond, "loss_weights": weights}

    def check_recipe(self, recipe: Any, source: str) -> None:
        if recipe.model["type"] != "unet1d":
            raise RecipeError(f"{source}: [data] domain = \"gapfill\" needs [model] type = \"unet1d\" (a "
                              f"conditional diffusion model that hears the clip with its gap), not "
                              f"{recipe.model['type']!r}")
        _conditional_unet(recipe, source, 2, "the clip with its gap and the gap's mask")
        if recipe.diffusion.loss == "spectral":
            raise RecipeError(f"{source}: [diffusion] loss = \"spectral\" cannot weigh the gap above the context: "
                              f"use loss = \"mse\" or \"l1\"")

    def preview(self, pipe: Any, n: int, clips: Sequence[Tensor] | None, seed: int = 0) -> Tensor:
        """A gapfill run fills a gap of a fifth of each of the first n training clips, in its middle."""
        audio = _first_clips(clips, n, "a gapfill preview needs training clips")
        mask = torch.zeros(audio.shape, dtype=torch.bool)
        length = audio.shape[-1]
        mask[:, 2 * length // 5:3 * length // 5] = True
        return pipe.inpaint(audio, mask, seed=seed)


DOMAIN_OBJECTS: dict[str, Domain] = {d.name: d for d in (Waveform(), Mel(), Vocoder(), Denoiser(), Bandwidth(),
                                                         GapFill())}
DOMAINS = tuple(DOMAIN_OBJECTS)   # the names: [data] domain's choices


def get_domain(name: str) -> Domain:
    """The Domain called `name`; ValueError listing the others."""
    if name not in DOMAIN_OBJECTS:
        raise ValueError(f"unknown domain {name!r}: choose one of {', '.join(DOMAINS)}")
    return DOMAIN_OBJECTS[name]


def prepare_batch(domain: str, features: MelFeatures | None, wave: Tensor,
                  labels: Tensor | None = None,
                  transform: BatchTransform | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """A batch of clips wave [B, 1, L] (and optional class labels [B]) → (x0, cond) for the loss.

    waveform: x0 = wave.  mel: x0 = features.encode(wave) [B, n_mels, L // hop].  vocoder: x0 = wave
    cropped to (L // hop)·hop samples, cond["mel"] = features.encode(wave) of the same samples.  denoiser /
    bandwidth: (x0, cond["cond_wave"]) = transform(wave), the clean clips and their noisy mixes / narrow versions.
    gapfill: the clips, cond["cond_wave"] = them gapped with the gap's mask, cond["loss_weights"].
    Labels, when given, go into cond["labels"].  Mels are computed without gradient, on wave's device.
    """
    kind = get_domain(domain)
    if wave.ndim == 2:
        wave = wave[:, None]
    if wave.ndim != 3 or wave.shape[1] != 1:
        raise ValueError(f"expected a batch of mono clips [B, 1, L], got shape {tuple(wave.shape)}")
    if kind.uses_features and features is None:
        raise ValueError(f"the {domain!r} domain needs mel features (config.json's \"features\")")
    with torch.no_grad():
        x0, cond = kind.batch(features, wave, transform)
    if labels is not None:
        cond["labels"] = torch.as_tensor(labels, dtype=torch.long, device=wave.device).reshape(-1)
    return x0, cond


def split_item(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    """A dataset item or data-loader batch {"audio": clips, "label": labels (when the corpus has them)} →
    (clips, labels or None)."""
    return batch["audio"], batch.get("label")


def chunk_cond(cond: dict[str, Tensor], chunks: int) -> list[dict[str, Tensor]]:
    """Split every conditioning tensor along the batch like x0.chunk(chunks) (for gradient accumulation)."""
    if not cond:
        return [{} for _ in range(chunks)]
    parts = {k: v.chunk(chunks) for k, v in cond.items()}
    n = len(next(iter(parts.values())))
    return [{k: v[i] for k, v in parts.items()} for i in range(n)]


def preview_clips(pipe: Any, n: int, clips: Sequence[Tensor] | None = None, seed: int = 0) -> Tensor:
    """What the trainer's TensorBoard preview plays, [n, L] (see Domain.preview): samples as `audiodiff sample`
    makes them by default; a vocoder run re-synthesises the first n of `clips`."""
    return get_domain(pipe.domain).preview(pipe, n, clips, seed)
