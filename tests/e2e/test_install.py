"""The install checks: a broken torch/torchaudio pair gives one line in every command, `audiodiff env`, and the
built-in recipes (listing, copying, training by name)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from audiodiff.catalog import builtin_recipes, copy_recipe, resolve_recipe
from audiodiff.recipe import RecipeError, load_recipe
from helpers.cli import run_cli
from helpers.recipes import REPO


# What pip's pick of torch 2.11.0 + torchaudio 2.11.1 printed on import (issue 8).
BROKEN = "libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace"


def cli(*args: str, extra_path: Path | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python cli.py ARGS` in a fresh interpreter (what an install check needs: the imports happen there)."""
    env = {**os.environ, "AUDIODIFF_DEBUG": ""}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def broken_torchaudio(tmp_path: Path) -> Path:
    """A torchaudio package that fails to load the way a mismatched wheel does, shadowing the real one."""
    pkg = tmp_path / "shadow" / "torchaudio"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"raise OSError({BROKEN!r})\n")
    return pkg.parent


@pytest.mark.parametrize("args", [("train", "recipes/quickstart"), ("sample", "--n", "1"), ("recipes",),
                                  ("denoise", "x.wav", "--out", "y.wav")])
def test_broken_pair_is_one_line_in_every_command(broken_torchaudio: Path, args: tuple[str, ...]):
    proc = cli(*args, extra_path=broken_torchaudio)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: torchaudio ")
    assert f"with torch {metadata.version('torch')}" in line
    assert "undefined symbol" in line and "pip install 'torch" in line and "'torchaudio" in line


def test_env_reports_a_broken_pair_and_exits_nonzero(broken_torchaudio: Path):
    proc = cli("env", extra_path=broken_torchaudio)
    assert proc.returncode == 1
    assert "- torchaudio loads: NO (OSError" in proc.stdout
    assert f"- torch: {metadata.version('torch')}" in proc.stdout
    assert proc.stderr.strip().startswith("error: torchaudio") and len(proc.stderr.strip().splitlines()) == 1


def test_api_use_of_a_broken_pair_raises_install_error(broken_torchaudio: Path):
    code = ("import audiodiff, torch\n"
            "from audiodiff.install import InstallError\n"
            "try:\n    audiodiff.MelFeatures(sample_rate=8000).log_mel(torch.zeros(1024))\n"
            "except InstallError as e:\n    print('InstallError', e)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken_torchaudio), str(REPO)])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("InstallError torchaudio ") and "undefined symbol" in proc.stdout


def test_env_lists_versions_devices_and_bf16():
    proc = run_cli("env")
    assert proc.returncode == 0, proc.stderr
    names = [line.split(":", 1)[0] for line in proc.stdout.splitlines()]
    for name in ("- audiodiff", "- Python", "- OS", "- torch", "- torchaudio", "- soundfile", "- librosa",
                 "- CPU", "- CPU bf16 native", "- torch threads", "- CUDA (torch built with)"):
        assert name in names, proc.stdout
    assert "- torchaudio loads: yes" in proc.stdout


def test_recipes_lists_every_builtin_with_a_description():
    on_disk = sorted(p.parent.name for p in (REPO / "recipes").glob("*/recipe.toml"))
    assert [r.name for r in builtin_recipes()] == on_disk
    proc = run_cli("recipes")
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0]: line.split(None, 1)[1] for line in proc.stdout.splitlines()}
    assert sorted(listed) == on_disk
    assert listed["quickstart"] == "offline, CPU-sized"   # the README title after the dash


def test_builtin_names_resolve_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_recipe("quickstart") == REPO / "recipes" / "quickstart"
    assert load_recipe(resolve_recipe("quickstart")).name == "quickstart"
    assert load_recipe(resolve_recipe("sc09-mel/vocoder.toml")).name == "sc09-vocoder"
    (tmp_path / "quickstart").mkdir()               # a path that exists wins over the built-in name
    assert resolve_recipe("quickstart") == Path("quickstart")
    with pytest.raises(RecipeError, match="built-in name .*quickstart.*audiodiff recipes"):
        resolve_recipe("no-such-recipe")
    with pytest.raises(RecipeError):
        resolve_recipe("../recipes/quickstart")     # names never climb out of the recipes folder


def test_recipes_copy_then_edit_and_refuses_an_existing_directory(tmp_path: Path):
    dest = tmp_path / "mine"
    proc = run_cli("recipes", "copy", "quickstart", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert (dest / "recipe.toml").read_text() == (REPO / "recipes/quickstart/recipe.toml").read_text()
    assert (dest / "README.md").is_file()
    proc = run_cli("recipes", "copy", "quickstart", str(dest))
    assert proc.returncode == 1 and proc.stderr.startswith(f"error: {dest} already exists")
    with pytest.raises(RecipeError, match="no recipe at nope"):
        copy_recipe("nope", tmp_path / "other")


def test_train_names_the_builtins_when_the_recipe_is_unknown(tmp_path: Path):
    proc = run_cli("train", "no-such-recipe", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no recipe at no-such-recipe") and "quickstart" in proc.stderr
