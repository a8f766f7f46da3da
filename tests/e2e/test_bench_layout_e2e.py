"""benchmarks/'s shape end to end, in fresh interpreters (issue 27): every module under benchmarks/ imports, and the
forwarders at the runbooks' old paths reach the moved runbooks from any working folder.  (The import graph and
sys.path edits are checked in tests/bench/test_bench_layout.py.)"""

from __future__ import annotations

import subprocess
import sys

from helpers.imports import BENCHMARKS, benchmark_modules
from helpers.recipes import REPO


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(benchmark_modules())
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    proc = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_runbooks_old_paths_forward():
    """The standing instructions run benchmarks/gpu_levers.py and benchmarks/gpu_check.sh: both reach the moved
    runbooks (gpu/levers.py, gpu/check.sh) from any working folder."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_levers.py"), "--help"], cwd="/", capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "--variants" in proc.stdout, proc.stderr[-2000:]
    forwarder = (BENCHMARKS / "gpu_check.sh").read_text()
    assert "gpu/check.sh" in forwarder and (BENCHMARKS / "gpu/check.sh").stat().st_mode & 0o111
    assert "-m benchmarks.gpu.check" in (BENCHMARKS / "gpu/check.sh").read_text()
