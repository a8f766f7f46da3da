"""The built-in recipes: the repository's recipes/ folder, shipped inside the wheel as audiodiff/recipes/.

pyproject.toml maps recipes/ onto the package `audiodiff.recipes` for the build, so a wheel carries each recipe's
*.toml and README.md and the repository keeps the one copy. An installed wheel finds them beside this module; a
checkout or an editable install finds the repository's folder one level up.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .recipe import RecipeError

_HERE = Path(__file__).resolve().parent


def builtin_root() -> Path | None:
    """The folder holding the built-in recipes (one sub-folder each), or None if this install has none."""
    for root in (_HERE / "recipes", _HERE.parent / "recipes"):
        if any(root.glob("*/recipe.toml")):
            return root
    return None


@dataclass(frozen=True)
class BuiltinRecipe:
    name: str
    path: Path          # the recipe's folder
    description: str    # the README's title after the dash, e.g. "offline, CPU-sized"


def _description(folder: Path) -> str:
    readme = folder / "README.md"
    title = readme.read_text(encoding="utf-8").splitlines()[0] if readme.is_file() else ""
    title = title.lstrip("#").strip()
    return title.split(" — ", 1)[1] if " — " in title else title


def builtin_recipes() -> list[BuiltinRecipe]:
    """Every built-in recipe, sorted by name."""
    root = builtin_root()
    if root is None:
        return []
    return [BuiltinRecipe(p.parent.name, p.parent, _description(p.parent)) for p in sorted(root.glob("*/recipe.toml"))]


def _unknown(spec: str) -> RecipeError:
    names = ", ".join(r.name for r in builtin_recipes()) or "none in this install"
    return RecipeError(f"no recipe at {spec}: give a directory holding recipe.toml, a .toml file, or a built-in "
                       f"name ({names}; audiodiff recipes lists them)")


def resolve_recipe(spec: str | Path) -> Path:
    """A recipe argument → its path: an existing directory or file as given, else a built-in name such as
    'quickstart' or 'sc09-mel/vocoder.toml'."""
    path = Path(spec)
    if path.exists():
        return path
    root = builtin_root()
    if root is not None and not path.is_absolute() and ".." not in path.parts:
        builtin = root / path
        if builtin.is_file() or (builtin / "recipe.toml").is_file():
            return builtin
    raise _unknown(str(spec))


def copy_recipe(name: str, dest: Path) -> Path:
    """Copy built-in recipe `name` to dest (created; must not exist yet) so it can be edited; returns dest."""
    found = {r.name: r for r in builtin_recipes()}
    if name not in found:
        raise _unknown(name)
    if dest.exists():
        raise RecipeError(f"{dest} already exists: choose a new directory to copy the {name} recipe into")
    shutil.copytree(found[name].path, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
