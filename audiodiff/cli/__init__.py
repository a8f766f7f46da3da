"""The `audiodiff` command: a thin Typer layer over the Python API.

Errors a user can fix are printed as one line naming the file or option, with exit code 1; set
AUDIODIFF_DEBUG=1 to see the full traceback instead.  Each module registers its commands on the one `app`
(audiodiff/cli/common.py); importing this package registers them all.
"""

from __future__ import annotations

import os
import sys

import typer

# Importing the command modules registers their commands on `app`, in this order in --help.
from . import run_cmds, distill_cmd, sample_cmds, task_cmds, eval_cmd, setup_cmds  # noqa: I001  (order = --help order)
from .common import app, setup_logging

COMMAND_MODULES = (run_cmds, distill_cmd, sample_cmds, task_cmds, eval_cmd, setup_cmds)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app, turning known errors into one-line messages."""
    from ..audio import AudioReadError
    from ..data import DatasetError
    from ..install import InstallError, check_install
    from ..interrupt import Interrupted
    from ..recipe import RecipeError
    from ..training import TrainingError

    setup_logging()
    if sys.argv[1:2] != ["env"]:   # `env` reports a broken install itself, after the versions
        try:
            check_install()
        except InstallError as exc:
            typer.echo(f"error: {exc}", err=True)
            sys.exit(1)
    try:
        code = app(standalone_mode=False)
    except Interrupted as exc:     # the trainer stopped on a signal (after a checkpoint, when it could)
        typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command again to resume from the last checkpoint", err=True)
        sys.exit(130)
    except (RecipeError, DatasetError, TrainingError, AudioReadError, InstallError, FileNotFoundError,
            ValueError) as exc:
        if os.environ.get("AUDIODIFF_DEBUG"):
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # Typer's (click's) usage errors: a bad option value, a missing argument
        if type(exc).__name__ == "Abort" and isinstance(exc.__cause__, EOFError):   # Typer's wrapping of EOFError
            if os.environ.get("AUDIODIFF_DEBUG"):
                raise
            typer.echo(f"error: a file ended early ({exc.__cause__ or 'EOFError'}): it is empty or truncated; "
                       f"set AUDIODIFF_DEBUG=1 to see which", err=True)
            sys.exit(1)
        if type(exc).__name__ == "Abort":  # Ctrl-C, re-raised as Abort outside standalone mode
            typer.echo("interrupted: run the same command again to resume from the last checkpoint", err=True)
            sys.exit(130)
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    if code == 130:   # Typer turns a KeyboardInterrupt (Ctrl-C outside training) into a silent exit 130
        typer.echo("interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)
