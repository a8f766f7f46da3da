"""nets/mel_inverter.py, features.magnitude_spectrogram / griffin_lim and objectives.MagnitudeRegression: the
network's shapes and refusals, the magnitude lying exactly under the mel, the loss at the truth, and Griffin-Lim
from a true magnitude giving that magnitude back."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from audiodiff.features import MelFeatures, magnitude_spectrogram
from audiodiff.nets import MelInverter, build_network, network_objective
from audiodiff.training.objectives import MagnitudeRegression, objective_for

RATE = 8000


def _tone(n: int = 4096) -> torch.Tensor:
    t = torch.arange(n) / RATE
    return (0.3 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 1250 * t)).float()


def test_the_network_maps_mel_frames_to_stft_bins_one_for_one():
    net = MelInverter(n_mels=16, n_fft=128, hop_length=32, win_length=128, channels=8, hidden=16, layers=2, stacks=1)
    out = net(torch.randn(3, 16, 21))
    assert out.shape == (3, 65, 21) and out.dtype == torch.float32 and (out > 0).all()
    with pytest.raises(ValueError, match=r"\[B, 16, frames\]"):
        net(torch.randn(3, 12, 21))
    with pytest.raises(ValueError, match="odd"):
        MelInverter(kernel_size=4)
    assert network_objective({"type": "mel_inverter"}) == "magnitude"


def test_the_magnitude_lies_under_the_mel_frame_for_frame():
    f = MelFeatures(RATE, n_fft=256, hop_length=64, n_mels=20)
    wave = torch.randn(2, 3000) * 0.1
    magnitude = magnitude_spectrogram(wave, 256, 64, 256)
    assert magnitude.shape == (2, 129, 3000 // 64)
    mel = torch.einsum("bft,fm->bmt", magnitude, f._mel.mel_scale.fb)
    assert torch.allclose(mel.clamp_min(f.log_floor).log(), f.log_mel(wave), atol=1e-4)


def test_the_loss_is_zero_at_the_true_magnitude_and_grows_with_its_error():
    f = MelFeatures(RATE, n_fft=256, hop_length=64, n_mels=20).fit_stats([_tone()[None]])
    wave = _tone(4096)[None, None]
    truth = magnitude_spectrogram(wave, 256, 64, 256)

    class Answer(nn.Module):
        def __init__(self, gain: float):
            super().__init__()
            self.gain = gain

        def forward(self, mel):
            return truth * self.gain

    objective = objective_for({"type": "mel_inverter", "n_fft": 256, "hop_length": 64, "win_length": 256}, None)
    assert isinstance(objective, MagnitudeRegression)
    cond = {"mel": f.encode(wave[:, 0])}
    losses = [float(objective.loss_terms(Answer(g), wave, {}, cond)) for g in (1.0, 0.8, 0.5)]
    assert losses[0] < 1e-10 < losses[1] < losses[2]
    with pytest.raises(ValueError, match="vocoder"):
        objective.loss_terms(Answer(1.0), wave, {}, {"cond_wave": wave})


def test_griffin_lim_from_a_true_magnitude_gives_that_magnitude_back():
    f = MelFeatures(RATE, n_fft=256, hop_length=64, n_mels=20)
    wave = _tone(4096)[None]
    truth = magnitude_spectrogram(wave, 256, 64, 256)
    out = f.griffin_lim(truth, n_iter=64)
    assert out.shape == (1, 4096)
    again = magnitude_spectrogram(out, 256, 64, 256)
    error = (again - truth).norm() / truth.norm()
    assert error < 0.1, error


def test_build_network_checks_the_options():
    net = build_network({"type": "mel_inverter", "n_mels": 10, "n_fft": 64, "hop_length": 16, "win_length": 64,
                         "channels": 4, "hidden": 8, "layers": 1, "stacks": 1})
    assert net(torch.zeros(1, 10, 5)).shape == (1, 33, 5)
    with pytest.raises(ValueError, match="win_length"):
        MelInverter(n_fft=64, hop_length=16, win_length=128)
