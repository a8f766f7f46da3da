"""Scoring audio: everything `audiodiff eval` and the benchmarks measure.

    evaluate.py   a folder of samples against a classifier run: FID / IS / mIS / AM / NDB, per-class counts
    scorer.py     the classifier's side: loading, embeddings, splits, accuracy, metrics.jsonl
    metrics.py    the formulas (FID, IS, mIS, AM, NDB, SI-SDR)
    fad.py        Fréchet audio distance (MFCC statistics, or the fad extra's VGGish)
    speech.py     speech metrics for denoisers and vocoders: PESQ, ESTOI, SI-SDR, MR-STFT, log-mel L1, DNSMOS
    pairs.py      output files matched to their references by name
    wavestats.py  level, DC and clipping of samples against the training data
    sanity.py     per-clip flags FID misses: silent, clipped, DC offset, no onset (samples and reference)
    gaps.py       gap filling: in-gap SNR and log-spectral distance, gap placement, mean with 95 % interval
    seams.py      audio made window by window: level and spectral steps at the seams against the clip's own
    report.py     the HTML pages with players and spectrograms

This face exports the speech metrics (light to import); the others are imported from their modules, e.g.
`from audiodiff.eval.evaluate import evaluate`.  `score_speech("denoised/", "clean/", "noisy/")` gives the means,
and `["files"]` one dict per file.
"""

from .speech import (SPEECH_METRICS, MetricError, SpeechExtraMissing, dnsmos, estoi, log_mel_l1,
                     mr_stft_distance, pesq_wb, score_speech, si_sdr)

__all__ = ["SPEECH_METRICS", "MetricError", "SpeechExtraMissing", "dnsmos", "estoi", "log_mel_l1",
           "mr_stft_distance", "pesq_wb", "score_speech", "si_sdr"]
