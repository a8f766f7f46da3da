"""What every command shares: the Typer app, one-line failures, finding and loading a run, option help."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Denoising diffusion for audio: train models from recipes, generate WAV files.")
log = logging.getLogger("audiodiff")

RUNS_DIR = Path("runs")


class _StderrHandler(logging.StreamHandler):
    """Writes each record to sys.stderr as it is at that moment, not as it was when the CLI first ran: a
    program (or test) that runs the CLI in-process and swaps or closes its stderr afterwards still gets
    the records, instead of a 'Logging error' from a closed stream."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging() -> None:
    if not log.handlers:
        handler = _StderrHandler()
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
    candidates = [p for p in candidates if not is_classifier_run(p.parent)]
    return candidates[-1].parent if candidates else None


def is_classifier_run(run: Path) -> bool:
    """A run of recipes/sc09-classifier (it scores samples; `sample` never picks it by default)."""
    import json

    from ..eval.scorer import is_classifier_config

    try:
        return is_classifier_config(json.loads((run / "config.json").read_text()).get("model", {}))
    except (OSError, ValueError, AttributeError):
        return False


def _check_device(device: str) -> str:
    """--device is a usage error, judged while parsing, before any file is looked at."""
    from ..device import DEVICES, device_choices

    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r}: use {device_choices()}", param_hint="--device")
    return device


def _check_precision(precision: Optional[str]) -> Optional[str]:
    """--precision, judged like --device (None: not given, where the option has no default)."""
    from ..precision import PRECISIONS

    if precision is not None and precision not in PRECISIONS:
        raise typer.BadParameter(f"{precision!r}: use {', '.join(PRECISIONS)}", param_hint="--precision")
    return precision


def load_pipeline(model: Optional[Path], device: str, precision: str = "auto"):
    """--model, or the most recent run under ./runs (said on stderr) → Pipeline on the chosen device."""
    from ..pipeline import load
    from ..device import resolve_device

    if model is None:
        model = latest_run()
        if model is None:
            fail(f"no trained model under ./{RUNS_DIR}: train one first (audiodiff train recipes/quickstart) "
                 f"or pass --model RUN_DIR")
        log.info("using the most recent run: %s", model)
    return load(model, device=resolve_device(device), precision=precision)


MODEL_HELP = ("Run directory or export, or hf://ORG/NAME[@REVISION] from the Hugging Face Hub (pip install "
              "'audiodiff[hub]'); default: the most recently trained run under ./runs.")
PRECISION_HELP = "The network's precision: auto (bf16 where the hardware has it: CUDA compute 8.0+, CPUs with " \
    "AMX / AVX512-BF16) | fp32 | bf16."
WINDOW_HELP = ("Long recordings are processed in cross-faded windows of this many samples at the model's rate "
               "(default: the run's clip_length; for vocode, 10 s).")

# Options several commands take, declared once: `device: Device = "auto"`.
Device = Annotated[str, typer.Option("--device", callback=_check_device, help="auto (CUDA when present) | cpu | cuda.")]
Precision = Annotated[str, typer.Option("--precision", callback=_check_precision, help=PRECISION_HELP)]
TrainPrecision = Annotated[Optional[str], typer.Option(
    "--precision", callback=_check_precision, help="Overrides \\[train] precision: auto (bf16 autocast where the "
    "hardware has it) | fp32 | bf16.  fp32 on a bf16 CPU gives the speed of one without it.")]
Model = Annotated[Optional[Path], typer.Option("--model", help=MODEL_HELP)]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed for reproducible output.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]
Window = Annotated[Optional[int], typer.Option("--window", min=16, help=WINDOW_HELP)]
Force = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists (it is refused "
                                     "otherwise).")]


def require_file(path: Path) -> None:
    if not path.is_file():
        fail(f"input file {path} does not exist")


def check_out_file(path: Path, force: bool, option: str = "--out") -> None:
    """Judge an output file before any work: a file path whose folder can exist, and nothing there yet
    unless --force (the one overwrite rule of the commands that write audio or a report page)."""
    from ..atomic import check_output_file

    check_output_file(path, force=force, option=option)


def read_input(path: Path, sample_rate: int | None = None):
    """(wave [L], rate) of an input recording, resampled to sample_rate when given; one-line error if missing."""
    from ..audio import load_audio

    require_file(path)
    return load_audio(path, sample_rate)
