"""audiodiff/device.py: the device choices written once, and sampling / the CLI's sample path resolving a device
without importing the trainer (DistributedDataParallel, TensorBoard)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from audiodiff import recipe
from audiodiff.device import DEVICES, DeviceError, device_choices, resolve_device
from helpers.recipes import REPO

TRAINER_MODULES = ("audiodiff.training.trainer", "audiodiff.training.distributed", "audiodiff.training.state",
                   "audiodiff.training.monitor", "audiodiff.training.run")


def loaded_after(code: str) -> list[str]:
    """The trainer modules in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {TRAINER_MODULES!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("code", [
    "import audiodiff.pipeline",
    "import audiodiff; audiodiff.load",
    "import audiodiff.cli.common as cli; cli.load_pipeline, cli._check_device('cpu')",
    "from audiodiff.device import resolve_device; resolve_device('cpu')",
    "from audiodiff.recipe import TrainConfig; TrainConfig()",
])
def test_sampling_and_recipes_do_not_import_the_trainer(code):
    assert loaded_after(code) == []


def test_the_trainer_loads_on_first_use():
    assert "audiodiff.training.trainer" in loaded_after("import audiodiff; audiodiff.Trainer")
    assert "audiodiff.training.trainer" in loaded_after("from audiodiff.training import train")


def test_device_choices_are_the_recipes_and_the_clis():
    assert recipe.TrainConfig.__dataclass_fields__["device"].metadata["choices"] == DEVICES
    assert device_choices() == "auto, cpu or cuda"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(DeviceError, match="no CUDA GPU is available; use --device cpu or auto"):
        resolve_device("cuda")
