"""`env` and `recipes`: the install's versions and devices, and the built-in recipes."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import app, fail


@app.command()
def env() -> None:
    """Print versions, devices and bf16 support (paste it into a bug report); exit 1 if torchaudio cannot load."""
    from ..install import InstallError, check_install, environment, format_environment

    typer.echo(format_environment(environment()))
    try:
        check_install()
    except InstallError as exc:
        fail(str(exc))


recipes_app = typer.Typer(help="The built-in recipes: list them, or copy one to edit.", invoke_without_command=True)
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback()
def recipes(ctx: typer.Context) -> None:
    """List the built-in recipes (train one by name: audiodiff train quickstart)."""
    from ..catalog import builtin_recipes

    if ctx.invoked_subcommand is not None:
        return
    found = builtin_recipes()
    if not found:
        fail("this install has no built-in recipes (reinstall audiodiff)")
    width = max(len(r.name) for r in found)
    for r in found:
        typer.echo(f"{r.name:<{width}}  {r.description}")


@recipes_app.command("copy")
def recipes_copy(
    name: str = typer.Argument(..., help="A built-in recipe's name (see audiodiff recipes)."),
    dest: Path = typer.Argument(..., help="New directory to copy it into."),
) -> None:
    """Copy a built-in recipe (recipe.toml, README.md) into a new directory to edit and train."""
    from ..catalog import copy_recipe

    copy_recipe(name, dest)
    typer.echo(f"copied recipe {name} to {dest}; edit {dest / 'recipe.toml'}, then: audiodiff train {dest}")
