"""[features]: the recipe table of the log-mel spectrogram behind the "mel" and "vocoder" domains.

Its defaults are MelFeatures' constructor defaults and its choices features.py's own tuples (NORMS, MEL_SCALES,
POWERS), so a mel setting is written once, in audiodiff/features.py.  The table spells MelFeatures' "None =
automatic" as 0 (win_length = n_fft, f_max = sample_rate / 2), since TOML has no null.  The relations between
settings (hop <= window <= n_fft, no empty mel filters, f_max <= Nyquist) are MelFeatures' own check, which
recipe.py runs with [data] sample_rate and re-raises naming the file and key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .features import MEL_SCALES, NORMS, POWERS, MelFeatures
from .options import option

_MEL = {k: p.default for k, p in inspect.signature(MelFeatures.__init__).parameters.items()}


@dataclass
class FeaturesConfig:
    """[features]: MelFeatures' settings (see audiodiff/features.py), minus the sample rate ([data]) and the
    statistics (computed from stats_clips training clips when a run starts)."""
    n_fft: int = option(_MEL["n_fft"], lo=2, hi=2 ** 16)
    hop_length: int = option(_MEL["hop_length"], lo=1, help="samples per mel frame; frames = clip_length // "
                                                            "hop_length")
    win_length: int = option(_MEL["win_length"] or 0, lo=0, help="0 = n_fft")
    n_mels: int = option(_MEL["n_mels"], lo=1)
    f_min: float = option(_MEL["f_min"], lo=0)
    f_max: float = option(_MEL["f_max"] or 0.0, lo=0, help="0 = sample_rate / 2")
    power: float = option(_MEL["power"], choices=POWERS, help="1 = magnitude, 2 = power spectrogram")
    mel_scale: str = option(_MEL["mel_scale"], choices=MEL_SCALES)
    log_floor: float = option(_MEL["log_floor"], lo=0, hi=1, lo_open=True, hi_open=True,
                              help="log(max(mel, log_floor))")
    norm: str = option(_MEL["norm"], choices=NORMS, help="minmax: dataset log-mel range → [−1, 1]")
    stats_clips: int = option(256, lo=1, help="training clips sampled to compute the normalisation statistics")
    griffin_lim_iters: int = option(_MEL["griffin_lim_iters"], lo=1,
                                    help="iterations of the Griffin-Lim baseline inversion")
