"""The supervised denoiser: noise mixed on the fly (data/mixing.py), a U-Net that hears the noisy input
(cond_wave), its recipe checks.  A tiny run trained and used through `load(run).denoise` and the CLI is checked in
tests/e2e/test_denoiser_e2e.py."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiodiff.data import DatasetError
from audiodiff.data.mixing import (INPUT_RMS, NoiseMixer, change_speed, level_normalise, load_noise,
                                   random_shaping, rms)
from audiodiff.nets.unet1d import UNet1D
from audiodiff.recipe import RecipeError, recipe_from_dict
from helpers.denoiser import TINY_COND_UNET, denoiser_recipe, noise_folder
from helpers.recipes import SAMPLE_RATE, tiny_recipe_dict


# ----------------------------------------------------------------- mixing
def test_mixer_hits_the_drawn_snr_and_the_input_level():
    g = torch.Generator().manual_seed(0)
    noise = [torch.randn(5000) * 0.2, torch.randn(300)]          # the second is shorter than a clip: looped
    mixer = NoiseMixer(noise, snr_min=5.0, snr_max=5.0)
    clean = torch.sin(torch.linspace(0, 400, 1000)).repeat(8, 1, 1) * torch.linspace(0.1, 0.8, 8)[:, None, None]
    scaled, noisy = mixer(clean, g)
    assert torch.allclose(rms(noisy), torch.full((8, 1, 1), INPUT_RMS), rtol=1e-4)
    snr = 20 * torch.log10(rms(scaled) / rms(noisy - scaled))
    assert torch.allclose(snr, torch.full_like(snr, 5.0), atol=1e-3)
    again = mixer(clean, torch.Generator().manual_seed(0))       # a pure function of the generator
    assert torch.equal(again[1], noisy)


def test_mixer_white_share_and_pause_crops():
    mixer = NoiseMixer([torch.sin(torch.arange(4000.0))], snr_min=0, snr_max=10, white_share=1.0)
    clean = torch.zeros(2, 1, 512)                                 # a pause: noise at QUIET_SPEECH_RMS, not ∞
    scaled, noisy = mixer(clean, torch.Generator().manual_seed(1))
    assert torch.isfinite(noisy).all() and torch.equal(scaled, clean)
    spectrum = torch.fft.rfft(noisy[0, 0]).abs()
    assert spectrum.max() < 10 * spectrum.median()                 # white, not the sine clip
    with pytest.raises(ValueError, match="snr_min <= snr_max"):
        NoiseMixer([torch.randn(10)], 10, 0)


def _peak_hz(wave, rate=SAMPLE_RATE):
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[-1])).abs()
    return float(spectrum.argmax()) * rate / wave.shape[-1]


def test_speed_change_moves_the_pitch_and_keeps_the_length():
    t = torch.arange(4000) / SAMPLE_RATE
    tone = 0.5 * torch.sin(2 * np.pi * 400 * t)[None, None]
    faster, slower = change_speed(tone, 1.1), change_speed(tone, 0.9)
    assert faster.shape == slower.shape == tone.shape and change_speed(tone, 1.0) is tone
    assert abs(_peak_hz(faster[0, 0, :3000]) - 440) < 5 and abs(_peak_hz(slower[0, 0]) - 360) < 5
    assert float(faster[0, 0, -300:].abs().max()) == 0.0          # 1.1× faster runs out: zero-padded


def test_mixer_speeds_perturb_the_target_and_the_mix_alike():
    t = torch.arange(4000) / SAMPLE_RATE
    clean = (0.3 * torch.sin(2 * np.pi * 400 * t)).repeat(16, 1, 1)
    mixer = NoiseMixer([torch.randn(8000)], snr_min=30.0, snr_max=30.0, speeds=[0.8, 1.25])
    scaled, noisy = mixer(clean, torch.Generator().manual_seed(0))
    peaks = sorted({round(_peak_hz(x[0, :3000])) for x in scaled})
    assert len(peaks) == 2 and abs(peaks[0] - 320) < 8 and abs(peaks[1] - 500) < 8   # both speeds drawn
    assert all(abs(_peak_hz(n[0, :3000]) - _peak_hz(c[0, :3000])) < 8 for n, c in zip(noisy, scaled))
    plain = NoiseMixer([torch.randn(8000)], snr_min=30.0, snr_max=30.0)(clean, torch.Generator().manual_seed(0))[0]
    assert {round(_peak_hz(x[0, :3000])) for x in plain} == {400}


def _gain_db(x, y, bin_):
    """The gain [B] from x to y [B, 1, L] at one rfft bin."""
    return 20 * torch.log10(torch.fft.rfft(y[:, 0]).abs()[:, bin_] / torch.fft.rfft(x[:, 0]).abs()[:, bin_])


def test_random_shaping_filters_each_clip_with_its_own_stable_biquad():
    x = torch.randn(64, 1, 8000, generator=torch.Generator().manual_seed(1))
    y = random_shaping(x, 0.375, torch.Generator().manual_seed(2))
    assert torch.isfinite(y).all() and float(y[:, :, -1000:].abs().max()) < 20 * float(x.abs().max())   # stable
    tilt = _gain_db(x, y, 3900) - _gain_db(x, y, 100)       # near Nyquist against the low end, per clip
    assert float(tilt.max()) > 3 and float(tilt.min()) < -3      # both ways: a new envelope per clip
    # the response of H(z) = (1 + r1/z + r2/z²) / (1 + r3/z + r4/z²) with every |r| ≤ 3/8 lies within ±12 dB
    assert float(_gain_db(x, y, torch.arange(50, 4000, 50)).abs().max()) < 12.5
    assert random_shaping(x, 0.0, torch.Generator()) is x
    with pytest.raises(ValueError, match="shaping"):
        NoiseMixer([torch.randn(100)], 0, 10, shaping=0.6)


def test_mixer_shapes_the_target_and_its_speech_in_the_mix_alike():
    """The clean target is the filtered speech, and the mix is that same speech plus noise: at 40 dB SNR the
    mix's spectrum follows the target's filtered envelope, not the recording's."""
    t = torch.arange(8000) / SAMPLE_RATE
    clean = (0.1 * (torch.sin(2 * np.pi * 300 * t) + torch.sin(2 * np.pi * 3000 * t))).repeat(16, 1, 1)
    scaled, noisy = NoiseMixer([torch.randn(8000)], 40.0, 40.0, shaping=0.375)(
        clean, torch.Generator().manual_seed(0))
    at = lambda w, hz: torch.fft.rfft(w[:, 0]).abs()[:, hz * 8000 // SAMPLE_RATE]   # noqa: E731
    ratio = 20 * torch.log10(at(scaled, 3000) / at(scaled, 300))
    assert float(ratio.max() - ratio.min()) > 6                  # the two tones' balance differs clip to clip
    assert torch.allclose(20 * torch.log10(at(noisy, 3000) / at(noisy, 300)), ratio, atol=0.5)
    snr = 20 * torch.log10(rms(scaled) / rms(noisy - scaled))
    assert torch.allclose(snr, torch.full_like(snr, 40.0), atol=1e-3)   # the SNR is drawn after shaping


def test_level_normalise_round_trip():
    x = torch.randn(3, 1, 100) * torch.tensor([1e-3, 0.1, 0.9])[:, None, None]
    y, g = level_normalise(x)
    assert torch.allclose(rms(y), torch.full((3, 1, 1), INPUT_RMS)) and torch.allclose(y / g, x)


def test_conditioned_unet_hears_its_condition():
    net = UNet1D(cond_channels=1, **{k: v for k, v in TINY_COND_UNET.items() if k != "type"})
    torch.nn.init.normal_(net.out[-1].weight)                      # the zero-initialised head would hide it
    x, t = torch.randn(2, 1, 100), torch.tensor([3.0, 7.0])
    a, b = net(x, t, cond_wave=torch.zeros(2, 1, 100)), net(x, t, cond_wave=torch.randn(2, 1, 100))
    assert a.shape == x.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="cond_wave"):
        net(x, t)


# ----------------------------------------------------------------- recipe and data checks
@pytest.mark.parametrize("change, words", [
    (dict(noise_root=""), "noise_root"),
    (dict(snr_min=10.0, snr_max=0.0), "snr_min"),
    (dict(snr_min=float("nan")), "snr_min"),
    (dict(speeds=[0.9, 3.0]), "speeds"),
    (dict(shaping=0.5), "shaping"),
])
def test_baddenoiser_recipes(wav_folder, tmp_path, change, words):
    raw = denoiser_recipe(wav_folder, tmp_path / "noise")
    raw["data"].update(change)
    with pytest.raises(RecipeError, match=words):
        recipe_from_dict(raw)


def test_denoiser_needs_the_conditioned_unet_and_noise_needs_the_denoiser(wav_folder, tmp_path):
    raw = denoiser_recipe(wav_folder, tmp_path / "noise")
    raw["model"] = {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2}
    with pytest.raises(RecipeError, match="unet1d"):
        recipe_from_dict(raw)
    plain = tiny_recipe_dict(wav_folder)
    plain["data"]["noise_root"] = str(tmp_path)
    with pytest.raises(RecipeError, match="denoiser"):
        recipe_from_dict(plain)
    plain = tiny_recipe_dict(wav_folder)
    plain["data"]["shaping"] = 0.3
    with pytest.raises(RecipeError, match="shaping are for domain"):
        recipe_from_dict(plain)


def testnoise_folder_with_a_silent_file_is_refused_naming_it(wav_folder, tmp_path):
    noise = noise_folder(tmp_path / "noise")
    sf.write(str(noise / "quiet.wav"), np.zeros(800, np.float32), SAMPLE_RATE)
    recipe = recipe_from_dict(denoiser_recipe(wav_folder, noise))
    with pytest.raises(DatasetError, match="quiet.wav.*silent"):
        load_noise(recipe.data, show_progress=False)
    (noise / "quiet.wav").unlink()
    (noise / "broken.wav").write_bytes(b"RIFF but not audio")     # unreadable: skipped and named, as clean data
    assert len(load_noise(recipe.data, show_progress=False)) == 3
