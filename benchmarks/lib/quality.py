"""Quality scores the studies share: the quickstart pitch check (do generated tones land on the training notes?)."""

from __future__ import annotations

import numpy as np


def dominant_frequency(wave: np.ndarray, sample_rate: int, pad: int = 8) -> float:
    """Frequency (Hz) of the strongest spectral peak of `wave` [L]: Hann-windowed FFT peak, refined by parabolic
    interpolation."""
    n = len(wave) * pad
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), n=n))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    if 0 < k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * sample_rate / n


def score_pitch(waves: np.ndarray, sample_rate: int, notes: list[int], tolerance: float = 0.03) -> dict:
    """The pitch check on clips waves [N, L]: the share whose spectral peak lies within `tolerance` of a note,
    and the share of the notes that some clip hits."""
    import librosa

    n = len(waves)
    note_hz = librosa.midi_to_hz(np.array(notes))
    hits, found = [], set()
    for w in waves:
        f = dominant_frequency(w, sample_rate)
        rel = np.abs(f / note_hz - 1)
        j = int(np.argmin(rel))
        on_note = bool(rel[j] <= tolerance) and float(np.abs(w).max()) > 1e-3
        hits.append({"freq_hz": round(float(f), 2), "nearest_midi": int(notes[j]), "rel_error": round(float(rel[j]), 4),
                     "on_note": on_note})
        if on_note:
            found.add(int(notes[j]))
    return {"clips": n, "on_note_fraction": sum(h["on_note"] for h in hits) / n,
            "notes_present_fraction": len(found) / len(set(notes)), "notes_present": sorted(found),
            "per_clip": hits}
