"""Shared fixtures: tiny generated WAV folders and tiny recipes (a few thousand parameters, short clips), one tiny
trained run for the whole session.  Fixtures only: the helpers they build on, and the ones tests share, are in
tests/helpers/.

The tree mirrors the package (tests/sampling, tests/training, …; tests/core for the top-level modules, tests/bench
for benchmarks/); tests/e2e holds the end-to-end tests (training runs, CLI processes, signals, full disks), which
are marked slow by living there: `pytest -m "not slow"` is the fast loop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

import audiodiff
from audiodiff.recipe import load_recipe
from helpers.audio import write_tone_wavs
from helpers.recipes import tiny_recipe_dict, write_recipe
from helpers.runs import train_tiny_run
from helpers.sound_classes import classifier_recipe, write_sound_classes


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is slow (an end-to-end test, marked by where it lives)."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Every test runs on one intra-op thread: the models are tiny, and 2 CPU cores shared by several
    threads (or pytest processes) spin-wait far slower than one thread alone."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def wav_folder(tmp_path: Path) -> Path:
    """tmp_path/audio holding four short generated tones."""
    folder = tmp_path / "audio"
    write_tone_wavs(folder)
    return folder


@pytest.fixture
def tiny_recipe_dir(tmp_path: Path, wav_folder: Path) -> Path:
    """tmp_path/recipe/recipe.toml: a folder dataset of the generated tones and a ~2.6k-parameter DiffWave."""
    return write_recipe(tmp_path / "recipe", tiny_recipe_dict(wav_folder))


@pytest.fixture
def audiodiff_log(caplog: pytest.LogCaptureFixture):
    """caplog wired straight to the 'audiodiff' logger (which the CLI may set not to propagate), as its only
    handler: a stderr handler an earlier in-process CLI call left there would print the records as well."""
    logger = logging.getLogger("audiodiff")
    old_level, old_propagate, old_handlers = logger.level, logger.propagate, list(logger.handlers)
    logger.handlers.clear()
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False          # each record reaches caplog once
    try:
        yield caplog
    finally:
        logger.handlers[:] = old_handlers
        logger.setLevel(old_level)
        logger.propagate = old_propagate


@pytest.fixture(scope="session")
def sound_classifier(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, trained classifier run) on ten synthetic sound classes (tests/helpers/sound_classes.py), trained
    once per session (120 steps, a few seconds of CPU)."""
    root = tmp_path_factory.mktemp("classes")
    data = write_sound_classes(root / "data")
    run = root / "classifier"
    audiodiff.train(load_recipe(classifier_recipe(data, root / "recipe")), run, device="cpu", show_progress=False)
    return data, run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run of the tiny DiffWave recipe trained 2 steps on four tones, once per session (per test process), for
    the tests that load, sample, export or copy a run.  Read-only: a test that changes a run copies it first."""
    return train_tiny_run(tmp_path_factory.mktemp("tiny-run"), max_steps=2)
