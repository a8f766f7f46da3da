"""A generated speech-like signal for the speech-metric tests: no recording, no download.

Source-filter synthesis: a band-limited harmonic source (1/h amplitudes, −6 dB/octave) on a falling pitch
contour, through a cascade of three formant resonators per syllable (vowels /a i u e o/), with a syllable
envelope (30 ms attack, 50 ms release), short pauses, and fricative-like noise bursts (3.5–7 kHz) before some
syllables.  DNSMOS rates it as speech; PESQ and ESTOI find utterances in it.

`voice` writes a folder of such utterances in the layout benchmarks/vocoder_real.py reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

RATE = 16000
VOWEL_FORMANTS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))
FORMANT_BANDWIDTHS = (80, 100, 150)


def _resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """Two-pole resonance at freq with the given -3 dB bandwidth, unit gain at 0 Hz."""
    r = np.exp(-np.pi * bandwidth / rate)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / rate), r * r]
    return signal.lfilter([sum(a)], a, x)


def speech_like(seconds: float = 3.0, rate: int = RATE, seed: int = 0, peak: float = 0.6) -> np.ndarray:
    """float32 [seconds · rate], peak-normalised to `peak`."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    hiss = signal.butter(4, [3500, 7000], "bandpass", fs=rate, output="sos")
    pos = int(0.1 * rate)
    while True:
        length = int(rng.uniform(0.15, 0.3) * rate)
        if pos + length > n - int(0.05 * rate):
            break
        t = np.arange(length) / rate
        f0 = 140 * (1 - 0.1 * pos / n) * (1 + 0.08 * np.sin(np.pi * t / t[-1]))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        voiced = sum(np.sin(h * phase) / h for h in range(1, int(rate / 2 / f0.max())))
        for freq, bandwidth in zip(VOWEL_FORMANTS[rng.integers(len(VOWEL_FORMANTS))], FORMANT_BANDWIDTHS):
            voiced = _resonator(voiced, freq, bandwidth, rate)
        envelope = np.minimum(1, np.minimum(t / 0.03, (t[-1] - t) / 0.05))
        out[pos:pos + length] += voiced / np.abs(voiced).max() * envelope
        if rng.random() < 0.4:   # a fricative just before the vowel
            m = min(int(0.06 * rate), pos)
            burst = signal.sosfilt(hiss, rng.normal(size=m)) * np.hanning(m)
            out[pos - m:pos] += 0.3 * burst / np.abs(burst).max()
        pos += length + int(rng.uniform(0.04, 0.12) * rate) + (int(0.25 * rate) if rng.random() < 0.25 else 0)
    return (peak * out / np.abs(out).max()).astype(np.float32)


def add_noise(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """clean + white Gaussian noise at snr_db (power ratio over the whole clip), clipped to [−1, 1]; float32."""
    noise = np.random.default_rng(seed).normal(size=clean.shape)
    noise *= np.sqrt(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return np.clip(clean + noise, -1, 1).astype(np.float32)


def voice(root: Path, name: str, seed: int) -> Path:
    """root/<name>/16000: two training and two held-out utterances, with build_speech.py's list files."""
    folder = root / name / str(RATE)
    (folder / "wavs").mkdir(parents=True)
    names = []
    for i in range(4):
        sf.write(folder / "wavs" / f"u{i}.wav", speech_like(1.0 + 0.25 * i, RATE, seed=seed + i), RATE,
                 subtype="PCM_16")
        names.append(f"wavs/u{i}.wav")
    (folder / "train_list.txt").write_text("\n".join(names[:2]) + "\n")
    (folder / "test_list.txt").write_text("\n".join(names[2:]) + "\n")
    return folder
