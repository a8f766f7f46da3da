"""benchmarks/'s shape (issue 27): a package with no import cycle among its modules, no sys.path edits, and a library
(benchmarks/lib) that imports no entry script.  That every module imports, and the forwarders at the runbooks' old
paths, are checked in fresh interpreters in tests/e2e/test_bench_layout_e2e.py."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.imports import BENCHMARKS, benchmark_modules, find_cycles
from helpers.recipes import REPO


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
    known = benchmark_modules()
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
    edits = [f"{path.relative_to(REPO)}:{node.lineno}" for path in benchmark_modules().values()
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
             and node.value.id == "sys"]
    edits += [str(path.relative_to(REPO)) for path in BENCHMARKS.rglob("*.sh") if "sys.path" in path.read_text()]
    assert edits == []
