"""One JSON envelope for every result: what was measured, at which commit, on which machine, with which command."""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"   # git ignores it
FORMAT = 1   # bumped when the envelope's keys change meaning


def git_state(folder: Path = ROOT) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None} of the checkout holding `folder`."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=30,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def envelope(benchmark: str, device: str = "cpu", argv: list[str] | None = None) -> dict[str, Any]:
    """The keys every result starts with: benchmark name, format, commit and dirty flag of the audiodiff that ran
    (its own checkout, which may be another commit's worktree), machine (audiodiff.install.machine_record), the
    command and the UTC date."""
    import audiodiff
    from audiodiff.install import machine_record

    code = Path(audiodiff.__file__).resolve().parent
    return {"benchmark": benchmark, "format": FORMAT, **git_state(code.parent), "audiodiff": str(code),
            "machine": machine_record(device),
            "command": shlex.join([Path(sys.executable).name, "-m", f"benchmarks.{benchmark}",
                                   *(sys.argv[1:] if argv is None else argv)]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_result(path: str | Path, result: dict[str, Any]) -> Path:
    """The result as indented JSON at `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def read_result(path: str | Path, benchmark: str) -> dict[str, Any]:
    """A result file written by `benchmark`; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable JSON result ({exc})") from None
    if not isinstance(result, dict) or result.get("benchmark") != benchmark or "rows" not in result:
        raise ValueError(f"{path}: not a {benchmark} result (no \"benchmark\": \"{benchmark}\" with rows)")
    return result
