"""audiodiff/eval/spectra.py on known signals: framed log-power spectra (normalisation, floor, frame grid) and the
log-spectral distance (identity, a known level difference, band selection)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiodiff.eval.spectra import FLOOR_DB, band_bins, framed_power_db, lsd

RATE = 16000
FRAME = 512   # bins every 31.25 Hz at 16 kHz


def sine(freq: float, seconds: float = 0.25, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * freq * t + 0.4)


def test_full_scale_sine_at_a_bin_centre_reads_zero_db_and_silence_reads_the_floor():
    power = framed_power_db(sine(1000.0, seconds=1024 / RATE), FRAME, 128)   # 1000 Hz = bin 32
    assert power.shape == (1 + (1024 - FRAME) // 128, FRAME // 2 + 1)
    assert np.allclose(power[:, 32], 0.0, atol=1e-9)
    assert np.all(power[:, 40:] == FLOOR_DB)      # a bin-centred sine leaks into bins 31 and 33 only
    assert np.all(framed_power_db(np.zeros(1024), FRAME, 128) == -100.0)
    assert np.all(framed_power_db(np.zeros(1024), FRAME, 128, floor_db=-60.0) == -60.0)
    assert framed_power_db(np.zeros(100), FRAME, 128).shape == (1, FRAME // 2 + 1)   # shorter than a frame: one
    outside = framed_power_db(sine(1000.0), FRAME, 128, starts=np.array([-FRAME, 10 * RATE]))
    assert np.all(outside == FLOOR_DB)             # frames past the ends read zeros


def test_identical_signals_are_zero_apart_in_every_band():
    x = np.random.default_rng(0).standard_normal(RATE // 2) * 0.1
    for band in (None, (0, 4000), (4000, 8000), (300, 3400)):
        assert lsd(x, x.copy(), RATE, band=band) == 0.0
    assert lsd(torch.from_numpy(x), x, RATE) == 0.0   # tensors too


def test_six_db_quieter_reads_six_db():
    rng = np.random.default_rng(1)
    x = sine(1000.0, amplitude=0.5) + 0.01 * rng.standard_normal(RATE // 4)   # every bin well above the floor
    quieter = x * 10 ** (-6 / 20)
    for band in ((500, 1500), None):
        assert lsd(x, quieter, RATE, band=band) == pytest.approx(6.0, abs=0.01)


def test_band_selection_counts_only_the_bins_inside():
    low, high = sine(1000.0, amplitude=0.5), sine(6000.0, amplitude=0.5)   # bins 32 and 192, both bin-centred
    reference, estimate = low + high, low + high * 10 ** (-6 / 20)
    assert lsd(reference, estimate, RATE, band=(0, 4000)) == pytest.approx(0.0, abs=1e-9)
    # [5000, 7000) holds bins 160 … 223: three carry the 6 kHz sine (6 dB apart), 61 sit at the floor in both
    assert lsd(reference, estimate, RATE, band=(5000, 7000)) == pytest.approx(6.0 * math.sqrt(3 / 64), abs=1e-6)
    assert lsd(reference, estimate, RATE) == pytest.approx(6.0 * math.sqrt(3 / 257), abs=1e-6)


def test_bands_split_the_bins_and_bad_input_is_refused():
    lo, hi = band_bins(RATE, FRAME, (0, 4000)), band_bins(RATE, FRAME, (4000, 8000))
    assert lo.sum() == 128 and hi.sum() == 129 and not (lo & hi).any() and (lo | hi).all()   # Nyquist in the top
    with pytest.raises(ValueError, match="holds no bin"):
        band_bins(RATE, FRAME, (1001, 1010))
    with pytest.raises(ValueError, match="differ in length"):
        lsd(np.zeros(1000), np.zeros(999), RATE)
    with pytest.raises(ValueError, match="mono"):
        lsd(np.zeros((2, 1000)), np.zeros((2, 1000)), RATE)
