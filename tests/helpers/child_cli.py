"""For a script a test runs as a child process (under torchrun, after installing its spies): the real
`audiodiff` CLI in that process."""

from __future__ import annotations

import sys

from audiodiff.cli import main


def run_main(args: list[str]) -> int:
    """`audiodiff ARGS` through the CLI's own entry point; its exit status (0 when it returns)."""
    sys.argv = ["audiodiff", *args]
    try:
        main()
    except SystemExit as exc:
        return exc.code or 0
    return 0
