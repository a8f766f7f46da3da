"""audiodiff/device.py: the device choices written once, and sampling / the CLI's sample path resolving a device
without importing the trainer (DistributedDataParallel, TensorBoard)."""

from __future__ import annotations

import pytest
import torch

from audiodiff import recipe
from audiodiff.device import DEVICES, DeviceError, device_choices, resolve_device


def test_device_choices_are_the_recipes_and_the_clis():
    assert recipe.TrainConfig.__dataclass_fields__["device"].metadata["choices"] == DEVICES
    assert device_choices() == "auto, cpu or cuda"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(DeviceError, match="no CUDA GPU is available; use --device cpu or auto"):
        resolve_device("cuda")
