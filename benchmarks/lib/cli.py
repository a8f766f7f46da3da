"""A benchmark's command line: bad input ends in one `error: …` line naming what to fix, never a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from audiodiff.atomic import OutputError


class InputError(ValueError):
    """Bad input (a missing folder or file, an empty list, an option value); the message names it and what to do."""


def add_precision(ap: argparse.ArgumentParser) -> None:
    """--precision for the runs a benchmark loads: auto (bf16 where the CPU has it) by default; fp32 on a bf16 CPU
    gives the figure of a laptop without it (issue 29's rule: budgets mean a CPU without bf16)."""
    from audiodiff.precision import PRECISIONS

    ap.add_argument("--precision", default="auto", choices=PRECISIONS,
                    help="the runs' precision (default auto: bf16 where the CPU has it; fp32: a laptop's figure)")


def write_or_refuse(path: Path, result: dict[str, Any], option: str) -> None:
    """The result as JSON at `path` (envelope.write_result); InputError naming `option` when it cannot be written."""
    from .envelope import write_result

    try:
        write_result(path, result)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write the result ({exc.strerror or exc})") from None


def run_cli(parse: Callable[[list[str] | None], argparse.Namespace],
            run: Callable[[argparse.Namespace, list[str] | None], dict[str, Any]],
            argv: list[str] | None) -> dict[str, Any]:
    """parse(argv), then run(args, argv) → its result; InputError and OutputError (an output that cannot be
    written, named) exit with their one line."""
    args = parse(argv)
    try:
        return run(args, argv)
    except (InputError, OutputError) as exc:
        raise SystemExit(f"error: {exc}") from None
