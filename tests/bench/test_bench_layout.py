"""benchmarks/'s shape (issue 27): a package whose modules all import, with no import cycle among them, no sys.path
edits, a library (benchmarks/lib) that imports no entry script, and forwarders at the runbooks' old paths."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.imports import find_cycles
from helpers.recipes import REPO

BENCHMARKS = REPO / "benchmarks"


def modules() -> dict[str, Path]:
    """Dotted module name → file for every module under benchmarks/ (a package's name maps to its __init__.py)."""
    out = {}
    for path in sorted(BENCHMARKS.rglob("*.py")):
        if "results" in path.relative_to(BENCHMARKS).parts:
            continue
        parts = ("benchmarks", *path.relative_to(BENCHMARKS).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The benchmarks modules `name` imports anywhere in its file (inside functions too: a cycle there is still a
    cycle), `from .x import y` resolved, and `y` counted when it is a module itself."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    return found - {name}


def test_no_import_cycle_among_the_benchmarks():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert find_cycles(graph) == []
    assert graph["benchmarks.suite"] >= {"benchmarks.lib", "benchmarks.lib.trainer"}   # the check sees imports
    lib = {name: deps for name, deps in graph.items() if name.startswith("benchmarks.lib")}
    assert {name: deps for name, deps in lib.items() if any(not d.startswith("benchmarks.lib") for d in deps)} == {}


def test_the_import_check_sees_a_cycle(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from .b import g\n")
    b.write_text("from benchmarks import a\n")
    known = {"benchmarks.a": a, "benchmarks.b": b}
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert find_cycles(graph) == [["benchmarks.a", "benchmarks.b", "benchmarks.a"]]


def test_no_sys_path_edits():
    edits = [f"{path.relative_to(REPO)}:{node.lineno}" for path in modules().values()
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
             and node.value.id == "sys"]
    edits += [str(path.relative_to(REPO)) for path in BENCHMARKS.rglob("*.sh") if "sys.path" in path.read_text()]
    assert edits == []


@pytest.mark.slow      # a fresh interpreter
def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(modules())
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    proc = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow      # a fresh interpreter
def test_the_runbooks_old_paths_forward():
    """The standing instructions run benchmarks/gpu_levers.py and benchmarks/gpu_check.sh: both reach the moved
    runbooks (gpu/levers.py, gpu/check.sh) from any working folder."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_levers.py"), "--help"], cwd="/", capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "--variants" in proc.stdout, proc.stderr[-2000:]
    forwarder = (BENCHMARKS / "gpu_check.sh").read_text()
    assert "gpu/check.sh" in forwarder and (BENCHMARKS / "gpu/check.sh").stat().st_mode & 0o111
    assert "-m benchmarks.gpu.check" in (BENCHMARKS / "gpu/check.sh").read_text()
