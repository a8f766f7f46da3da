"""The supervised denoiser end to end: a tiny run trained on tones mixed with noise files, then used through
`load(run).denoise` (any length and rate, level-normalised, deterministic per seed) and `audiodiff denoise`, and
refused by `sample`.  (Mixing, the conditioned U-Net and the recipe checks are in tests/data/test_denoiser.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff.pipeline import DenoiserPipeline, WrongDomainError
from audiodiff.recipe import recipe_from_dict
from helpers.denoiser import denoiser_recipe, noise_folder


@pytest.fixture(scope="module")
def denoiser_run(tmp_path_factory):
    from helpers.audio import write_tone_wavs

    root = tmp_path_factory.mktemp("denoiser")
    write_tone_wavs(root / "audio")
    recipe = recipe_from_dict(denoiser_recipe(root / "audio", noise_folder(root / "noise")))
    audiodiff.train(recipe, root / "run", device="cpu", show_progress=False)
    return root / "run"


def test_denoiser_run_denoises_any_length_and_rate(denoiser_run):
    pipe = audiodiff.load(denoiser_run, device="cpu", precision="fp32")
    assert isinstance(pipe, DenoiserPipeline)
    noisy = np.random.default_rng(0).standard_normal(3000).astype(np.float32) * 0.1
    out = pipe.denoise(noisy, seed=0)
    assert isinstance(out, np.ndarray) and out.shape == noisy.shape and np.isfinite(out).all()
    assert np.array_equal(out, pipe.denoise(noisy, seed=0))
    loud = pipe.denoise(noisy * 5, seed=0)          # level-normalised: the gain comes back out
    assert np.allclose(loud, np.clip(out * 5, -1, 1), atol=1e-4)
    wide = pipe.denoise(torch.from_numpy(noisy[:900]).repeat(2, 1), sample_rate=48000, seed=0)
    assert wide.shape == (2, 900)
    with pytest.raises(ValueError, match="sigma"):
        pipe.denoise(noisy, sigma=0.1)


def test_denoiser_run_refuses_sample_and_cli_uses_it(denoiser_run, tmp_path, capsys):
    from helpers.child_cli import run_main

    pipe = audiodiff.load(denoiser_run, device="cpu")
    with pytest.raises(WrongDomainError, match="pipe.denoise"):
        pipe.sample(n=1)
    noisy = tmp_path / "noisy.wav"
    sf.write(str(noisy), (np.random.default_rng(1).standard_normal(2000) * 0.1).astype(np.float32), 16000)
    out = tmp_path / "clean.wav"
    assert run_main(["denoise", str(noisy), "--model", str(denoiser_run), "--out", str(out), "--no-progress"]) == 0
    data, rate = sf.read(str(out))
    assert rate == 16000 and data.shape == (2000,)
    assert run_main(["sample", "--model", str(denoiser_run), "--n", "1", "--out", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "denoise" in err
