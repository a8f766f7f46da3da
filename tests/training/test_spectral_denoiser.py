"""The predictive denoiser: SpectralMasker (nets/spectral_mask.py), the spectral regression objective and the
objective the one training loop runs (training/objectives.py), a tiny run trained and used through `denoise`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import audiodiff
from audiodiff.nets import SpectralMasker, build_network, network_objective
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.training import Trainer
from audiodiff.training.objectives import DiffusionObjective, Objective, SpectralRegression, objective_for
from helpers.denoiser import noise_folder
from helpers.recipes import SAMPLE_RATE, tiny_recipe_dict

TINY_MASKER = {"type": "spectral_mask", "n_fft": 64, "hop_length": 16, "channels": 16, "hidden": 32, "layers": 2,
               "stacks": 1}


def _masker_recipe(wav_folder, noise_root, **train):
    raw = tiny_recipe_dict(wav_folder, model=TINY_MASKER, **train)
    raw["data"].update(domain="denoiser", noise_root=str(noise_root))
    return raw


def _set_mask(net: SpectralMasker, logit: float) -> SpectralMasker:
    """Make the mask constant: sigmoid(logit) in every bin and frame."""
    with torch.no_grad():
        net.decode.weight.zero_()
        net.decode.bias.fill_(logit)
    return net


@pytest.mark.parametrize("length", [1, 31, 64, 1000, 4099])
def test_masker_passes_the_input_through_at_mask_one_and_silences_it_at_zero(length):
    net = build_network(TINY_MASKER)
    x = torch.randn(2, 1, length)
    through = _set_mask(net, 40.0)(x)
    assert through.shape == x.shape and through.dtype == torch.float32
    assert torch.allclose(through, x, atol=1e-5)          # STFT → mask 1 → inverse STFT: the input back
    assert _set_mask(net, -40.0)(x).abs().max() < 1e-6
    half = _set_mask(net, 0.0)(x)                          # a gain of 1/2 on every bin is a gain of 1/2
    assert torch.allclose(half, 0.5 * x, atol=1e-5)


def test_masker_runs_as_a_bf16_copy():
    net = build_network(TINY_MASKER).to(torch.bfloat16)
    out = net(torch.randn(1, 1, 500))
    assert out.shape == (1, 1, 500) and torch.isfinite(out).all()


def test_masker_refuses_an_even_kernel():
    with pytest.raises(ValueError, match="kernel_size"):
        SpectralMasker(kernel_size=4)


def test_network_objective_is_what_the_class_declares():
    assert network_objective(TINY_MASKER) == "regression"
    assert network_objective({"type": "unet1d"}) == "diffusion"
    assert network_objective({"type": "classifier"}) == "classification"


def test_spectral_loss_measures_magnitude_and_phase():
    loss = SpectralRegression(n_fft=64, hop_length=16)
    clean = torch.randn(3, 1, 800)
    assert torch.allclose(loss.spectral_loss(clean, clean), torch.zeros(3), atol=1e-6)
    noisy = clean + 0.3 * torch.randn_like(clean)
    noisier = clean + 1.0 * torch.randn_like(clean)
    terms = loss.spectral_loss(torch.cat([noisy, noisier]), torch.cat([clean, clean]))
    assert terms.shape == (6,) and (terms[3:] > terms[:3]).all()
    flipped = loss.spectral_loss(-clean, clean)           # same magnitudes, phase off by π: only the complex term
    only_mag = SpectralRegression(n_fft=64, hop_length=16, complex_weight=0.0).spectral_loss(-clean, clean)
    assert (flipped > 0.1).all() and torch.allclose(only_mag, torch.zeros(3), atol=1e-6)


def test_objective_for_picks_by_network():
    from audiodiff.diffusion import DiffusionConfig

    diffusion = DiffusionConfig().build()
    assert isinstance(objective_for(TINY_MASKER, diffusion), SpectralRegression)
    assert isinstance(objective_for({"type": "unet1d"}, diffusion), DiffusionObjective)


def test_regression_network_needs_the_denoiser_domain(wav_folder):
    raw = tiny_recipe_dict(wav_folder, model=TINY_MASKER)
    with pytest.raises(RecipeError, match="denoiser"):
        recipe_from_dict(raw)


def test_a_new_objective_is_one_class_trained_by_the_one_loop(wav_folder, tmp_path):
    """A toy objective (give back the input) trained through the loop's step: its loss falls, and the
    micro-batches get exactly what it drew for the whole batch."""
    seen: list[torch.Tensor] = []

    class GiveBackTheInput(Objective):
        def draw(self, x0, generator):
            return {"t": torch.randint(0, 20, (x0.shape[0],), generator=generator)}

        def loss_terms(self, model, x0, drawn, cond):
            seen.append(drawn["t"])
            return (model(x0, drawn["t"].float()) - x0).pow(2).flatten(1).mean(1)

    recipe = recipe_from_dict(tiny_recipe_dict(wav_folder, max_steps=30, grad_accum=2, batch_size=4,
                                               learning_rate=1e-2, checkpoint_every=100))
    trainer = Trainer(recipe, tmp_path / "run", device="cpu", show_progress=False)
    trainer.objective = GiveBackTheInput()
    losses = []
    x0 = torch.randn(4, 1, 256)
    for _ in range(30):
        losses.append(trainer.train_step(x0))
    trainer._lock.release()
    assert losses[-1] < 0.5 * losses[0]
    assert all(a.shape == (2,) for a in seen)             # grad_accum 2: halves of the batch's draw


# ----------------------------------------------------------------- a tiny run, end to end
@pytest.fixture(scope="module")
def masker_run(tmp_path_factory):
    from helpers.audio import write_tone_wavs

    root = tmp_path_factory.mktemp("masker")
    write_tone_wavs(root / "audio", count=4, length=2000)
    raw = _masker_recipe(root / "audio", noise_folder(root / "noise"), max_steps=60, learning_rate=1e-2,
                         checkpoint_every=1000, batch_size=4)
    raw["data"]["white_share"] = 1.0
    audiodiff.train(recipe_from_dict(raw), root / "run", device="cpu", show_progress=False)
    return root / "run"


def test_masker_run_learns_to_denoise_in_one_call(masker_run):
    pipe = audiodiff.load(masker_run, device="cpu", precision="fp32")
    clean = (0.4 * np.sin(2 * np.pi * 660 * np.arange(2000) / SAMPLE_RATE)).astype(np.float32)
    noisy = clean + np.random.default_rng(5).standard_normal(2000).astype(np.float32) * 0.28   # about 0 dB

    def snr(x):
        return 10 * np.log10((clean ** 2).sum() / ((x - clean) ** 2).sum())

    out = pipe.denoise(noisy)
    assert out.shape == noisy.shape and np.array_equal(out, pipe.denoise(noisy))
    assert snr(out) > snr(noisy) + 2.0
    loud = pipe.denoise(noisy * 2)                         # level-normalised: the gain comes back out
    assert np.allclose(loud, np.clip(out * 2, -1, 1), atol=1e-4)
    with pytest.raises(ValueError, match="one network call.*steps"):
        pipe.denoise(noisy, steps=4)


def test_masker_run_cannot_be_distilled(masker_run, tmp_path):
    from audiodiff.training.errors import TrainingError

    with pytest.raises(TrainingError, match="one-call"):
        audiodiff.distill(masker_run, out=tmp_path / "student", device="cpu", show_progress=False)
