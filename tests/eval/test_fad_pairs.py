"""FAD (the weight-free mfcc embedding end to end; the frechet-audio-distance adapter through a stand-in
module, since its networks download weights) and SI-SDR scoring of denoising pairs."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from audiodiff.eval import fad as fad_mod
from audiodiff.eval.metrics import frechet_distance, si_sdr
from helpers.sound_classes import sound, white_noise, write_folder


def _tones(seed: int, n: int = 20) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [sound(k % 10, rng) for k in range(n)]


def test_fad_mfcc_orders_same_mix_and_noise(tmp_path):
    ref = write_folder(tmp_path / "ref", _tones(0, 40))
    rng = np.random.default_rng(9)
    same = fad_mod.fad(write_folder(tmp_path / "same", _tones(1)), ref, "mfcc")
    noise = fad_mod.fad(write_folder(tmp_path / "noise", [white_noise(rng) for _ in range(20)]), ref, "mfcc")
    mix = fad_mod.fad(write_folder(tmp_path / "mix", _tones(2, 10) + [white_noise(rng) for _ in range(10)]), ref,
                      "mfcc")
    assert same["fad"] < mix["fad"] < noise["fad"] and same["fad"] < 0.2 * noise["fad"]
    assert same["fad_embedding"] == "mfcc" and same["fad_reference_frames"] > same["fad_frames"] > 0


class _StandIn:
    """What frechet_audio_distance.FrechetAudioDistance offers: a constructor and get_embeddings(list, sr)."""
    made: list[dict] = []

    def __init__(self, **kwargs):
        _StandIn.made.append(kwargs)

    def get_embeddings(self, x, sr):
        # two frames per clip: (rms, peak, length in seconds), (mean, std, 0)
        return np.concatenate([[[np.sqrt(np.mean(a ** 2)), np.abs(a).max(), len(a) / sr],
                                [a.mean(), a.std(), 0.0]] for a in x])


def test_fad_library_path_resamples_and_pools_frames(tmp_path, monkeypatch):
    module = types.ModuleType("frechet_audio_distance")
    module.FrechetAudioDistance = _StandIn
    monkeypatch.setitem(sys.modules, "frechet_audio_distance", module)
    _StandIn.made.clear()
    ref, gen = _tones(0, 12), _tones(1, 8)
    result = fad_mod.fad(write_folder(tmp_path / "gen", gen), write_folder(tmp_path / "ref", ref), "vggish")
    assert _StandIn.made == [{"model_name": "vggish", "sample_rate": 16000, "use_pca": False,
                              "use_activation": False, "verbose": False}]
    assert result["fad_frames"] == 16 and result["fad_reference_frames"] == 24
    # the clips reached the network at 16 kHz (twice the files' 8 kHz), full length
    from audiodiff.eval.evaluate import read_samples

    at16 = [c.audio for c in read_samples(tmp_path / "gen", 16000, None)[0]]
    ref16 = [c.audio for c in read_samples(tmp_path / "ref", 16000, None)[0]]
    assert len(at16[0]) == 2 * len(gen[0])
    expected = frechet_distance(_StandIn().get_embeddings(ref16, 16000), _StandIn().get_embeddings(at16, 16000))
    assert result["fad"] == pytest.approx(expected)


def test_fad_without_the_library_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "frechet_audio_distance", None)   # import fails as if not installed
    with pytest.raises(ValueError, match=r"audiodiff\[fad\].*--fad mfcc"):
        fad_mod.embedding("vggish")
    with pytest.raises(ValueError, match="choose one of mfcc, vggish"):
        fad_mod.embedding("openl3")


def test_si_sdr_closed_form_and_scale_invariance():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 1, 48000)
    n = rng.normal(0, 0.1, 48000)
    s, n = s - s.mean(), n - n.mean()           # zero-mean (si_sdr removes the mean first) …
    n -= (n @ s) / (s @ s) * s                  # … and exactly orthogonal to s
    expected = 10 * np.log10((s @ s) / (n @ n))
    assert si_sdr(s, s + n) == pytest.approx(expected, abs=1e-6)
    assert si_sdr(s, 0.3 * (s + n)) == pytest.approx(expected, abs=1e-6)   # gain does not matter
    with pytest.raises(ValueError, match="same length"):
        si_sdr(s, s[:-1])
