"""recipe.toml → typed, validated config.  Every bad key is reported before any work starts.

Each table is a dataclass of `options.option` fields (its allowed range or choices), declared by the code that
owns the settings: [diffusion] DiffusionConfig in diffusion.py, [features] FeaturesConfig in features_config.py,
[model] the network constructors' annotations (nets.check_network_config).  This module parses the file and
adds the checks that span tables, re-raising an owner's ValueError with the file and key.  Unknown keys are
errors (a typo never passes silently).
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

from .diffusion import DiffusionConfig
from .features import MelFeatures
from .features_config import FeaturesConfig
from .nets import (FIRST_LAYER_KEY, NETWORKS, build_network, check_network_config, entry_bottleneck,
                   is_classifier_config)
from .options import RecipeError, parse_table
from .options import option as _f

log = logging.getLogger("audiodiff")

# The [diffusion] table as config.json stores it (GaussianDiffusion.from_config); the trainer's name for it.
diffusion_config = DiffusionConfig.to_config


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
class TrainConfig:
    batch_size: int = _f(16, lo=1)
    learning_rate: float = _f(2e-4, lo=0, lo_open=True, hi=1)
    weight_decay: float = _f(0.0, lo=0, hi=1)
    max_steps: int = _f(1_000_000, lo=1)
    warmup_steps: int = _f(0, lo=0)
    ema_decay: float = _f(0.999, lo=0, hi=1, hi_open=True)
    grad_clip: float = _f(1.0, lo=0, help="0 disables clipping")
    checkpoint_every: int = _f(5000, lo=1)
    log_every: int = _f(50, lo=1)
    seed: int = _f(0, lo=0)
    device: str = _f("auto", choices=("auto", "cpu", "cuda"))
    threads: int = _f(0, lo=0, help="CPU threads; 0 = torch's default")
    grad_accum: int = _f(1, lo=1, hi=1024, help="micro-batches per optimiser step; batch_size is split into them")
    compile: bool = _f(False, help="torch.compile the network")
    precision: str = _f("auto", choices=("auto", "fp32", "bf16"),
                        help="bf16 autocast for the network; auto = bf16 where the hardware has it (audiodiff/precision.py)")
    lr_schedule: str = _f("constant", choices=("constant", "cosine"), help="after the linear warm-up")
    min_lr_ratio: float = _f(0.1, lo=0, hi=1, help="cosine: lr at [train] max_steps, as a fraction of learning_rate")
    tensorboard: bool = _f(True, help="TensorBoard logs in RUN_DIR/tb")
    preview_every: int = _f(5000, lo=0, help="steps between audio / mel previews in TensorBoard; 0 disables")
    preview_n: int = _f(4, lo=1, hi=64, help="clips per preview")
    cond_drop: float = _f(0.1, lo=0, hi=1, hi_open=True,
                          help="class-conditional models: share of labels dropped (classifier-free guidance)")
    eval_every: int = _f(0, lo=0, help="steps between quality evaluations (FID / IS of EMA samples against "
                                       "eval_classifier; a classifier run: validation accuracy); 0 disables")
    eval_n: int = _f(256, lo=2, help="samples generated per quality evaluation")
    eval_classifier: str = _f("", help="classifier run directory (recipes/sc09-classifier) for eval_every")


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
    model = check_network_config(raw.get("model", {}), source)
    recipe = Recipe(name=name, model=model, path=path, **parts)
    _cross_checks(recipe, source)
    return recipe


def _cross_checks(recipe: Recipe, source: str) -> None:
    tr = recipe.train
    if tr.batch_size % tr.grad_accum:
        raise RecipeError(f"{source}: [train] grad_accum = {tr.grad_accum}: must divide [train] batch_size "
                          f"({tr.batch_size}), which is split into grad_accum micro-batches")
    d = recipe.diffusion
    try:
        d.build()
    except ValueError as exc:
        raise RecipeError(f"{source}: [diffusion] {exc}") from None
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
