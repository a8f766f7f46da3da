"""Per-clip sanity flags: what distribution scores (FID, FAD) average away (silent, clipped or DC-offset output,
clips with no onset), counted per clip, so that "3 of 256 samples are silent" is said outright.

    waves [N, L] ──clip_flags──► {flag: bool [N]} ──sanity_summary──► counts, shares, flagged clips

The flags and their thresholds (each written once, below):

    silent    peak below SILENT_PEAK_DBFS (−60 dBFS: |x| < 0.001 throughout). A silent clip gets no other flag.
    clipped   more than CLIPPED_SHARE (0.1 %) of its samples at full scale: |x| ≥ wavestats.FULL_SCALE
              (1 − 2⁻¹⁵, the largest 16-bit value), the share at full scale wavestats reports per batch.
    dc        |mean| above DC_RATIO (0.1) × RMS and above DC_FLOOR_DBFS (−60 dBFS), so that near-silent
              clips are not flagged for their dither's offset.
    no_onset  no event. The level is the mean square, in ONSET_FRAME_S frames (hop half a frame), of the
              clip's first difference (a +6 dB / octave tilt: transients count, rumble and drift hardly), floored
              ENVELOPE_RANGE_DB below its loudest frame. An onset is a rise of ONSET_RISE_DB within
              ONSET_WINDOW_S, or an opening (first ONSET_WINDOW_S) ONSET_FALL_DB louder than the closing (last
              ONSET_WINDOW_S; loudest frame of each): an attack inside the first frame, then a decay. So a hit
              after silence has its onset where it starts; a one-shot cut at its attack (loud at sample 0, then
              decaying) has its onset at sample 0; a steady tone, a drone or stationary noise at one level from
              sample 0 to the end has none: the failure this flag is for (a model making texture, not events).
              A slow swell (less than 10 dB per 50 ms) has none either. Clips under two frames are not judged.

Real data has its own rates (drum one-shots with DC, loops that start mid-note), so `sanity_summary` gives the
reference's figures beside the samples' when a reference is passed: read the samples' rates against those.
Not librosa's onset detector: it normalises its onset envelope per clip and picks peaks relative to it, so it
finds "onsets" in stationary noise (4 in 1 s of white noise, 1 in a steady tone); an absolute rise is what
separates an event from texture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .wavestats import FULL_SCALE

FLAGS = ("silent", "clipped", "dc", "no_onset")

SILENT_PEAK_DBFS = -60.0     # silent: peak below this
CLIPPED_SHARE = 1e-3         # clipped: more than this share of samples at |x| ≥ FULL_SCALE
DC_RATIO = 0.1               # dc: |mean| > DC_RATIO · RMS …
DC_FLOOR_DBFS = -60.0        # … and |mean| above this level
ONSET_FRAME_S = 0.02         # level envelope: mean square over 20 ms frames, hop 10 ms
ONSET_WINDOW_S = 0.05        # an onset: a rise of ONSET_RISE_DB within 50 ms …
ONSET_RISE_DB = 10.0
ONSET_FALL_DB = 6.0          # or an attack at sample 0: the first 50 ms this much louder than the last 50 ms
ENVELOPE_RANGE_DB = 30.0     # the envelope is floored this far below its loudest frame (digital silence, dither)

LABELS = {"silent": f"silent (peak < {SILENT_PEAK_DBFS:g} dBFS)",
          "clipped": f"clipped (> {CLIPPED_SHARE:.1%} at full scale)",
          "dc": f"DC offset (|mean| > {DC_RATIO:g} × RMS)",
          "no_onset": f"no onset (no {ONSET_RISE_DB:g} dB rise in {ONSET_WINDOW_S * 1000:g} ms, no decay)"}


def _db_to_amplitude(db: float) -> float:
    return 10 ** (db / 20)


def _as_batch(waves: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(waves) if not isinstance(waves, torch.Tensor) else waves)
    if x.dim() == 1:
        x = x[None]
    if x.dim() == 3 and x.shape[1] == 1:    # [N, 1, L]
        x = x[:, 0]
    if x.dim() != 2:
        raise ValueError(f"waves: expected [N, L], got shape {tuple(x.shape)}")
    return x.double()


def _frame_hop(sample_rate: int, length: int) -> tuple[int, int]:
    frame = max(2, min(round(ONSET_FRAME_S * sample_rate), length))
    return frame, frame // 2


def level_envelope_db(waves: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
    """Mean square per ONSET_FRAME_S frame (hop half a frame) in dB, floored ENVELOPE_RANGE_DB below each clip's
    loudest frame: [N, L] → [N, frames] (frames = 1 when a clip is shorter than one frame)."""
    x = _as_batch(waves)
    frame, hop = _frame_hop(sample_rate, x.shape[1])
    tilted = torch.diff(x, dim=1, prepend=x[:, :1])       # +6 dB / octave: transients weigh, drift and rumble not
    power = tilted.unfold(1, frame, hop).pow(2).mean(dim=2)
    db = 10 * torch.log10(power + 1e-20)
    return torch.maximum(db, db.amax(dim=1, keepdim=True) - ENVELOPE_RANGE_DB)


def has_onset(waves: torch.Tensor | np.ndarray, sample_rate: int) -> np.ndarray:
    """bool [N]: the clip's level rises by ONSET_RISE_DB within ONSET_WINDOW_S somewhere, or its first
    ONSET_WINDOW_S is ONSET_FALL_DB louder than its last (a one-shot whose attack is at sample 0, then decays).
    Clips of under two frames: True."""
    x = _as_batch(waves)
    env = level_envelope_db(x, sample_rate)
    n, frames = env.shape
    if frames < 2:
        return np.ones(n, dtype=bool)
    k = max(1, round(ONSET_WINDOW_S * sample_rate / _frame_hop(sample_rate, x.shape[1])[1]))   # frames looked back
    rise = torch.zeros(n, dtype=torch.float64)
    for lag in range(1, min(k, frames - 1) + 1):          # env[t] − min(env[t−k … t−1]), as a max over lags
        rise = torch.maximum(rise, (env[:, lag:] - env[:, :-lag]).amax(dim=1))
    w = min(k, frames // 2)                              # frames in the opening and in the closing window
    fall = env[:, :w].amax(dim=1) - env[:, -w:].amax(dim=1)
    return ((rise >= ONSET_RISE_DB) | (fall >= ONSET_FALL_DB)).numpy()


def clip_flags(waves: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """waves [N, L] (float, [−1, 1]) at sample_rate → {flag: bool [N]} for every flag in FLAGS (see the module
    docstring). A silent clip is flagged silent only."""
    x = _as_batch(waves)
    peak = x.abs().amax(dim=1)
    silent = peak < _db_to_amplitude(SILENT_PEAK_DBFS)
    clipped = (x.abs() >= FULL_SCALE).double().mean(dim=1) > CLIPPED_SHARE
    mean, rms = x.mean(dim=1).abs(), x.pow(2).mean(dim=1).sqrt()
    dc = (mean > DC_RATIO * rms) & (mean > _db_to_amplitude(DC_FLOOR_DBFS))
    no_onset = torch.from_numpy(~has_onset(x, sample_rate))
    flags = {"silent": silent, "clipped": clipped, "dc": dc, "no_onset": no_onset}
    return {k: (v & ~silent if k != "silent" else v).numpy() for k, v in flags.items()}


def flag_counts(waves: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, int]:
    """{"n": N, flag: number of clips flagged}: what a reference streamed in batches adds up (add_counts)."""
    flags = clip_flags(waves, sample_rate)
    return {"n": len(next(iter(flags.values()))), **{k: int(v.sum()) for k, v in flags.items()}}


def add_counts(a: Mapping[str, int] | None, b: Mapping[str, int]) -> dict[str, int]:
    return dict(b) if a is None else {k: int(a[k]) + int(b[k]) for k in ("n", *FLAGS)}


def sanity_summary(waves: torch.Tensor | np.ndarray, sample_rate: int, names: Sequence[str] | None = None,
                   reference: torch.Tensor | np.ndarray | Mapping[str, int] | None = None,
                   reference_rate: int | None = None) -> dict[str, Any]:
    """The flags of a batch, summed up:

        {"n": N, "silent": {"count": c, "share": c / N, "clips": [names, or indices when names is None]}, …,
         "reference": {"n": M, "silent": {"count": …, "share": …}, …}}      # only when a reference is given

    reference: its waves [M, L'] (at reference_rate, default sample_rate) or flag_counts of it."""
    flags = clip_flags(waves, sample_rate)
    n = len(flags["silent"])
    out: dict[str, Any] = {"n": n}
    for k, v in flags.items():
        where = np.flatnonzero(v).tolist()
        out[k] = {"count": len(where), "share": len(where) / max(n, 1),
                  "clips": [names[i] for i in where] if names is not None else where}
    if reference is not None:
        counts = reference if isinstance(reference, Mapping) else flag_counts(reference, reference_rate or sample_rate)
        m = int(counts["n"])
        out["reference"] = {"n": m, **{k: {"count": int(counts[k]), "share": int(counts[k]) / max(m, 1)}
                                       for k in FLAGS}}
    return out


def summary_rows(summary: Mapping[str, Any], names: int = 0) -> list[tuple[str, str]]:
    """(label, "c of N (s %) · reference s %") per flag, for a printed table or a report page; names > 0 adds
    up to that many of the flagged clips (": a.wav, b.wav, …")."""
    rows = []
    for k in FLAGS:
        text = f"{summary[k]['count']} of {summary['n']} ({summary[k]['share']:.1%})"
        if "reference" in summary:
            text += f" · reference {summary['reference'][k]['share']:.1%}"
        flagged = [str(c) for c in summary[k].get("clips", [])]
        if names > 0 and flagged:
            text += ": " + ", ".join(flagged[:names]) + (", …" if len(flagged) > names else "")
        rows.append((LABELS[k], text))
    return rows
