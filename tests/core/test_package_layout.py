"""The package's shape (issue 12): modules that read in one sitting, and no import cycle between them."""

from __future__ import annotations

import ast
from pathlib import Path

import audiodiff
from helpers.imports import find_cycles

PACKAGE = Path(audiodiff.__file__).parent
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (a package's name maps to its __init__.py)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("audiodiff", *path.relative_to(PACKAGE).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _top_level(tree: ast.Module):
    """The module's own import statements: in its body, its module-level if / try blocks, not under
    `if TYPE_CHECKING:` and not inside functions or classes."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules `name` imports when it is loaded, each parent package included (it runs first), but not
    the importer's own parent packages (they are already loading)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _top_level(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if candidate in known and not (name == candidate or name.startswith(candidate + ".")):
                    found.add(candidate)
    return found - {name}


def test_no_module_is_longer_than_one_sitting():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle():
    known = modules()
    assert find_cycles({name: imported(name, path, known) for name, path in known.items()}) == []


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check itself: two modules importing each other at module level form a cycle it reports."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from audiodiff import b\n")
    b.write_text("import audiodiff.a\n")
    known = {"audiodiff.a": a, "audiodiff.b": b}
    assert imported("audiodiff.a", a, known) == {"audiodiff.b"}
    assert imported("audiodiff.b", b, known) == {"audiodiff.a"}
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert find_cycles(graph) == [["audiodiff.a", "audiodiff.b", "audiodiff.a"]]


def test_no_two_package_files_share_a_name():
    """One name, one module: `classifier.py` in three packages made every traceback and search ambiguous."""
    seen: dict[str, list[str]] = {}
    for name, path in modules().items():
        if path.name != "__init__.py" and path.name != "__main__.py":
            seen.setdefault(path.name, []).append(name)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


def test_moved_modules_answer_at_their_old_paths_with_a_warning():
    """`import audiodiff.metrics` (moved to audiodiff.eval.metrics) gives the moved module itself and says where it
    went; every old path names a module that exists, and no file is left at an old path."""
    import importlib
    import sys
    import warnings

    from audiodiff.moved import MOVED

    for old, new in MOVED.items():
        assert new in modules() and old not in modules()
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
        assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
