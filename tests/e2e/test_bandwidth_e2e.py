"""A tiny bandwidth-extension run trained on generated harmonic tones (8 kHz clips made 4 kHz narrow on the fly)
and used as a user would: `load(run).upsample`, the `upsample` command, and their one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff.audio import resample
from audiodiff.eval.spectra import lsd
from audiodiff.pipeline import BandwidthPipeline, WrongDomainError
from audiodiff.pipeline.bandwidth import HIGH_BAND_GAIN
from audiodiff.recipe import recipe_from_dict
from helpers.audio import harmonic_buzz
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import tiny_recipe_dict, write_clips

RATE, NARROW = 8000, 4000
TINY_FOLDER = {"type": "spectral_mask", "n_fft": 64, "hop_length": 16, "channels": 16, "hidden": 32, "layers": 2,
               "stacks": 1}


def _harmonic(f0: float, n: int, seed: int) -> np.ndarray:
    """A buzz on f0 with 1/h harmonics up to 3.8 kHz and a slow tremolo."""
    return harmonic_buzz(f0, n, seed, RATE, 3800.0)


@pytest.fixture(scope="module")
def bandwidth_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bandwidth")
    write_clips(root / "audio", (_harmonic(f0, 3000, i) for i, f0 in enumerate((180.0, 220.0, 260.0, 310.0))), RATE)
    raw = tiny_recipe_dict(root / "audio", model=TINY_FOLDER, max_steps=80, learning_rate=1e-2, batch_size=4,
                           checkpoint_every=1000)
    raw["data"].update(domain="bandwidth", narrow_rate=NARROW, clip_length=1024, highpass_max=0.0)
    audiodiff.train(recipe_from_dict(raw), root / "run", device="cpu", show_progress=False)
    return root / "run"


def test_the_run_adds_the_missing_band_in_one_call(bandwidth_run):
    pipe = audiodiff.load(bandwidth_run, device="cpu", precision="fp32")
    assert isinstance(pipe, BandwidthPipeline) and pipe.narrow_rate == NARROW
    wide = _harmonic(240.0, 4000, 7)                                    # a pitch it never heard
    narrow = resample(torch.from_numpy(wide), RATE, NARROW).numpy()
    full = pipe.upsample(narrow, NARROW, high_band_gain=1.0)            # the band as the network estimates it
    assert isinstance(full, np.ndarray) and full.shape == wide.shape
    assert np.array_equal(full, pipe.upsample(narrow, NARROW, high_band_gain=1.0))   # one deterministic call
    sinc = resample(torch.from_numpy(narrow), NARROW, RATE).numpy()
    high = (2100, 4000)
    assert lsd(wide, full, RATE, band=high) < 0.8 * lsd(wide, sinc, RATE, band=high)
    kept = pipe.upsample(narrow, NARROW, high_band_gain=0.0)            # no added band: the input's own band
    assert lsd(sinc, kept, RATE, band=(100, 1800)) < 1.0
    default = pipe.upsample(narrow, NARROW)                             # the added band at HIGH_BAND_GAIN
    assert np.allclose(default - kept, HIGH_BAND_GAIN * (full - kept), atol=1e-5)
    loud = pipe.upsample(narrow * 1.5, NARROW)                          # level-normalised: the gain comes back
    assert np.allclose(loud, np.clip(default * 1.5, -1, 1), atol=1e-4)
    with pytest.raises(ValueError, match="high_band_gain"):
        pipe.upsample(narrow, NARROW, high_band_gain=-1.0)


def test_upsample_refuses_what_the_run_was_not_trained_for(bandwidth_run):
    pipe = audiodiff.load(bandwidth_run, device="cpu", precision="fp32")
    narrow = np.zeros(2000, dtype=np.float32)
    with pytest.raises(ValueError, match="extends 4000 Hz recordings.*resample the input to 4000 Hz"):
        pipe.upsample(narrow, 3000)
    with pytest.raises(ValueError, match="one network call.*steps"):
        pipe.upsample(narrow, NARROW, steps=4)
    with pytest.raises(WrongDomainError, match="upsample"):
        pipe.denoise(narrow)


def test_a_config_with_an_impossible_narrow_rate_is_refused(bandwidth_run, tmp_path):
    pipe = audiodiff.load(bandwidth_run, device="cpu")
    copy = pipe.save_pretrained(tmp_path / "copy")
    config = json.loads((copy / "config.json").read_text())
    config["narrow_rate"] = 96000
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json.*narrow_rate"):
        audiodiff.load(copy, device="cpu").upsample(np.zeros(100, dtype=np.float32), 4000)


def test_the_upsample_command_uses_the_run(bandwidth_run, tmp_path):
    narrow = resample(torch.from_numpy(_harmonic(200.0, 4000, 3)), RATE, NARROW).numpy()
    sf.write(str(tmp_path / "phone.wav"), narrow, NARROW, subtype="PCM_16")
    proc = run_cli("upsample", str(tmp_path / "phone.wav"), "--model", str(bandwidth_run), "--out",
                   str(tmp_path / "wide.wav"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    wide, rate = sf.read(str(tmp_path / "wide.wav"))
    assert rate == RATE and wide.shape == (4000,) and np.abs(wide).max() > 0.1
    sf.write(str(tmp_path / "odd.wav"), np.zeros(3000, dtype=np.float32), 3000, subtype="PCM_16")
    assert_one_line_error(run_cli("upsample", str(tmp_path / "odd.wav"), "--model", str(bandwidth_run), "--out",
                                  str(tmp_path / "odd-out.wav"), "--no-progress"), "4000 Hz")
    assert not (tmp_path / "odd-out.wav").exists()
