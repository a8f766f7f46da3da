"""audiodiff/noise_spectrum.py: a recording's noise spectrum from its quietest frames, and the whitening filter,
checked on signals whose spectra are known."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.noise_spectrum import (GAIN_LIMIT_DB, NoiseSpectrum, filter_bins, frame_size, noise_spectrum,
                                      quiet_frame_psd, stft)

RATE = 16000


def _band_db(wave: torch.Tensor, bands: int = 8) -> torch.Tensor:
    """Mean power in `bands` equal-width bands, dB [bands] (the bin at Nyquist left out)."""
    n_fft, hop = frame_size(RATE)
    power = stft(wave, n_fft, hop).abs().pow(2).mean(1)[1:-1]
    return 10 * torch.log10(torch.stack([b.mean() for b in power.chunk(bands)]))


def _brown(length: int, seed: int = 0) -> torch.Tensor:
    """Noise falling by about 6 dB an octave (integrated white noise, leaky so it stays centred)."""
    white = torch.randn(length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out, acc = torch.empty_like(white), 0.0
    for i, w in enumerate(white.tolist()):
        acc = 0.995 * acc + w
        out[i] = acc
    return out / out.std()


def test_frames_are_32_ms_rounded_up_to_a_power_of_two():
    assert frame_size(16000) == (512, 128) and frame_size(8000) == (256, 64) and frame_size(22050) == (1024, 256)


def test_white_noise_gives_its_sigma_and_a_flat_filter():
    sigma = 0.05
    noise = sigma * torch.randn(3 * RATE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    spectrum = noise_spectrum(noise, RATE, share=1.0)     # every frame: the plain mean power
    assert spectrum.white_sigma == pytest.approx(sigma, rel=0.03)
    gains_db = 20 * torch.log10(spectrum.whitening_gains()[5:-5])
    assert gains_db.abs().max() < 1.5                     # a mean of ~370 frames per bin: within ±1.5 dB


def test_quiet_frames_find_the_noise_under_loud_bursts():
    """Tone bursts 30 dB above a noise floor, with pauses: the quietest tenth of the frames holds the noise alone."""
    gen = torch.Generator().manual_seed(2)
    n = 4 * RATE
    t = torch.arange(n, dtype=torch.float64) / RATE
    gate = ((t % 0.5) < 0.3).double()                      # 300 ms on, 200 ms off
    sigma = 0.01
    wave = gate * 0.3 * torch.sin(2 * math.pi * 440 * t) + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
    assert noise_spectrum(wave, RATE).white_sigma == pytest.approx(sigma, rel=0.15)
    everything = noise_spectrum(wave, RATE, share=1.0).white_sigma
    assert everything > 5 * sigma                          # the control: every frame's mean is the bursts'


def test_quiet_frame_psd_takes_the_least_energy_frames():
    power = torch.tensor([[1.0, 9.0, 2.0, 8.0], [3.0, 9.0, 4.0, 8.0]])
    assert torch.equal(quiet_frame_psd(power, share=0.5), torch.tensor([1.5, 3.5]))
    assert torch.equal(quiet_frame_psd(power, share=0.01), torch.tensor([1.0, 3.0]))   # at least one frame


def test_whitening_flattens_coloured_noise_and_keeps_its_power():
    noise = 0.1 * _brown(3 * RATE)
    spectrum = noise_spectrum(noise, RATE, share=1.0)
    whitened = filter_bins(noise, spectrum.whitening_gains(limit_db=60), spectrum.n_fft, spectrum.hop)
    before, after = _band_db(noise), _band_db(whitened)
    assert float(before.max() - before.min()) > 15         # the control: brown noise falls steeply
    assert float(after.max() - after.min()) < 2.0
    assert float(whitened.std()) == pytest.approx(spectrum.white_sigma, rel=0.1)


def test_filter_bins_is_undone_by_the_inverse_gains():
    wave = torch.randn(5000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    n_fft, hop = frame_size(RATE)
    gains = torch.linspace(0.2, 3.0, n_fft // 2 + 1, dtype=torch.float64)
    assert torch.allclose(filter_bins(wave, torch.ones_like(gains), n_fft, hop), wave, atol=1e-9)
    back = filter_bins(filter_bins(wave, gains, n_fft, hop), 1 / gains, n_fft, hop)
    assert float((back - wave).pow(2).mean() / wave.pow(2).mean()) < 1e-3   # smooth gains: near-exact
    assert filter_bins(wave.float(), gains, n_fft, hop).dtype == torch.float32


def test_whitening_gains_stay_within_the_limit():
    psd = torch.tensor([1e-12] + [1.0] * 998 + [1e7], dtype=torch.float64)   # mean 1e4
    gains = NoiseSpectrum(psd, 6, 2).whitening_gains()
    bound = 10 ** (GAIN_LIMIT_DB / 20)
    assert float(gains.max()) == pytest.approx(bound) and float(gains.min()) == pytest.approx(1 / bound)
    assert float(gains[1]) == pytest.approx(bound)          # √(1e4 / 1) = 100, held at the bound too


@pytest.mark.parametrize("length", [1, 100, 257])
def test_inputs_shorter_than_a_frame_are_estimated_and_filtered(length):
    wave = 0.1 * torch.randn(length, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    spectrum = noise_spectrum(wave, RATE)
    assert spectrum.psd.shape == (frame_size(RATE)[0] // 2 + 1,) and torch.isfinite(spectrum.psd).all()
    same = filter_bins(wave, torch.ones_like(spectrum.psd), spectrum.n_fft, spectrum.hop)
    assert same.shape == wave.shape and torch.allclose(same, wave, atol=1e-9)
