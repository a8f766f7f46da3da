"""No import cycle between audiodiff.diffusion and audiodiff.sampling: the sampling package imports nothing from
diffusion (the loop needs only a Denoiser's schedule and predict), and no function-local import hides one."""

import ast
from pathlib import Path

from helpers.recipes import REPO


PKG = REPO / "audiodiff"
FILES = [PKG / "diffusion.py", PKG / "tasks.py", *sorted((PKG / "sampling").glob("*.py"))]


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, node: ast.AST) -> list[str]:
    """audiodiff modules an import statement names (relative imports resolved against `path`)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("audiodiff")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        base = node.module or ""
    else:
        package = module_name(path).split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    if not base.startswith("audiodiff"):
        return []
    return [base] + [f"{base}.{a.name}" for a in node.names]


def test_no_function_local_imports_of_audiodiff_modules():
    for path in FILES:
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    assert not imported(path, node), f"{path.name}:{node.lineno} imports inside {fn.name}()"


def test_the_sampling_package_does_not_import_diffusion():
    for path in sorted((PKG / "sampling").glob("*.py")):
        names = [n for node in ast.walk(ast.parse(path.read_text())) for n in imported(path, node)]
        if path.name == "loop.py":                               # the resolver sees relative imports at all
            assert "audiodiff.sampling.registry" in names and "audiodiff.schedule" in names
        assert not any(n == "audiodiff.diffusion" or n.startswith("audiodiff.diffusion.") for n in names), path
