"""Evaluation: speech metrics for denoisers and vocoders (audiodiff/eval/speech.py).

The older scorers (evaluate.py, metrics.py, fad.py, pairs.py, wavestats.py, report.py, classifier.py) move here
with issue 27.  Python: `from audiodiff.eval import score_speech`; `score_speech("denoised/", "clean/",
"noisy/")` gives the means, and `["files"]` one dict per file.
"""

from .speech import (SPEECH_METRICS, MetricError, SpeechExtraMissing, dnsmos, estoi, log_mel_l1,
                     mr_stft_distance, pesq_wb, score_speech, si_sdr)

__all__ = ["SPEECH_METRICS", "MetricError", "SpeechExtraMissing", "dnsmos", "estoi", "log_mel_l1",
           "mr_stft_distance", "pesq_wb", "score_speech", "si_sdr"]
