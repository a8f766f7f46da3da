"""What every benchmark shares: the JSON envelope (commit, machine, command, date), timers with their spread, the
device and peak memory (device.py), the peer adapter for lmnt-com/diffwave (peer.py), generated fixtures
(fixtures.py), the Trainer against its raw step (trainer.py), quality scores (quality.py), the command-line face
(cli.py: one-line errors) and the classical gap fills (ar_fill.py).  Nothing here imports an entry script."""

from .envelope import RESULTS, envelope, read_result, write_result
from .timing import Timing, alternate, spread_ratio, time_calls

__all__ = ["RESULTS", "Timing", "alternate", "envelope", "read_result", "spread_ratio", "time_calls", "write_result"]
