"""The end-to-end tests of tests/core/test_device.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/core/test_device.py's docstring."""

from __future__ import annotations

import subprocess
import sys

from helpers.recipes import REPO


TRAINER_MODULES = ("audiodiff.training.trainer", "audiodiff.training.distributed", "audiodiff.training.state",
                   "audiodiff.training.monitor", "audiodiff.training.run")


def loaded_after(*codes: str) -> list[list[str]]:
    """For each snippet: the trainer modules in sys.modules after running it, the snippets in turn in one fresh
    interpreter (sys.modules only grows, so a snippet that loads none added none to what came before)."""
    lines = [f"{code}\nprint(' '.join(m for m in {TRAINER_MODULES!r} if m in sys.modules))" for code in codes]
    proc = subprocess.run([sys.executable, "-c", "\n".join(["import sys", *lines])], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines()]


SAMPLING_AND_RECIPES = [
    "import audiodiff.pipeline",
    "import audiodiff; audiodiff.load",
    "import audiodiff.cli.common as cli; cli.load_pipeline, cli._check_device('cpu')",
    "from audiodiff.device import resolve_device; resolve_device('cpu')",
    "from audiodiff.recipe import TrainConfig; TrainConfig()",
]


TRAINING = ["import audiodiff; audiodiff.Trainer", "from audiodiff.training import train"]


def test_sampling_and_recipes_do_not_import_the_trainer_but_training_does():
    loaded = loaded_after(*SAMPLING_AND_RECIPES, TRAINING[0])     # each training snippet in its own interpreter
    loaded += [modules for code in TRAINING[1:] for modules in loaded_after(code)]
    assert dict(zip(SAMPLING_AND_RECIPES, loaded)) == {code: [] for code in SAMPLING_AND_RECIPES}
    for code, modules in zip(TRAINING, loaded[len(SAMPLING_AND_RECIPES):]):
        assert "audiodiff.training.trainer" in modules, code
