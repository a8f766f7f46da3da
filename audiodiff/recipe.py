"""recipe.toml → typed, validated config.  Every bad key is reported before any work starts.

Each table is a dataclass; a field's metadata gives its allowed range or choices, so the error names
the key and what is allowed.  Unknown keys are errors (a typo never passes silently).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import torch

from .nets import NETWORKS, build_network, entry_bottleneck, is_classifier_config, network_options
from .options import RecipeError, parse_table
from .options import option as _f
from .training.config import TrainConfig

log = logging.getLogger("audiodiff")


# C major scale, C4..C5, as MIDI note numbers: the quickstart's generated notes.
QUICKSTART_NOTES = [60, 62, 64, 65, 67, 69, 71, 72]


# Datasets that have named splits / an archive to download (see audiodiff/data.py).
SPLIT_DATASETS = ("speechcommands", "ljspeech", "gtzan")


@dataclass
class DataConfig:
    dataset: str = _f("folder", choices=("folder", "notes", "speechcommands", "ljspeech", "gtzan"))
    root: str = _f("data/my-audio")
    sample_rate: int = _f(16000, lo=1000, hi=384000)
    clip_length: int = _f(16000, lo=16, hi=2 ** 24)
    num_workers: int = _f(0, lo=0, hi=64)
    split: str = _f("train", choices=("train", "valid", "test"),
                    help="speechcommands: the official lists; gtzan: clip numbers; ljspeech: a fixed hash split")
    download: bool = _f(False, help="fetch the dataset's archive into root when it is missing")
    url: str = _f("", help="archive URL for download; empty = the dataset's standard URL")
    sha256: str = _f("", help="the archive's SHA-256 (64 hex digits): a download or archive that differs is "
                              "refused; empty = check standard archives by name only")
    file_list: str = _f("", help="folder: a text file of paths relative to root, one per line")
    cache: bool = _f(True, help="keep decoded, resampled clips on disk (.npy) for later epochs and runs")
    cache_dir: str = _f("", help="where the cache goes; empty = <root>/.audiodiff-cache")
    # dataset = "notes": synthetic plucked notes generated into `root` on first use
    notes: list = _f(QUICKSTART_NOTES)
    num_clips: int = _f(512, lo=1)
    domain: str = _f("waveform", choices=("waveform", "mel", "vocoder"),
                     help="what the model generates: waveforms, mel spectrograms ([features]), or waveforms "
                          "from a mel (a vocoder)")


@dataclass
class DiffusionConfig:
    schedule: str = _f("linear", choices=("linear", "cosine", "betas"))
    num_steps: int = _f(1000, lo=1, hi=100000)
    beta_start: float = _f(1e-4, lo=0, hi=1, lo_open=True, hi_open=True)
    beta_end: float = _f(0.02, lo=0, hi=1, lo_open=True, hi_open=True)
    betas: list = _f([])
    prediction: str = _f("eps", choices=("eps", "v", "x0"))
    loss: str = _f("mse", choices=("mse", "l1"))
    min_snr_gamma: float = _f(0.0, lo=0, help="0 disables min-SNR weighting")


@dataclass
class SampleConfig:
    sampler: str = _f("ddpm", choices=("ddpm", "ddim", "fast", "dpm++"))
    steps: int = _f(0, lo=0, help="0 = every training step (or the fast schedule's length)")
    eta: float = _f(0.0, lo=0, hi=1)
    variance: str = _f("posterior", choices=("posterior", "beta"))
    fast_betas: list = _f([1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5])
    guidance: float = _f(1.0, lo=0, hi=100, help="classifier-free guidance scale for labelled sampling")
    spacing: str = _f("", choices=("", "uniform", "trailing", "leading", "logsnr", "karras"),
                      help="where the steps go (audiodiff/spacing.py); empty = the sampler's own (dpm++: logsnr, "
                           "else uniform)")
    lambda_min: float = _f(0.0, hi=0, help="logsnr/karras: start no noisier than this half log-SNR λ; 0 = no clip")
    levels: list = _f([], help="explicit training steps to visit, noisiest first (may be fractional); "
                               "overrides steps and spacing")
    clip_x0: str = _f("none", choices=("none", "clip", "dynamic"),
                      help="clip every x̂0 to [-1, 1], or Imagen's dynamic thresholding")
    dynamic_percentile: float = _f(0.995, lo=0, lo_open=True, hi=1, help="clip_x0 = dynamic: the |x̂0| quantile")


@dataclass
class FeaturesConfig:
    """[features]: the log-mel spectrogram of the "mel" and "vocoder" domains (see audiodiff/features.py)."""
    n_fft: int = _f(1024, lo=2, hi=2 ** 16)
    hop_length: int = _f(256, lo=1, help="samples per mel frame; frames = clip_length // hop_length")
    win_length: int = _f(0, lo=0, help="0 = n_fft")
    n_mels: int = _f(80, lo=1)
    f_min: float = _f(0.0, lo=0)
    f_max: float = _f(0.0, lo=0, help="0 = sample_rate / 2")
    power: float = _f(1.0, choices=(1.0, 2.0), help="1 = magnitude, 2 = power spectrogram")
    mel_scale: str = _f("slaney", choices=("slaney", "htk"))
    log_floor: float = _f(1e-5, lo=0, hi=1, lo_open=True, hi_open=True, help="log(max(mel, log_floor))")
    norm: str = _f("minmax", choices=("minmax", "meanstd"), help="minmax: dataset log-mel range → [−1, 1]")
    stats_clips: int = _f(256, lo=1, help="training clips sampled to compute the normalisation statistics")
    griffin_lim_iters: int = _f(64, lo=1, help="iterations of the Griffin-Lim baseline inversion")


@dataclass
class Recipe:
    name: str
    data: DataConfig
    model: dict
    diffusion: DiffusionConfig
    train: TrainConfig
    sample: SampleConfig
    path: Path | None = None
    features: FeaturesConfig = field(default_factory=FeaturesConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "data": dataclasses.asdict(self.data), "model": dict(self.model),
                "diffusion": dataclasses.asdict(self.diffusion), "train": dataclasses.asdict(self.train),
                "sample": dataclasses.asdict(self.sample), "features": dataclasses.asdict(self.features)}


SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "train": TrainConfig, "sample": SampleConfig,
            "features": FeaturesConfig}


def load_recipe(path: str | Path) -> Recipe:
    """A recipe directory (holding recipe.toml) or a .toml file → validated Recipe."""
    path = Path(path)
    file = path / "recipe.toml" if path.is_dir() else path
    if not file.is_file():
        raise RecipeError(f"no recipe at {path}: expected a directory with recipe.toml (see recipes/)")
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{file}: not valid TOML ({exc})") from None
    return recipe_from_dict(raw, source=str(file), path=file.parent)


def recipe_from_dict(raw: dict[str, Any], source: str = "recipe", path: Path | None = None) -> Recipe:
    """Validate a recipe's tables; raise RecipeError naming the first bad key."""
    allowed_top = {"name", "model", *SECTIONS}
    for key in raw:
        if key not in allowed_top:
            raise RecipeError(f"{source}: unknown table or key {key!r}; allowed: {', '.join(sorted(allowed_top))}")
    name = raw.get("name", path.name if path else "run")
    if not isinstance(name, str) or not name:
        raise RecipeError(f"{source}: name must be a non-empty string")
    parts = {sec: parse_table(cls, raw.get(sec, {}), sec, source) for sec, cls in SECTIONS.items()}
    model = _parse_model(raw.get("model", {}), source)
    recipe = Recipe(name=name, model=model, path=path, **parts)
    _cross_checks(recipe, source)
    return recipe


def _parse_model(table: Any, source: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise RecipeError(f"{source}: [model] must be a table")
    kind = table.get("type", "diffwave")
    if kind not in NETWORKS:
        raise RecipeError(f"{source}: [model] type = {kind!r}: allowed values: {', '.join(NETWORKS)}")
    options = network_options(kind)
    model = {"type": kind}
    for key, value in table.items():
        if key == "type":
            continue
        if key not in options:
            raise RecipeError(f"{source}: unknown key [model] {key} for type {kind!r}; allowed: "
                              f"{', '.join(options)}")
        ok, why = _model_value_ok(value, options[key])
        if not ok:
            raise RecipeError(f"{source}: [model] {key} = {value!r}: {why}")
        model[key] = value
    return model


def _model_value_ok(value: Any, default: Any) -> tuple[bool, str]:
    """Type and range of a network keyword, judged from the type of its default."""
    if isinstance(default, (list, tuple)):
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                             for v in value)
        return ok, "must be a list of non-negative integers"
    if isinstance(default, int) and not isinstance(default, bool):
        low = 0 if default == 0 else 1   # keys defaulting to 0 (num_classes) use 0 for "off"
        return isinstance(value, int) and not isinstance(value, bool) and value >= low, f"must be an integer >= {low}"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
        return ok, "must be a number in [0, 1)"
    return True, ""


def _cross_checks(recipe: Recipe, source: str) -> None:
    tr = recipe.train
    if tr.batch_size % tr.grad_accum:
        raise RecipeError(f"{source}: [train] grad_accum = {tr.grad_accum}: must divide [train] batch_size "
                          f"({tr.batch_size}), which is split into grad_accum micro-batches")
    d = recipe.diffusion
    if d.schedule == "linear" and d.beta_start > d.beta_end:
        raise RecipeError(f"{source}: [diffusion] beta_start ({d.beta_start}) must be <= beta_end ({d.beta_end})")
    if d.schedule == "betas":
        if not d.betas or not all(isinstance(b, (int, float)) and 0 < b < 1 for b in d.betas):
            raise RecipeError(f"{source}: [diffusion] betas must be a non-empty list of numbers in (0, 1) "
                              f"when schedule = 'betas'")
    s = recipe.sample
    if not s.fast_betas or not all(isinstance(b, (int, float)) and 0 < b < 1 for b in s.fast_betas):
        raise RecipeError(f"{source}: [sample] fast_betas must be a non-empty list of numbers in (0, 1)")
    steps_total = len(d.betas) if d.schedule == "betas" else d.num_steps
    if s.levels and (not all(isinstance(v, (int, float)) and 0 <= v <= steps_total - 1 for v in s.levels)
                     or any(b >= a for a, b in zip(s.levels, s.levels[1:]))):
        raise RecipeError(f"{source}: [sample] levels must be strictly decreasing training steps in "
                          f"[0, {steps_total - 1}], noisiest first")
    if s.steps > steps_total:
        raise RecipeError(f"{source}: [sample] steps = {s.steps}: must be <= the number of diffusion steps "
                          f"({steps_total})")
    if recipe.data.dataset == "notes":
        bad = [n for n in recipe.data.notes if not isinstance(n, int) or not 0 <= n <= 127]
        if bad or not recipe.data.notes:
            raise RecipeError(f"{source}: [data] notes must be a non-empty list of MIDI numbers 0..127")
    data = recipe.data
    if data.split != "train" and data.dataset not in SPLIT_DATASETS:
        raise RecipeError(f"{source}: [data] split = {data.split!r}: dataset {data.dataset!r} has no splits "
                          f"(only {', '.join(SPLIT_DATASETS)} do); use file_list to pick files")
    if data.download and data.dataset not in SPLIT_DATASETS:
        raise RecipeError(f"{source}: [data] download = true: dataset {data.dataset!r} has nothing to download "
                          f"(only {', '.join(SPLIT_DATASETS)} do)")
    if data.download and data.dataset == "gtzan" and not data.url:
        raise RecipeError(f"{source}: [data] download = true for gtzan needs [data] url = the archive of a GTZAN "
                          f"copy (its original host is offline); see recipes/gtzan/README.md")
    if data.sha256 and not (len(data.sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in data.sha256)):
        raise RecipeError(f"{source}: [data] sha256 = {data.sha256!r}: must be 64 hex digits (sha256sum's output)")
    if data.file_list and data.dataset != "folder":
        raise RecipeError(f"{source}: [data] file_list is only for dataset = 'folder'")
    if recipe.data.domain != "mel" and recipe.model["type"] == "diffwave" and recipe.model.get("in_channels", 1) != 1:
        raise RecipeError(f"{source}: [model] in_channels must be 1 for waveform diffusion")
    if tr.eval_every and not tr.eval_classifier and getattr(NETWORKS[recipe.model["type"]], "objective",
                                                            "diffusion") != "classification":
        raise RecipeError(f"{source}: [train] eval_every = {tr.eval_every} scores samples with a classifier: set "
                          f"[train] eval_classifier = its run directory (audiodiff train recipes/sc09-classifier)")
    _domain_checks(recipe, source)
    _warn_bottleneck(recipe, source)


# The [model] key that widens each network's first layer, for the bottleneck warning.
FIRST_LAYER_KEY = {"unet1d": "base_channels", "diffwave": "residual_channels"}


def _warn_bottleneck(recipe: Recipe, source: str) -> None:
    """Warn (with the fix) when the network's first layer is narrower than its input; built on the meta device,
    so it costs no memory."""
    if is_classifier_config(recipe.model):   # it reads audio through its own mel front end, not an ε-network's input
        return
    with torch.device("meta"):
        narrow = entry_bottleneck(build_network(recipe.model))
    if narrow:
        values, width = narrow
        kind = recipe.model["type"]
        log.warning(f"{source}: [model] the first layer maps {values} input values per position (input channels × "
                    f"stem stride) into {width} channels, a bottleneck the network cannot learn around; widen it ([model] {FIRST_LAYER_KEY.get(kind, 'channels')} for {kind}) to at least "
                    f"{values}")


def _domain_checks(recipe: Recipe, source: str) -> None:
    """[data] domain and [features]: valid mel settings; the model's mel keys filled in from [features]."""
    domain, model = recipe.data.domain, recipe.model
    if domain == "waveform":
        if model.get("n_mels"):
            raise RecipeError(f"{source}: [model] n_mels = {model['n_mels']} makes a mel-conditioned vocoder: set "
                              f"[data] domain = \"vocoder\" (and the mel settings in [features])")
        return
    from .features import MelFeatures

    try:
        features = MelFeatures.from_recipe(recipe)
    except ValueError as exc:
        raise RecipeError(f"{source}: [features] {str(exc).removeprefix('mel features: ')}") from None
    hop, n_mels, clip = features.hop_length, features.n_mels, recipe.data.clip_length
    if clip < hop:
        raise RecipeError(f"{source}: [data] clip_length = {clip} is shorter than one mel frame ([features] "
                          f"hop_length = {hop})")

    def fill(key: str, value: int) -> None:
        if model.setdefault(key, value) != value:
            raise RecipeError(f"{source}: [model] {key} = {model[key]} contradicts [features] ({value}); leave "
                              f"{key} out and it follows [features]")

    if domain == "mel":
        if model.get("n_mels"):
            raise RecipeError(f"{source}: [model] n_mels is for vocoders; a mel-domain model takes the mel bins "
                              f"as channels (in_channels = [features] n_mels)")
        fill("in_channels", n_mels)
    else:  # vocoder
        if model["type"] != "diffwave":
            raise RecipeError(f"{source}: [data] domain = \"vocoder\" needs [model] type = \"diffwave\" (the "
                              f"mel-conditioned network), not {model['type']!r}")
        if clip % hop:
            raise RecipeError(f"{source}: [data] clip_length = {clip} must be a multiple of [features] hop_length "
                              f"= {hop} for a vocoder (frames × hop samples), e.g. {clip // hop * hop}")
        fill("n_mels", n_mels)
        fill("hop_length", hop)


def diffusion_config(d: DiffusionConfig) -> dict[str, Any]:
    """The [diffusion] table as GaussianDiffusion.from_config expects it."""
    cfg: dict[str, Any] = {"schedule": d.schedule, "prediction": d.prediction, "loss": d.loss,
                           "min_snr_gamma": d.min_snr_gamma or None}
    if d.schedule == "betas":
        cfg["betas"] = list(d.betas)
    else:
        cfg["num_steps"] = d.num_steps
        if d.schedule == "linear":
            cfg.update(beta_start=d.beta_start, beta_end=d.beta_end)
    return cfg
