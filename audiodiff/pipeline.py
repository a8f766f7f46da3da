"""A trained model bound to its schedule and audio settings: load, sample, save.

Domains (config.json "domain", see audiodiff/domains.py): a "waveform" run samples audio directly; a
"mel" run samples normalised log-mel spectrograms (`sample_mel`) and `sample` turns them into audio through
a vocoder run (`vocoder=`) or Griffin-Lim; a "vocoder" run turns mels into audio (`vocode`, `resynthesize`).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import checkpoint as ckpt
from . import tasks
from .audio import resample
from .diffusion import GaussianDiffusion
from .domains import features_from_config
from .features import MelFeatures
from .model_check import ModelFileError, check_config, check_weights
from .nets import build_network, is_classifier_config
from .precision import PRECISIONS, cast_network, compile_network, resolve_precision
from .sampling import SampleOptions, classifier_free_guidance
from .windows import map_windows

log = logging.getLogger("audiodiff")


class Pipeline:
    """Network + GaussianDiffusion + sample rate/length + default sampler settings from config.json."""

    def __init__(self, model: nn.Module, diffusion: GaussianDiffusion, config: dict[str, Any],
                 device: torch.device | str = "cpu", precision: str = "auto", compile: bool = False):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model = model.eval().to(device)
        self.precision = precision   # of the network while sampling: auto | fp32 | bf16 (see precision.py)
        self.compile = compile       # torch.compile the sampling network (CUDA: CUDA graphs, "reduce-overhead")
        self._sampling_net: tuple[Any, nn.Module] | None = None
        self.diffusion = diffusion
        self.config = config
        self.device = torch.device(device)
        self.domain: str = config.get("domain", "waveform")
        self.features: MelFeatures | None = features_from_config(config)
        self.vocoder: Pipeline | None = None   # a mel run's default vocoder (else Griffin-Lim)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None, precision: str = "auto",
                        compile: bool = False) -> "Pipeline":
        """Load a run directory (or an export) from config.json + model.safetensors (no pickle).

        The model may be untrusted: config.json's values and the weights' shapes are checked before anything
        is built (audiodiff/model_check.py), so a hostile config cannot make loading allocate more than the
        weights file holds; every problem is one ValueError naming the file and key."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no model at {path}: expected a run directory holding {ckpt.CONFIG} "
                                    f"and {ckpt.WEIGHTS}")
        config = ckpt.load_config(path)
        config_file = path / ckpt.CONFIG
        if isinstance(config, dict) and is_classifier_config(config.get("model")):
            raise ValueError(f"{path} is a classifier run: it scores audio rather than generating it (audiodiff "
                             f"eval SAMPLES --classifier {path})")
        check_config(config, config_file)
        try:
            features = features_from_config(config)
            diffusion = GaussianDiffusion.from_config(config["diffusion"])
        except ValueError as exc:
            raise ModelFileError(f"{config_file}: {exc}") from None
        if features is not None and features.stats is None:
            raise ValueError(f"{path / ckpt.CONFIG} lacks the mel normalisation statistics (\"features\": "
                             f"{{\"stats\": ...}}): the run did not finish its first step")
        check_weights(config["model"], config_file, ckpt.weights_path(path))
        model = build_network(config["model"])
        ckpt.load_weights(path, model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(model, diffusion, config, device, precision=precision, compile=compile)

    # ----------------------------------------------------------------- properties
    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def clip_length(self) -> int:
        return int(self.config["clip_length"])

    @property
    def sample_defaults(self) -> dict[str, Any]:
        """config.json's "sample" entry as stored."""
        return dict(self.config.get("sample", {}))

    @property
    def sample_options(self) -> SampleOptions:
        """The run's [sample] settings, every key filled (defaults for keys older runs lack)."""
        return SampleOptions.from_config(self.config.get("sample"))

    # ----------------------------------------------------------------- generation
    def sample(self, n: int = 1, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
               length: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
               labels: int | Sequence[int] | Tensor | None = None, guidance: float | None = None,
               vocoder: "Pipeline | str | Path | None" = None, **options: Any) -> Tensor:
        """Generate n waveforms: float32 [n, length] in [−1, 1] at `sample_rate`.

        `options`: any other sampler option of `audiodiff.sampling.SampleOptions` (eta, variance, fast_betas,
        spacing, lambda_min, levels, clip_x0, dynamic_percentile), as in `audiodiff.sampling.sample`; unset ones
        take the run's [sample] settings where the sampler takes them (`SampleOptions.resolve`).
        labels (one class for all, or n of them) need a class-conditional model; guidance is the
        classifier-free guidance scale (1 = plain conditional, 0 = unconditional).
        A mel-domain run samples mels (`sample_mel`) and decodes them (`decode`) through `vocoder` (a vocoder
        run or its path; default `self.vocoder`) or Griffin-Lim; its length is (length // hop)·hop samples.
        """
        if self.domain == "vocoder":
            raise ValueError("this run is a vocoder: it turns mel spectrograms into audio; use pipe.vocode(mel) or "
                             "pipe.resynthesize(audio) (CLI: audiodiff vocode)")
        if self.domain == "mel":
            frames = None if length is None else self.features.frames(length)
            mel = self.sample_mel(n, steps=steps, sampler=sampler, seed=seed, frames=frames, generator=generator,
                                  progress=progress, labels=labels, guidance=guidance, **options)
            return self.decode(mel, vocoder=vocoder, generator=generator, seed=seed, progress=progress)
        if vocoder is not None:
            raise ValueError("vocoder= is for mel-domain runs; this run makes waveforms directly")
        x = self._generate(n, 1, length or self.clip_length, steps=steps, sampler=sampler, seed=seed,
                           generator=generator, progress=progress, labels=labels, guidance=guidance, **options)
        return x[:, 0].clamp(-1.0, 1.0).float().cpu()

    def sample_mel(self, n: int = 1, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                   frames: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
                   labels: int | Sequence[int] | Tensor | None = None, guidance: float | None = None,
                   **options: Any) -> Tensor:
        """A mel-domain run: n normalised log-mel spectrograms, float32 [n, n_mels, frames] (default frames:
        clip_length // hop_length).  Options as in `sample`; `decode` turns them into audio."""
        if self.domain != "mel":
            raise ValueError(f"sample_mel needs a mel-domain run; this one's domain is {self.domain!r}")
        frames = frames or self.features.frames(self.clip_length)
        x = self._generate(n, self.features.n_mels, frames, steps=steps, sampler=sampler, seed=seed,
                           generator=generator, progress=progress, labels=labels, guidance=guidance, **options)
        return x.float().cpu()

    def decode(self, mel: Any, vocoder: "Pipeline | str | Path | None" = None, seed: int | None = None,
               generator: torch.Generator | None = None, progress: bool = False, **vocode_options: Any) -> Tensor:
        """A mel-domain run's normalised mels [n, n_mels, F] (or [n_mels, F]) → audio [n, F·hop] (or [F·hop]).

        Through `vocoder` (a vocoder run, or its path; default: `self.vocoder`), whose [sample] settings
        apply unless given in vocode_options, or through Griffin-Lim when there is none."""
        if self.features is None:
            raise ValueError("decode needs a mel-domain run")
        vocoder = vocoder if vocoder is not None else self.vocoder
        mel = _as_tensor(mel).float()
        if vocoder is None:
            return self.features.decode_griffin_lim(mel.to(self.device)).float().cpu()
        if not isinstance(vocoder, Pipeline):
            vocoder = load(vocoder, device=self.device, precision=self.precision)
        return vocoder.vocode(mel, features=self.features, seed=seed, generator=generator, progress=progress,
                              **vocode_options)

    def vocode(self, mel: Any, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
               generator: torch.Generator | None = None, features: MelFeatures | None = None,
               progress: bool = False, **options: Any) -> Any:
        """A vocoder run: normalised mel [n_mels, F] or [B, n_mels, F] (numpy or torch) → audio [F·hop] or
        [B, F·hop] in [−1, 1] at `sample_rate`, the same array type as the input.

        The mel is taken as normalised with this run's statistics, or with `features`' (e.g. a mel-domain
        run's `pipe.features`), which must describe the same transform.  Sampler options default to the
        run's [sample] settings (DiffWave's 6-step fast schedule in recipes/ljspeech-vocoder); `options` as in
        `sample`."""
        if self.domain != "vocoder":
            raise ValueError(f"vocode needs a vocoder run ([data] domain = \"vocoder\"); this one's domain is "
                             f"{self.domain!r}")
        is_numpy = isinstance(mel, np.ndarray)
        m = _as_tensor(mel).float()
        squeeze = m.ndim == 2
        if squeeze:
            m = m[None]
        self.features.check_mel(m, "this vocoder")
        if not torch.isfinite(m).all():
            raise ValueError("the mel spectrogram holds NaN or infinite values")
        if features is not None:
            m = self.features.renormalise(m, features)
        m = m.to(self.device)
        x = self._generate(m.shape[0], 1, self.features.samples(m.shape[-1]), steps=steps, sampler=sampler,
                           seed=seed, generator=generator, progress=progress, cond={"mel": m}, **options)
        wave = x[:, 0].clamp(-1.0, 1.0).float().cpu()
        wave = wave[0] if squeeze else wave
        return wave.numpy() if is_numpy else wave

    def resynthesize(self, audio: Any, sample_rate: int | None = None, **vocode_options: Any) -> Any:
        """A vocoder run: re-synthesise a recording from its mel (computed with this run's features).

        audio [L] or [B, L] (numpy or torch) at `sample_rate` (default: the model's; another rate is
        resampled to it, and said in the log) → audio of the same shape at the model's rate (the input is
        zero-padded to whole frames, the output cropped back)."""
        if self.domain != "vocoder":
            raise ValueError(f"resynthesize needs a vocoder run; this one's domain is {self.domain!r}")
        batch, restore = self._to_model_rate(audio, sample_rate, back=False, domain="vocoder")
        if not torch.isfinite(batch).all():
            raise ValueError("the audio holds NaN or infinite samples")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            log.info("resampling the input from %d Hz to the vocoder's %d Hz", sample_rate, self.sample_rate)
        length = batch.shape[-1]
        padded = torch.nn.functional.pad(batch[:, 0], (0, -length % self.features.hop_length))
        wave = self.vocode(self.features.encode(padded), **vocode_options)[..., :length]
        return restore(wave[:, None])

    def _generate(self, n: int, channels: int, length: int, steps: int | None = None, sampler: str | None = None,
                  seed: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
                  labels: int | Sequence[int] | Tensor | None = None, guidance: float | None = None,
                  cond: dict[str, Any] | None = None, **options: Any) -> Tensor:
        """The reverse chain for x of shape [n, channels, length] with the run's [sample] settings filled in."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        run = self.sample_options
        chain = run.resolve(sampler=sampler, steps=steps, **options)
        generator = generator or self._generator(seed)
        model = self.sampling_network()
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
            labels = labels.expand(n) if labels.numel() == 1 else labels
            if labels.shape != (n,):
                raise ValueError(f"give one label or n = {n} labels, got {labels.numel()}")
            model = classifier_free_guidance(model, labels, run.guidance if guidance is None else guidance)
        elif guidance is not None:
            raise ValueError("guidance needs labels: say which class to generate")
        return self.diffusion.sample(model, (n, channels, length), generator=generator, device=self.device,
                                     progress_bar=progress, **chain, **(cond or {}))

    def sampling_network(self) -> nn.Module:
        """What the reverse chains call: the model at fp32, or a bf16 copy of it made once (`precision`),
        compiled when `compile` is set.  Kept until the device, precision or compile setting changes."""
        key = (resolve_precision(self.precision, self.device), self.compile, self.device)
        if self._sampling_net is None or self._sampling_net[0] != key:
            net = cast_network(self.model, key[0])
            self._sampling_net = (key, compile_network(net, self.device) if self.compile else net)
        return self._sampling_net[1]

    @property
    def model_channels(self) -> int:
        return int(getattr(self.model, "in_channels", 1))

    def _generator(self, seed: int | None) -> torch.Generator:
        """A generator on the model's device: seeded, or freshly random (global RNG untouched)."""
        g = torch.Generator(device=self.device)
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        return g

    # ----------------------------------------------------------------- tasks on given audio
    # Long inputs go through audiodiff/windows.py: windows of `window` samples at the model's rate (default:
    # clip_length, the length the network was trained on), cross-faded over a quarter window; memory is
    # bounded by one window.  An input no longer than one window is processed whole, exactly as it was.
    def denoise(self, noisy: Any, sigma: float | None = None, steps: int | None = None, sampler: str = "ddim",
                sample_rate: int | None = None, seed: int | None = None, return_sigma: bool = False,
                window: int | None = None, progress: bool = False) -> Any:
        """Remove additive white noise: `noisy` [L] or [B, L] (numpy or torch) → same type, shape and rate.

        Each clip is treated as x_t at the step whose noise level matches σ (estimated per clip when None,
        over the whole clip, and logged) and run down the reverse chain; DDIM (η = 0) by default, "ddpm" draws
        from the posterior.  Clips longer than `window` samples are processed in cross-faded windows.
        """
        batch, restore = self._to_model_rate(noisy, sample_rate)
        sigmas = tasks.estimate_noise_sigma(batch[:, 0]).tolist() if sigma is None else [float(sigma)] * len(batch)
        if sigma is None:
            log.info("estimated noise σ: %s", ", ".join(f"{s:.4g}" for s in sigmas))
        g = self._generator(seed)

        def one(clip: Tensor, s: float) -> Tensor:
            return self._windows(lambda sl: tasks.denoise(self.diffusion, self.sampling_network(), clip[None, :, sl], s,
                                                          sampler=sampler, steps=steps, generator=g),
                                 (1, *clip.shape), window, progress, "denoise")

        out = torch.cat([one(clip, s) for clip, s in zip(batch, sigmas)])
        result = restore(out)
        return (result, sigmas) if return_sigma else result

    def inpaint(self, audio: Any, mask: Any, steps: int | None = None, sampler: str = "ddpm", resample_jumps: int = 1,
                seed: int | None = None, jump_length: int = 1, window: int | None = None,
                progress: bool = False) -> Any:
        """Fill the samples where `mask` is True; all others come back exactly.  audio, mask: [L] or [B, L]
        at the model's rate.  resample_jumps (RePaint's jump_n_sample) > 1 adds RePaint's resampling for more
        coherent fills, going back up jump_length steps each time (the paper's configurations: 10 and 10).
        Inputs longer than `window` samples go in cross-faded windows; a window with no gap is left alone."""
        batch, restore = self._to_model_rate(audio, None)
        known = ~_as_tensor(mask).to(torch.bool).reshape(batch.shape[0], 1, -1).to(self.device)
        if known.shape != batch.shape:
            raise ValueError(f"mask shape {tuple(known.shape)} does not match the audio {tuple(batch.shape)}")
        g = self._generator(seed)

        def fill(sl: slice) -> Tensor:
            if bool(known[..., sl].all()):
                return batch[..., sl]
            return tasks.inpaint(self.diffusion, self.sampling_network(), batch[..., sl], known[..., sl], sampler=sampler,
                                 steps=steps, resample=resample_jumps, jump_length=jump_length, generator=g)

        out = self._windows(fill, tuple(batch.shape), window, progress, "inpaint")
        return restore(torch.where(known, batch, out))

    def upsample(self, audio: Any, from_rate: int, steps: int | None = None, sampler: str = "ddpm",
                 seed: int | None = None, window: int | None = None, progress: bool = False) -> Any:
        """Bandwidth extension: audio [L] or [B, L] at from_rate → the model's rate, keeping the input's band
        (below from_rate / 2) and generating the band above it; long inputs in cross-faded windows of
        `window` samples at the model's rate."""
        if from_rate >= self.sample_rate:
            raise ValueError(f"from_rate ({from_rate} Hz) must be below the model's rate ({self.sample_rate} Hz)")
        batch, restore = self._to_model_rate(audio, from_rate, back=False)
        g = self._generator(seed)
        out = self._windows(lambda sl: tasks.bandwidth_extension(self.diffusion, self.sampling_network(), batch[..., sl],
                                                                 from_rate / self.sample_rate, sampler=sampler,
                                                                 steps=steps, generator=g),
                            tuple(batch.shape), window, progress, "upsample")
        return restore(out)

    def _windows(self, task: Any, shape: tuple[int, ...], window: int | None, progress: bool, what: str) -> Tensor:
        """windows.map_windows with the run's clip_length as the default window."""
        window = self.clip_length if window is None else int(window)
        if window < 16:
            raise ValueError(f"window must be at least 16 samples, got {window}")
        return map_windows(task, shape, window, progress=progress, description=what, sample_rate=self.sample_rate)

    def _to_model_rate(self, audio: Any, sample_rate: int | None, back: bool = True, domain: str = "waveform"):
        """numpy/torch [L] or [B, L] → ([B, 1, L'] float32 on the device, function undoing the conversion).

        Shared by the tasks on waveform runs and a vocoder run's re-synthesis (domain="vocoder")."""
        if self.model_channels != 1 or self.domain != domain:
            raise ValueError(f"this task needs a {domain} model (1 channel); this run's domain is {self.domain!r}")
        is_numpy = isinstance(audio, np.ndarray)
        x = _as_tensor(audio).float()
        if x.ndim not in (1, 2) or x.shape[-1] == 0:
            raise ValueError(f"audio must be [L] or [B, L], got shape {tuple(x.shape)}")
        squeeze = x.ndim == 1
        rate = sample_rate or self.sample_rate
        length = x.shape[-1]
        batch = resample(x.reshape(-1, length), rate, self.sample_rate)[:, None].to(self.device)

        def restore(y: Tensor) -> Any:
            y = y[:, 0].clamp(-1, 1).float().cpu()
            if back and rate != self.sample_rate:
                y = resample(y, self.sample_rate, rate)[..., :length]
            y = y[0] if squeeze else y
            return y.numpy() if is_numpy else y

        return batch, restore

    # ----------------------------------------------------------------- export
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json + model.safetensors into `path`, loadable with `audiodiff.load`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ckpt.save_weights(path, self.model)
        ckpt.save_config(path, copy.deepcopy(self.config))
        return path

    def to(self, device: str | torch.device) -> "Pipeline":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self


def _as_tensor(x: Any) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)


def load(path: str | Path, device: str | torch.device | None = None, precision: str = "auto",
         compile: bool = False) -> Pipeline:
    """`audiodiff.load("runs/sc09")` → Pipeline with .sample(), .sample_rate, .save_pretrained().

    precision: the network's while sampling, "auto" (bf16 where the hardware has it) | "fp32" | "bf16";
    compile: torch.compile the network for the reverse chains (on CUDA as CUDA graphs)."""
    return Pipeline.from_pretrained(path, device=device, precision=precision, compile=compile)
