"""Trained runs as Python objects: `audiodiff.load(run)` returns the pipeline of the run's domain.

    base.py      Pipeline: loading (checked, no pickle), the reverse chain with the run's [sample] settings, export
    waveform.py  WaveformPipeline: sample, denoise, inpaint, upsample
    mel.py       MelPipeline: sample_mel, decode, sample (through a vocoder run or Griffin-Lim)
    vocoder.py   VocoderPipeline: vocode, resynthesize
    supervised.py SupervisedPipeline: what the runs trained on (degraded, clean) pairs share
    denoiser.py  DenoiserPipeline: denoise (a supervised denoiser that hears the noisy recording)
    bandwidth.py BandwidthPipeline: upsample (bandwidth extension learned from narrow / wide pairs)
    gapfill.py   GapFillPipeline: inpaint (gap filling learned from clips with gaps cut into them)
"""

from .base import GeneratingPipeline, Pipeline, WrongDomainError, as_tensor, load
from .bandwidth import BandwidthPipeline
from .denoiser import DenoiserPipeline
from .gapfill import GapFillPipeline
from .mel import MelPipeline
from .vocoder import VocoderPipeline
from .waveform import WaveformPipeline

__all__ = ["Pipeline", "GeneratingPipeline", "WaveformPipeline", "MelPipeline", "VocoderPipeline", "DenoiserPipeline", "BandwidthPipeline",
           "GapFillPipeline", "WrongDomainError", "as_tensor", "load"]
