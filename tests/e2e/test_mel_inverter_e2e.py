"""A tiny magnitude vocoder (nets/mel_inverter.py) trained by `audiodiff.train` on generated harmonic buzzes and
used as a user would: resynthesize / vocode beat Griffin-Lim from the mel's least-squares spectrum on the
linear-frequency magnitude, in one call; sampler options, distillation and a non-vocoder domain are refused."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff.features import magnitude_spectrogram
from audiodiff.options import RecipeError
from audiodiff.recipe import recipe_from_dict
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import tiny_recipe_dict, write_clips

RATE, N_FFT, HOP, N_MELS, CLIP = 8000, 256, 64, 12, 2048
TINY_INVERTER = {"type": "mel_inverter", "channels": 64, "hidden": 128, "layers": 3, "stacks": 1}


def _buzz(f0: float, n: int, seed: int) -> np.ndarray:
    """A harmonic buzz on f0 (1/h harmonics up to 3.8 kHz), its pitch gliding 10 %, with a slow tremolo."""
    t = np.arange(n) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * t / t[-1])) / RATE
    wave = sum(np.sin(h * phase + seed * h) / h for h in range(1, int(3800 / (1.1 * f0)) + 1))
    wave *= 1 + 0.3 * np.sin(2 * np.pi * 3 * t)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def _recipe(root, **model) -> dict:
    raw = tiny_recipe_dict(root, model={**TINY_INVERTER, **model}, max_steps=600, learning_rate=3e-3, batch_size=4, log_every=100,
                           checkpoint_every=1000)
    raw["data"].update(domain="vocoder", sample_rate=RATE, clip_length=CLIP)
    raw["features"] = {"n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS}
    return raw


@pytest.fixture(scope="module")
def inverter_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inverter")
    write_clips(root / "audio", (_buzz(f0, 6000, i) for i, f0 in enumerate((110.0, 150.0, 190.0, 240.0))), RATE)
    torch.manual_seed(0)
    audiodiff.train(recipe_from_dict(_recipe(root / "audio")), root / "run", device="cpu", show_progress=False)
    return root


def _log_spectral_error(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean |20 log10| ratio of the two linear-frequency magnitudes (dB), on the frames and bins with energy."""
    a, b = (magnitude_spectrogram(torch.from_numpy(w)[None], N_FFT, HOP, N_FFT)[0] for w in (reference, estimate))
    keep = a > a.max() * 1e-3
    return float((20 * (a.clamp_min(1e-6) / b.clamp_min(1e-6)).log10()).abs()[keep].mean())


def test_the_run_resynthesises_a_buzz_closer_than_griffin_lim_from_the_mel(inverter_run):
    pipe = audiodiff.load(inverter_run / "run", device="cpu")
    assert pipe.predictive and pipe.config["model"]["n_fft"] == N_FFT and pipe.config["model"]["n_mels"] == N_MELS
    heard = _buzz(150.0, 6000, 1)[:5 * 1024]
    out = pipe.resynthesize(heard)
    mel = pipe.features.encode(torch.from_numpy(heard))
    griffin_lim = pipe.features.decode_griffin_lim(mel).numpy()
    assert out.shape == heard.shape and np.isfinite(out).all()
    ours, theirs = _log_spectral_error(heard, out), _log_spectral_error(heard, griffin_lim)
    print(f"\nlog-spectral error: magnitude network {ours:.2f} dB, Griffin-Lim from the mel {theirs:.2f} dB")
    assert ours < 0.8 * theirs


def test_a_long_input_is_vocoded_in_windows_as_well_as_whole(inverter_run):
    pipe = audiodiff.load(inverter_run / "run", device="cpu")
    heard = _buzz(190.0, 6000, 2)[:5952]
    whole = pipe.resynthesize(heard)
    windowed = pipe.resynthesize(heard, window=2048)           # three cross-faded windows
    assert whole.shape == windowed.shape == heard.shape
    mel = pipe.features.encode(torch.from_numpy(heard))
    griffin_lim = _log_spectral_error(heard, pipe.features.decode_griffin_lim(mel).numpy())
    assert _log_spectral_error(heard, whole) < 0.8 * griffin_lim
    assert _log_spectral_error(heard, windowed) < 0.8 * griffin_lim


def test_sampler_options_and_distillation_are_refused(inverter_run, tmp_path):
    pipe = audiodiff.load(inverter_run / "run", device="cpu")
    with pytest.raises(ValueError, match="one network call.*steps"):
        pipe.vocode(pipe.features.encode(torch.zeros(1024)), steps=4)
    wav = tmp_path / "in.wav"
    sf.write(str(wav), _buzz(150.0, 3000, 2), RATE)
    result = run_cli("vocode", str(wav), "--model", str(inverter_run / "run"), "--out", str(tmp_path / "out.wav"),
                     "--steps", "2", "--no-progress")
    assert_one_line_error(result, "steps")
    assert not (tmp_path / "out.wav").exists()
    assert_one_line_error(run_cli("distill", str(inverter_run / "run"), "--out", str(tmp_path / "student")), "one-call")


def test_the_network_follows_the_features_and_needs_a_vocoder_domain(inverter_run):
    raw = _recipe(inverter_run / "audio", n_fft=512)
    with pytest.raises(RecipeError, match="n_fft = 512 contradicts"):
        recipe_from_dict(raw)
    raw = _recipe(inverter_run / "audio")
    raw["data"]["domain"] = "waveform"
    with pytest.raises(RecipeError, match="domain = \"vocoder\""):
        recipe_from_dict(raw)


# ----------------------------------------------------------------- speed perturbation ([data] speeds)
def test_speeds_reach_the_vocoder_batch_with_the_mel_of_the_perturbed_crop(tmp_path):
    """A vocoder batch at [data] speeds = [0.8]: the crop is played 0.8× as fast (a 200 Hz buzz at 160 Hz) and
    its mel is the mel of that crop, so the network learns a consistent (mel → magnitude) pair at a new pitch."""
    from audiodiff.domains import get_domain, prepare_batch
    from audiodiff.features import MelFeatures

    raw = _recipe(write_clips(tmp_path / "audio", [_buzz(200.0, 3000, 0)], RATE))
    raw["data"]["speeds"] = [0.8]
    recipe = recipe_from_dict(raw)
    perturb = get_domain("vocoder").batch_transform(recipe.data)
    assert get_domain("vocoder").batch_transform(recipe_from_dict(_recipe(tmp_path / "audio")).data) is None
    features = MelFeatures(sample_rate=RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    t = np.arange(CLIP) / RATE
    tone = torch.from_numpy(np.sin(2 * np.pi * 1000 * t).astype(np.float32)).repeat(2, 1, 1)
    features.fit_stats(tone[:, 0])
    g = torch.Generator().manual_seed(0)
    x0, cond = prepare_batch("vocoder", features, tone, transform=lambda wave: perturb(wave, g))
    spectrum = np.abs(np.fft.rfft(x0[0, 0, :1500].numpy()))
    assert abs(np.argmax(spectrum) * RATE / 1500 - 800) < 10               # 1 kHz played at 0.8×
    assert torch.allclose(cond["mel"], features.encode(x0).to(x0.dtype))
    plain, _ = prepare_batch("vocoder", features, tone)
    assert torch.equal(plain, tone[..., :plain.shape[-1]])


def test_speeds_are_refused_outside_the_denoiser_and_vocoder_domains(tmp_path):
    raw = tiny_recipe_dict(write_clips(tmp_path / "audio", [_buzz(200.0, 3000, 0)], RATE))
    raw["data"]["speeds"] = [0.9, 1.1]
    with pytest.raises(RecipeError, match="speeds are for domain"):
        recipe_from_dict(raw)
    raw = _recipe(tmp_path / "audio")
    raw["data"]["speeds"] = [0.3]
    with pytest.raises(RecipeError, match="speed factors between 0.5 and 2"):
        recipe_from_dict(raw)

