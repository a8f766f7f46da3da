"""Per-clip sanity flags (audiodiff.eval.sanity) on known signals, their summary, and `audiodiff eval` reporting them.

What no_onset means, as tested here: a clip whose level never rises sharply and does not decay from its opening
(a steady tone, stationary noise at one level from sample 0) has no onset; a hit after silence has one, and so
does a one-shot cut at its attack (loud at sample 0, then decaying)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiodiff.eval.sanity import (CLIPPED_SHARE, FLAGS, add_counts, clip_flags, flag_counts, has_onset, sanity_summary,
                                   summary_rows)
from audiodiff.eval.wavestats import FULL_SCALE


RATE = 16000
T = np.arange(RATE) / RATE


def flagged(x: np.ndarray, rate: int = RATE) -> set[str]:
    """The flags of one clip."""
    return {k for k, v in clip_flags(x[None], rate).items() if v[0]}


def drum_hit(rate: int = RATE, start: float = 0.0, length: float = 1.0, seed: int = 0) -> np.ndarray:
    """Exponentially decaying noise (30 ms) over a decaying 60 Hz sine thump (80 ms), from `start` seconds."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(length * rate))
    t = np.arange(len(x) - int(start * rate)) / rate
    x[int(start * rate):] = 0.3 * np.exp(-t / 0.03) * rng.normal(size=len(t)) + 0.5 * np.exp(-t / 0.08) * np.sin(
        2 * np.pi * 60 * t)
    return x


def test_zeros_are_silent_and_nothing_else():
    assert flagged(np.zeros(RATE)) == {"silent"}
    # −60 dBFS peak is the line: just under is silent (and its offset is not DC too), just over is not
    faint = np.full(RATE, 0.0005) + 0.0004 * np.sin(2 * np.pi * 440 * T)
    assert flagged(faint) == {"silent"}
    assert "silent" not in flagged(0.0012 * np.sin(2 * np.pi * 440 * T))


def test_square_wave_at_full_scale_is_clipped():
    square = np.sign(np.sin(2 * np.pi * 100 * T + 0.1))
    assert "clipped" in flagged(square)
    assert "clipped" in flagged(np.round(square * 32767) / 32768)     # as read back from a 16-bit WAV
    # a normalised hit touching full scale once is not clipped; a share above CLIPPED_SHARE is
    hit = drum_hit()
    hit = hit / np.abs(hit).max()
    assert "clipped" not in flagged(hit)
    n = int(CLIPPED_SHARE * RATE) + 1
    hit[1000:1000 + n] = FULL_SCALE
    assert "clipped" in flagged(hit)


def test_tone_with_an_offset_has_dc():
    tone = 0.3 * np.sin(2 * np.pi * 440 * T)
    assert "dc" in flagged(tone + 0.5)
    assert "dc" not in flagged(tone)
    assert "dc" not in flagged(tone + 0.01)       # 0.01 / RMS 0.21 < 0.1


def test_decaying_noise_burst_has_an_onset_after_silence_or_at_sample_0():
    rng = np.random.default_rng(1)
    burst = np.zeros(RATE)
    burst[4000:] = 0.3 * np.exp(-np.arange(RATE - 4000) / RATE / 0.1) * rng.normal(size=RATE - 4000)
    at_zero = 0.3 * np.exp(-T / 0.1) * rng.normal(size=RATE)           # a one-shot cut at its attack
    assert has_onset(np.stack([burst, at_zero]), RATE).tolist() == [True, True]
    assert flagged(burst) == set() and flagged(at_zero) == set()


def test_steady_sound_from_sample_0_has_no_onset():
    rng = np.random.default_rng(2)
    steady = {"tone": 0.5 * np.sin(2 * np.pi * 440 * T), "low tone": 0.5 * np.sin(2 * np.pi * 30 * T),
              "white noise": 0.1 * rng.normal(size=RATE),
              "brown noise": np.cumsum(rng.normal(size=RATE)) * 1e-3,     # rumble and drift are no event
              "slow swell": 0.3 * 10 ** ((T - 1) * 30 / 20) * np.sin(2 * np.pi * 440 * T)}   # 30 dB in 1 s
    for name, x in steady.items():
        assert flagged(x) >= {"no_onset"}, name
    # the same tone starting after silence has an onset, where it starts
    gated = np.where(T >= 0.2, steady["tone"], 0.0)
    assert "no_onset" not in flagged(gated)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_a_clean_drum_hit_has_no_flags(rate):
    for start in (0.0, 0.1, 0.5):
        assert flagged(drum_hit(rate, start), rate) == set(), (rate, start)


def test_clips_shorter_than_two_frames_are_not_judged_for_onsets():
    assert flagged(0.5 * np.sin(2 * np.pi * 440 * T[:200])) == set()


def test_summary_counts_shares_names_and_the_reference():
    rng = np.random.default_rng(3)
    clean = [drum_hit(seed=s, start=0.05 * s) for s in range(4)]
    waves = np.stack([np.zeros(RATE), *clean, np.sign(np.sin(2 * np.pi * 100 * T + 0.1)), 0.1 * rng.normal(size=RATE)])
    names = [f"c{i}.wav" for i in range(len(waves))]
    reference = np.stack([*clean, 0.3 * np.sin(2 * np.pi * 440 * T) + 0.5])
    s = sanity_summary(torch.from_numpy(waves).float()[:, None], RATE, names=names, reference=reference)
    assert s["n"] == 7 and set(FLAGS) <= set(s)
    assert s["silent"] == {"count": 1, "share": 1 / 7, "clips": ["c0.wav"]}
    assert s["clipped"]["clips"] == ["c5.wav"] and s["dc"]["count"] == 0
    assert s["no_onset"]["clips"] == ["c5.wav", "c6.wav"]
    assert s["reference"]["n"] == 5 and s["reference"]["dc"] == {"count": 1, "share": 0.2}
    assert s["reference"]["no_onset"]["count"] == 1 and s["reference"]["silent"]["count"] == 0
    # without names: indices; a reference given as counts streamed in batches gives the same figures
    assert sanity_summary(waves, RATE)["no_onset"]["clips"] == [5, 6]
    counts = add_counts(add_counts(None, flag_counts(reference[:2], RATE)), flag_counts(reference[2:], RATE))
    assert counts == flag_counts(reference, RATE)
    assert sanity_summary(waves, RATE, reference=counts)["reference"] == s["reference"]
    json.dumps(s)                                                  # plain numbers and strings
    rows = dict(summary_rows(s, names=1))
    assert any(text.startswith("1 of 7 (14.3%) · reference 0.0%: c0.wav") for text in rows.values())
    assert any(text.endswith("c5.wav, …") for text in rows.values())
