"""A trained run bound to its schedule and audio settings: loading, the reverse chain, export.

`Pipeline.for_config(model, diffusion, config)`, the one factory, and `Pipeline.from_pretrained(path)` (which
`audiodiff.load` calls) build the class of the run's domain (config.json "domain"): WaveformPipeline (sample,
denoise, inpaint, upsample), MelPipeline (sample_mel, decode, sample), VocoderPipeline (vocode, resynthesize),
DenoiserPipeline (denoise), BandwidthPipeline (upsample) or GapFillPipeline (inpaint).  Each registers itself
here by subclassing with `domain=`, so a new domain is one subclass; a method of another domain's pipeline raises
WrongDomainError naming what to use.  `Pipeline(model, diffusion, config)` still builds the domain's class, with a
DeprecationWarning.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .. import checkpoint as ckpt
from .. import hub
from .. import tasks
from ..audio import resample
from ..diffusion import GaussianDiffusion
from ..domains import get_domain
from ..run_features import features_from_config
from ..features import MelFeatures
from ..model_check import ModelFileError, check_config, check_weights
from ..nets import build_network, is_classifier_config, network_objective
from ..precision import PRECISIONS, cast_network, compile_network, resolve_precision
from ..sampling import SampleOptions, classifier_free_guidance, guidance_steps, sample
from ..windows import map_windows

log = logging.getLogger("audiodiff")


class WrongDomainError(AttributeError, ValueError):
    """A method of another domain's pipeline (e.g. `denoise` on a mel run).  An AttributeError, so `hasattr` says
    False, and a ValueError, so the CLI prints it as one line."""


class Pipeline:
    """Network + GaussianDiffusion + sample rate/length + the run's [sample] settings from config.json."""

    by_domain: ClassVar[dict[str, type["Pipeline"]]] = {}
    domain: ClassVar[str] = ""
    what: ClassVar[str] = ""          # the run as a user calls it, e.g. "a vocoder run"
    misuse_hint: ClassVar[str] = ""   # said when another domain's method is called on this run

    def __init_subclass__(cls, domain: str = "", **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if domain:
            cls.domain = get_domain(domain).name
            Pipeline.by_domain[domain] = cls

    def __new__(cls, model: nn.Module, diffusion: GaussianDiffusion, config: dict[str, Any], *args: Any, **kwargs: Any):
        wanted = Pipeline.by_domain[get_domain(config.get("domain", "waveform")).name]
        if cls is Pipeline:   # the old factory: still the class of the run's domain
            warnings.warn("Pipeline(model, diffusion, config) is deprecated: use Pipeline.for_config(model, diffusion, "
                          "config), which returns the class of the run's domain, or audiodiff.load(run)",
                          DeprecationWarning, stacklevel=2)
            cls = wanted
        elif not issubclass(cls, wanted):
            raise ValueError(f"{cls.__name__} cannot hold a {wanted.domain!r} run: use audiodiff.load or "
                             f"Pipeline.for_config")
        return super().__new__(cls)

    @classmethod
    def for_config(cls, model: nn.Module, diffusion: GaussianDiffusion, config: dict[str, Any],
                   device: torch.device | str = "cpu", precision: str = "auto", compile: bool = False) -> "Pipeline":
        """The pipeline of the run's domain (config["domain"], default "waveform") holding `model` and
        `diffusion` (audiodiff/pipeline/__init__.py lists them).  Called on a subclass
        (e.g. GeneratingPipeline), ValueError unless the domain's class is one of it."""
        wanted = Pipeline.by_domain[get_domain(config.get("domain", "waveform")).name]
        if not issubclass(wanted, cls):
            raise ValueError(f"{cls.__name__} cannot hold a {wanted.domain!r} run: use audiodiff.load or "
                             f"Pipeline.for_config")
        return wanted(model, diffusion, config, device, precision=precision, compile=compile)

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
        self.features: MelFeatures | None = features_from_config(config)

    def __getattr__(self, name: str) -> Any:
        """Only for names this class lacks: another domain's method gets a WrongDomainError saying what to use."""
        if not name.startswith("_"):
            for other in Pipeline.by_domain.values():
                if other is not type(self) and callable(getattr(other, name, None)):
                    raise WrongDomainError(f"{name} needs {other.what}; this run's domain is {self.domain!r}"
                                           f"{type(self).misuse_hint}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    source: Path | None = None   # the folder from_pretrained read (push_to_hub's model card looks there)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None, precision: str = "auto",
                        compile: bool = False, local_files_only: bool = False) -> "Pipeline":
        """Load a run directory (or an export) from config.json + model.safetensors (no pickle).

        `path` may be "hf://org/name[@revision]": the two files are fetched from the Hugging Face Hub into its
        cache first (audiodiff/hub.py; only the cache with local_files_only or HF_HUB_OFFLINE=1), and the snapshot
        folder then goes through the same checks as a local run.
        The model may be untrusted: config.json's values and the weights' shapes are checked before anything
        is built (audiodiff/model_check.py), so a hostile config cannot make loading allocate more than the
        weights file holds; every problem is one ValueError naming the file and key."""
        if hub.is_reference(path):
            path = hub.resolve(path, local_files_only=local_files_only)
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
        pipe = cls.for_config(model, diffusion, config, device, precision=precision, compile=compile)
        pipe.source = path
        return pipe

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

    def _generate(self, n: int, channels: int, length: int, steps: int | None = None, sampler: str | None = None,
                  seed: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
                  labels: int | str | Sequence[int] | Tensor | None = None, guidance: float | None = None,
                  guidance_interval: Sequence[float] | None = None, cond: dict[str, Any] | None = None,
                  window: int | None = None, **options: Any) -> Tensor:
        """The reverse chain for x of shape [n, channels, length] with the run's [sample] settings filled in.
        A length beyond `window` (the model's trained length, when given) is made by windowed continuation
        (tasks.continuation): each window inpainted from the end of the one before."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        run = self.sample_options
        call = run.resolve(sampler=sampler, steps=steps, **options)
        generator = generator or self._generator(seed)
        model = self.sampling_network()
        if labels is None or isinstance(labels, (int, str)):
            labels = self.class_labels(labels, n)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
            labels = labels.expand(n) if labels.numel() == 1 else labels
            if labels.shape != (n,):
                raise ValueError(f"give one label or n = {n} labels, got {labels.numel()}")
            interval = run.guidance_interval if guidance_interval is None else guidance_interval
            model = classifier_free_guidance(model, labels, run.guidance if guidance is None else guidance,
                                             guidance_steps(self.diffusion.schedule, interval))
        elif guidance is not None or guidance_interval is not None:
            raise ValueError("guidance needs labels: say which class to generate")
        if window is not None and length > window:
            if cond:
                raise ValueError("windowed continuation is for generation from noise, not for conditioned chains")
            return tasks.continuation(self.diffusion, model, (n, channels, length), window, generator=generator,
                                      device=self.device, progress=progress, call=call)
        return sample(self.diffusion, model, (n, channels, length), call, generator=generator, device=self.device,
                      progress_bar=progress, **(cond or {}))

    def class_labels(self, label: int | str | None, n: int) -> list[int] | None:
        """The class of each of n samples: `label` an index, a class name (config.json "class_names") or "each"
        (the classes in turn, so n samples cover them evenly); None takes the run's [sample] label, whose empty
        default means unconditional (None).  ValueError naming the classes for anything else."""
        if label is None:
            label = self.sample_options.label or None
            if label is None:
                return None
        classes = int(getattr(self.model, "num_classes", 0) or 0)
        if not classes:
            raise ValueError("this run is not class-conditional: drop the label, or train a recipe with [model] "
                             "num_classes (e.g. recipes/sc09-cond)")
        names = [str(x) for x in self.config.get("class_names") or []]
        if isinstance(label, str) and label.strip() == "each":
            return [i % classes for i in range(n)]
        if isinstance(label, str) and label.strip() in names:
            return [names.index(label.strip())] * n
        try:
            index = int(label)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < classes:
            named = f"a name ({', '.join(names)}), " if names else ""
            raise ValueError(f"label {label!r}: give a class index 0..{classes - 1}, {named}or \"each\" (the "
                             f"classes in turn)")
        return [index] * n

    def sampling_network(self) -> nn.Module:
        """What the reverse chains call: the model at fp32, or a bf16 copy of it made once (`precision`),
        compiled when `compile` is set.  Kept until the device, precision or compile setting changes."""
        key = (resolve_precision(self.precision, self.device), self.compile, self.device)
        if self._sampling_net is None or self._sampling_net[0] != key:
            net = cast_network(self.model, key[0])
            self._sampling_net = (key, compile_network(net, self.device) if self.compile else net)
        return self._sampling_net[1]

    @property
    def predictive(self) -> bool:
        """True for a one-call network (objective "regression" or "magnitude"), False for a diffusion model."""
        return network_objective(self.config["model"]) in ("regression", "magnitude")

    def _refuse_sampler_options(self, steps: int | None, sampler: str | None, options: dict[str, Any]) -> None:
        """A predictive network takes no sampler settings: ValueError naming those given."""
        if self.predictive and (steps is not None or sampler is not None or options):
            given = ", ".join([k for k, v in (("steps", steps), ("sampler", sampler)) if v is not None] + list(options))
            raise ValueError(f"this run answers in one network call (no sampler): leave out {given}")

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

    def _to_model_rate(self, audio: Any, sample_rate: int | None, back: bool = True):
        """numpy/torch [L] or [B, L] → ([B, 1, L'] float32 on the device, function undoing the conversion).

        Shared by the tasks on waveform runs and a vocoder run's re-synthesis."""
        if self.model_channels != 1:
            raise ValueError(f"this task needs a 1-channel model; this one has {self.model_channels} channels")
        is_numpy = isinstance(audio, np.ndarray)
        x = as_tensor(audio).float()
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

    def _windows(self, task: Any, shape: tuple[int, ...], window: int | None, progress: bool, what: str) -> Tensor:
        """windows.map_windows (cross-faded windows for inputs of any length) with the run's clip_length as the
        default window."""
        window = self.clip_length if window is None else int(window)
        if window < 16:
            raise ValueError(f"window must be at least 16 samples, got {window}")
        return map_windows(task, shape, window, progress=progress, description=what, sample_rate=self.sample_rate)

    # ----------------------------------------------------------------- export
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json + model.safetensors into `path`, loadable with `audiodiff.load`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ckpt.save_weights(path, self.model)
        ckpt.save_config(path, copy.deepcopy(self.config))
        return path

    def push_to_hub(self, repo: str, token: str | None = None, private: bool = False) -> str:
        """Upload config.json + model.safetensors + a README.md model card (recipe, domain, network and size,
        training steps, latest evaluation) to the Hub repository `repo` ("org/name"), created if missing; returns
        the commit's URL.  Load it back with `audiodiff.load("hf://org/name")`.  Needs `pip install
        'audiodiff[hub]'`; `token` defaults to the one `hf auth login` stored."""
        return hub.push(self, repo, token=token, private=private)

    def to(self, device: str | torch.device) -> "Pipeline":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self



class GeneratingPipeline(Pipeline):
    """A run that generates audio from noise (waveform and mel runs): `sample` here, `generate` per domain."""

    def sample(self, n: int = 1, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
               length: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
               labels: int | str | Sequence[int] | Tensor | None = None, guidance: float | None = None,
               vocoder: "Pipeline | str | Path | None" = None, seconds: float | None = None,
               **options: Any) -> Tensor:
        """Generate n clips of audio: float32 [n, length] in [−1, 1] at `sample_rate`.

        `seconds`: audio of that duration however long the run's clips were, made by windowed continuation (the
        first clip sampled, each next one inpainted from the last quarter of the one before); `length` instead
        makes one pass at that many samples, which a network may not handle beyond the length it trained on.

        `options`: any other sampler option of `audiodiff.sampling.SampleOptions` (eta, variance, fast_betas,
        spacing, lambda_min, levels, clip_x0, dynamic_percentile), as in `GaussianDiffusion.sample`; unset ones
        take the run's [sample] settings where the sampler takes them (`SampleOptions.resolve`).
        labels (one class for all: an index or a class name; n of them; or "each": the classes in turn) need a
        class-conditional model, which otherwise samples its [sample] label (unconditionally when that is
        empty); guidance is the classifier-free guidance scale (1 = plain conditional, 0 = unconditional), and
        guidance_interval = [lo, hi] applies it only at noise levels σ in that range (plain conditional
        elsewhere; [] = every step; default: the run's [sample] guidance_interval).
        A mel-domain run samples mels and decodes them through `vocoder` (a vocoder run or its path; default
        `pipe.vocoder`) or Griffin-Lim; its length is (length // hop)·hop samples (MelPipeline.generate).
        """
        return self.generate(n, length=length, vocoder=vocoder, steps=steps, sampler=sampler, seed=seed,
                             generator=generator, progress=progress, labels=labels, guidance=guidance,
                             seconds=seconds, **options)[0]

    def generate(self, n: int, length: int | None = None, vocoder: "Pipeline | str | Path | None" = None,
                 seconds: float | None = None, **chain: Any) -> tuple[Tensor, Tensor | None]:
        """(audio [n, L], the mels it was decoded from [n, n_mels, F] or None): what `audiodiff sample` writes.
        `seconds` as in `sample`."""
        raise NotImplementedError

    def _long_length(self, length: int | None, seconds: float | None) -> int | None:
        """`seconds` of audio in samples at the run's rate (None when not asked); refuses both, or a bad value."""
        if seconds is None:
            return None
        if length is not None:
            raise ValueError("give length (one pass) or seconds (windowed continuation), not both")
        if not (seconds > 0 and seconds < float("inf")):
            raise ValueError(f"seconds = {seconds}: must be a positive number")
        return max(1, round(seconds * self.sample_rate))


def as_tensor(x: Any) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)


def load(path: str | Path, device: str | torch.device | None = None, precision: str = "auto",
         compile: bool = False, local_files_only: bool = False) -> Pipeline:
    """`audiodiff.load("runs/sc09")` (or `"hf://org/name[@revision]"`) → Pipeline with .sample(), .sample_rate,
    .save_pretrained(), .push_to_hub().

    precision: the network's while sampling, "auto" (bf16 where the hardware has it) | "fp32" | "bf16";
    compile: torch.compile the network for the reverse chains (on CUDA as CUDA graphs);
    local_files_only: an hf:// model comes from the Hugging Face cache only (as with HF_HUB_OFFLINE=1)."""
    return Pipeline.from_pretrained(path, device=device, precision=precision, compile=compile,
                                    local_files_only=local_files_only)
