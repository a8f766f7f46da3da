"""Bandwidth extension learned from pairs: wide clips made narrow on the fly (data/band.py), the folding
SpectralMasker (nets/spectral_mask.py), its loss, and the recipe checks of [data] domain = "bandwidth"."""

from __future__ import annotations

import pytest
import torch

from audiodiff.data import INPUT_RMS, BandLimiter, narrow_band
from audiodiff.data.mixing import rms
from audiodiff.nets import SpectralMasker
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.training.objectives import SpectralRegression
from helpers.recipes import tiny_recipe_dict

RATE = 16000
TINY_FOLDER = {"type": "spectral_mask", "n_fft": 64, "hop_length": 16, "channels": 16, "hidden": 32, "layers": 2,
               "stacks": 1}


def _band_power(wave: torch.Tensor, lo: float, hi: float, rate: int = RATE) -> float:
    """Power of wave [L] between lo and hi Hz (periodogram)."""
    spectrum = torch.fft.rfft(wave.detach()).abs().pow(2)
    freqs = torch.fft.rfftfreq(wave.shape[-1], 1 / rate)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def _tone(hz: float, n: int = RATE, rate: int = RATE) -> torch.Tensor:
    return torch.sin(2 * torch.pi * hz * torch.arange(n) / rate)


# ----------------------------------------------------------------- pairs
def test_narrow_band_keeps_the_low_band_and_removes_the_high_one():
    wave = torch.randn(RATE, generator=torch.Generator().manual_seed(0)) * 0.1
    narrow = narrow_band(wave, RATE, 8000)
    assert narrow.shape == wave.shape
    assert _band_power(narrow, 4400, 8000) < 3e-3 * _band_power(wave, 4400, 8000)   # sinc's stop band: < −25 dB
    assert _band_power(narrow, 300, 3000) == pytest.approx(_band_power(wave, 300, 3000), rel=0.05)


def test_band_limiter_pairs_at_the_input_level_with_random_high_passes():
    clean = (0.2 * _tone(100) + 0.2 * _tone(1000) + 0.1 * _tone(6000)).repeat(16, 1, 1)
    clean = clean * torch.linspace(0.2, 1.0, 16)[:, None, None]            # any input gain
    wide, narrow = BandLimiter(RATE, 8000, highpass_max=300)(clean, torch.Generator().manual_seed(1))
    assert torch.allclose(rms(narrow), torch.full((16, 1, 1), INPUT_RMS), rtol=1e-4)
    gain = (wide * clean).sum(-1, keepdim=True) / clean.pow(2).sum(-1, keepdim=True)
    assert torch.allclose(wide, clean * gain, rtol=1e-4, atol=1e-7)          # one gain per clip, the narrow one's
    for row in narrow[:, 0]:
        assert _band_power(row, 5500, 6500) < 1e-4 * _band_power(row, 900, 1100)   # the 6 kHz tone is gone
    kept_100 = torch.tensor([_band_power(r, 90, 110) / _band_power(r, 900, 1100) for r in narrow[:, 0]])
    assert kept_100.max() < 1.05 and kept_100.min() < 0.3 and kept_100.max() > 0.5   # cut at drawn cutoffs
    again = BandLimiter(RATE, 8000, highpass_max=300)(clean, torch.Generator().manual_seed(1))[1]
    assert torch.equal(again, narrow)                                        # a pure function of the generator
    untouched = BandLimiter(RATE, 8000, highpass_max=0)(clean, torch.Generator().manual_seed(1))[1]
    ratio = torch.tensor([_band_power(r, 90, 110) / _band_power(r, 900, 1100) for r in untouched[:, 0]])
    assert torch.allclose(ratio, torch.ones(16), rtol=0.02)                  # highpass_max 0: no high-pass


@pytest.mark.parametrize("narrow_rate, highpass_max, words", [(16000, 300, "below the clips' rate"),
                                                               (8000, 4000, "highpass_max")])
def test_band_limiter_refuses_impossible_bands(narrow_rate, highpass_max, words):
    with pytest.raises(ValueError, match=words):
        BandLimiter(RATE, narrow_rate, highpass_max)


# ----------------------------------------------------------------- the folding network
def _set_gains(net: SpectralMasker, own: float, folded: float) -> SpectralMasker:
    """Constant gains: sigmoid(own) on the input's spectrum, sigmoid(folded) on its mirrored copy."""
    bins = net.n_fft // 2 + 1
    with torch.no_grad():
        net.decode.weight.zero_()
        net.decode.bias[:bins] = own
        net.decode.bias[bins:] = folded
    return net


def test_fold_mirrors_the_spectrum_about_a_quarter_of_the_rate():
    net = SpectralMasker(**{k: v for k, v in TINY_FOLDER.items() if k != "type"}, fold=True)
    x = 0.5 * _tone(1000, n=4000)[None, None]
    through = _set_gains(net, 40.0, -40.0)(x)
    assert torch.allclose(through, x, atol=1e-5)                             # own gain 1, fold 0: the input
    mirrored = _set_gains(net, -40.0, 40.0)(x)[0, 0]
    assert _band_power(mirrored, 6900, 7100) > 100 * _band_power(mirrored, 900, 1100)   # 1 kHz → 7 kHz
    assert _band_power(mirrored, 6900, 7100) == pytest.approx(_band_power(x[0, 0], 900, 1100), rel=0.05)


def test_a_folding_network_is_fitted_on_magnitudes():
    """The folded band's phase says nothing of the true one, so the complex term would only pull it down."""
    assert SpectralRegression.for_network({**TINY_FOLDER, "fold": True}).complex_weight == 0.0
    assert SpectralRegression.for_network(TINY_FOLDER).complex_weight == 0.3


# ----------------------------------------------------------------- recipe checks
def _bandwidth_recipe(wav_folder, model=None, **data):
    raw = tiny_recipe_dict(wav_folder, model=model or TINY_FOLDER)        # 8 kHz clips
    raw["data"].update(domain="bandwidth", narrow_rate=4000, **data)
    return raw


def test_a_bandwidth_recipe_folds_by_default(wav_folder):
    recipe = recipe_from_dict(_bandwidth_recipe(wav_folder))
    assert recipe.model["fold"] is True and recipe.data.narrow_rate == 4000


@pytest.mark.parametrize("change, words", [
    ({"data": {"narrow_rate": 8000}}, "narrow_rate = 8000 must be below sample_rate"),
    ({"data": {"narrow_rate": 3000}}, "must be half"),
    ({"data": {"highpass_max": 2500.0}}, "highpass_max"),
    ({"data": {"noise_root": "somewhere"}}, "noise_root"),
    ({"model": {"fold": False}}, "fold = false"),
    ({"model": {"type": "diffwave"}}, "needs a network that hears the narrow-band waveform"),
])
def test_bandwidth_recipe_refusals_name_the_key(wav_folder, change, words):
    raw = _bandwidth_recipe(wav_folder)
    raw["data"].update(change.get("data", {}))
    if "model" in change:
        raw["model"] = {"type": "diffwave"} if change["model"].get("type") else {**raw["model"], **change["model"]}
    with pytest.raises(RecipeError, match=words):
        recipe_from_dict(raw)
