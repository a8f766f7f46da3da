"""What every benchmark shares: the JSON envelope (commit, machine, command, date), timers with their spread, the
command-line face (cli.py: one-line errors), and generated fixtures.  Nothing here imports an entry script."""

from .envelope import envelope, read_result, write_result
from .timing import Timing, spread_ratio, time_calls

__all__ = ["Timing", "envelope", "read_result", "spread_ratio", "time_calls", "write_result"]
