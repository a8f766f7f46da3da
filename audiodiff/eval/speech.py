"""Speech metrics for denoisers and vocoders: `audiodiff eval OUTPUTS --clean CLEAN [--noisy NOISY]`.

Each metric is computed on one pair: an output (denoised or vocoded) and its clean reference, both mono float
[L] at the reference file's rate (audiodiff/eval/pairs.py resamples the output to it and cuts both to the shorter).
Where a metric needs 16 kHz, the pair is resampled with torchaudio.functional.resample at its defaults
(Hann-windowed sinc, lowpass_filter_width 6, rolloff 0.99) through audiodiff.audio.resample.

- pesq        wide-band PESQ, ITU-T P.862.2 (MOS-LQO, 1.04 … 4.64; higher is better), from the `pesq` package
              (`pesq(16000, ref, out, "wb")`) on the pair at 16 kHz.  References below 16 kHz are refused (there
              is no wide band to score); narrow-band PESQ (P.862 / P.862.1) is not reported.
- estoi       extended STOI (Jensen & Taal 2016; ≈ 0 … 1, higher is better), `pystoi.stoi(ref, out, rate,
              extended=True)` at the pair's rate (pystoi resamples to its own 10 kHz and drops frames 40 dB
              below the loudest reference frame; it needs 30 frames ≈ 384 ms left after that).
- si_sdr      scale-invariant SDR in dB (audiodiff.eval.metrics.si_sdr; higher is better).
- mr_stft     multi-resolution STFT distance (lower is better; 0 for identical signals), as the auxiliary loss of
              Parallel WaveGAN (Yamamoto et al. 2020): the mean over the resolutions (n_fft, hop) = (512, 128),
              (1024, 256), (2048, 512), Hann windows of n_fft samples, centred zero-padded frames, of
              spectral convergence ‖M_ref − M_out‖_F / ‖M_ref‖_F plus log-magnitude L1 mean|log M_ref − log M_out|,
              with M = √max(|STFT|², 1e-7).
- log_mel_l1  log-mel L1 distance (lower is better), as HiFi-GAN's mel loss: mel magnitudes (power 1) of 80
              Slaney-scale, Slaney-normalised bands from 0 Hz to rate / 2, n_fft 1024, hop 256, Hann window
              1024, at the pair's rate; natural log of max(mel, 1e-5); the mean |difference| over bands × frames.
- dnsmos      non-intrusive DNSMOS P.835 (Reddy et al. 2022) SIG / BAK / OVRL (1 … 5, higher is better) of the
              output alone, from the `speechmos` package (`speechmos.dnsmos.run(out, 16000)`, its ONNX weights ship
              in the wheel; onnxruntime runs them) at 16 kHz.  It scores 9.01 s windows on a 1 s hop and doubles a
              shorter clip until it is 9.01 s long, so a 3 s clip costs three windows: about 3 s on 2 CPU cores
              (measured with `audiodiff eval --dnsmos`; the first call after an install also compiles librosa's
              numba code, about 30 s, cached after).

With the noisy inputs, pesq, estoi and si_sdr are also computed for each noisy input against the same clean
reference (`<metric>_input`) with the improvement output − input (`pesq_delta`, `estoi_delta`, `si_sdri`).
pesq, estoi and dnsmos need `pip install 'audiodiff[speech]'`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..audio import AudioReadError, resample
from ..install import torchaudio
from .metrics import si_sdr as _si_sdr
from .pairs import match_pairs

log = logging.getLogger("audiodiff")

PESQ_RATE = 16000
DNSMOS_RATE = 16000
MR_STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))   # (n_fft = window length, hop)
MR_STFT_POWER_FLOOR = 1e-7
MEL_BANDS, MEL_FFT, MEL_HOP, MEL_LOG_FLOOR = 80, 1024, 256, 1e-5
EXTRA = "pip install 'audiodiff[speech]'"
SHOWN_NAMES = 5   # files named in one warning line; the JSON's "skipped" lists them all


class MetricError(ValueError):
    """A metric cannot score this pair (silent reference, too short, a rate it cannot take); says why."""


class SpeechExtraMissing(ValueError):
    """A metric's package is not installed; the message names the pip command."""


def _require(module: str, metric: str):
    """Import `module` or raise SpeechExtraMissing naming the pip command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:   # the package itself, or what it imports (speechmos: onnxruntime, librosa)
        raise SpeechExtraMissing(f"{metric} needs the {module.split('.')[0]} package ({exc}): {EXTRA}") from None


@lru_cache(maxsize=None)
def _importable(module: str) -> bool:
    try:
        _require(module, module)
    except SpeechExtraMissing:
        return False
    return True


def _at(wave: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """[L] float → [L'] float32 at new_rate (the module docstring's resampler)."""
    return resample(torch.as_tensor(np.asarray(wave, np.float32)), rate, new_rate).numpy()


def _check_sound(reference: np.ndarray, metric: str) -> None:
    if not np.any(reference):
        raise MetricError(f"the clean reference is silent (all zeros): {metric} compares against its speech")


def pesq_wb(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (P.862.2, MOS-LQO) of estimate [L] against reference [L] at sample_rate ≥ 16 kHz."""
    pesq = _require("pesq", "PESQ")
    if sample_rate < PESQ_RATE:
        raise MetricError(f"wide-band PESQ needs 16 kHz audio and the clean reference is {sample_rate} Hz "
                          f"(upsampling adds no band above {sample_rate // 2} Hz): give 16 kHz references or leave "
                          f"pesq out (--speech-metrics)")
    ref, est = _at(reference, sample_rate, PESQ_RATE), _at(estimate, sample_rate, PESQ_RATE)
    try:
        return float(pesq.pesq(PESQ_RATE, ref, est, "wb"))
    except pesq.PesqError as exc:   # NoUtterancesError (no speech in the reference), BufferTooShortError (< 0.25 s)
        text = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise MetricError(f"the pesq package refuses the pair: {text} (a silent or noise-only clean reference, or "
                          f"under 0.25 s)") from None


def estoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Extended STOI of estimate [L] against reference [L] (pystoi, extended=True, at sample_rate)."""
    pystoi = _require("pystoi", "ESTOI")
    _check_sound(reference, "ESTOI")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = pystoi.stoi(np.asarray(reference), np.asarray(estimate), sample_rate, extended=True)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise MetricError("too short for ESTOI: pystoi needs about 384 ms of reference speech within 40 dB of its "
                          "loudest frame")
    return float(value)


def si_sdr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int | None = None) -> float:
    """SI-SDR in dB (audiodiff.eval.metrics.si_sdr), refusing a silent reference; sample_rate is not used."""
    _check_sound(reference, "SI-SDR")
    return _si_sdr(reference, estimate)


def _same_length(reference: np.ndarray, estimate: np.ndarray, metric: str) -> None:
    if np.shape(reference) != np.shape(estimate) or np.ndim(reference) != 1:
        raise ValueError(f"{metric} needs two signals [L] of the same length, got {np.shape(reference)} and "
                         f"{np.shape(estimate)}")


def _magnitude(wave: np.ndarray, n_fft: int, hop: int) -> torch.Tensor:
    """[L] → |STFT| [n_fft / 2 + 1, frames] float64: Hann window of n_fft, centred zero-padded frames."""
    x = torch.as_tensor(np.asarray(wave, np.float64))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64), center=True,
                      pad_mode="constant", return_complex=True)
    return spec.abs()


def mr_stft_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int | None = None) -> float:
    """Multi-resolution STFT distance (module docstring) between two [L] signals; sample_rate is not used."""
    _same_length(reference, estimate, "MR-STFT")
    total = 0.0
    for n_fft, hop in MR_STFT_RESOLUTIONS:
        ref, est = ((_magnitude(w, n_fft, hop) ** 2).clamp(min=MR_STFT_POWER_FLOOR).sqrt()
                    for w in (reference, estimate))
        convergence = torch.linalg.norm(ref - est) / torch.linalg.norm(ref)
        total += float(convergence + (ref.log() - est.log()).abs().mean())
    return total / len(MR_STFT_RESOLUTIONS)


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int) -> torch.Tensor:
    return torchaudio.functional.melscale_fbanks(MEL_FFT // 2 + 1, 0.0, sample_rate / 2, MEL_BANDS, sample_rate,
                                                 norm="slaney", mel_scale="slaney").double()   # [F, bands]


def log_mel(wave: np.ndarray, sample_rate: int) -> torch.Tensor:
    """[L] → log-mel [bands, frames] float64 as log_mel_l1 defines it (module docstring)."""
    mel = _mel_filters(int(sample_rate)).T @ _magnitude(wave, MEL_FFT, MEL_HOP)
    return mel.clamp(min=MEL_LOG_FLOOR).log()


def log_mel_l1(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Log-mel L1 distance (module docstring) between two [L] signals at sample_rate."""
    _same_length(reference, estimate, "log-mel L1")
    return float((log_mel(reference, sample_rate) - log_mel(estimate, sample_rate)).abs().mean())


def dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 of audio [L] (any rate; scored at 16 kHz): {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}."""
    model = _require("speechmos.dnsmos", "DNSMOS")
    wave = np.clip(_at(audio, sample_rate, DNSMOS_RATE), -1.0, 1.0)
    if not np.any(wave):
        raise MetricError("the output is silent (all zeros): DNSMOS needs sound to rate")
    scores = model.run(wave, DNSMOS_RATE)
    return {"dnsmos_sig": float(scores["sig_mos"]), "dnsmos_bak": float(scores["bak_mos"]),
            "dnsmos_ovrl": float(scores["ovrl_mos"])}


@dataclass(frozen=True)
class SpeechMetric:
    """One entry of --speech-metrics: how to score a pair and which result keys it fills."""
    name: str
    label: str
    module: str | None          # the package it needs (from the speech extra), None when built in
    intrusive: bool             # compares against the clean reference
    keys: tuple[str, ...]
    score: Callable[..., Any]   # intrusive: (reference, estimate, rate) → float; else (audio, rate) → {key: float}
    improvement: str | None = None   # with noisy inputs: the key of output − input

    def available(self) -> bool:
        return self.module is None or _importable(self.module)


SPEECH_METRICS = {m.name: m for m in (
    SpeechMetric("pesq", "PESQ", "pesq", True, ("pesq",), pesq_wb, "pesq_delta"),
    SpeechMetric("estoi", "ESTOI", "pystoi", True, ("estoi",), estoi, "estoi_delta"),
    SpeechMetric("si_sdr", "SI-SDR", None, True, ("si_sdr",), si_sdr, "si_sdri"),
    SpeechMetric("mr_stft", "MR-STFT", None, True, ("mr_stft",), mr_stft_distance),
    SpeechMetric("log_mel_l1", "log-mel L1", None, True, ("log_mel_l1",), log_mel_l1),
    SpeechMetric("dnsmos", "DNSMOS", "speechmos.dnsmos", False, ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"),
                 dnsmos),
)}


def missing_extra() -> list[str]:
    """Names of the metrics whose package is not installed (empty with `audiodiff[speech]`)."""
    return [m.name for m in SPEECH_METRICS.values() if not m.available()]


def choose_metrics(names: str | Sequence[str] | None, intrusive: bool = True) -> list[SpeechMetric]:
    """--speech-metrics ("pesq,estoi", a list, or None = every available one; only non-intrusive ones without a
    clean reference) → metrics; unknown names raise ValueError, uninstalled named ones SpeechExtraMissing."""
    if names is None:
        return [m for m in SPEECH_METRICS.values() if m.available() and (intrusive or not m.intrusive)]
    if isinstance(names, str):
        names = [n for n in names.replace(" ", "").split(",") if n]
    unknown = [n for n in names if n not in SPEECH_METRICS]
    if unknown or not names:
        raise ValueError(f"--speech-metrics {','.join(unknown) or '(empty)'}: choose from {', '.join(SPEECH_METRICS)}")
    chosen = [SPEECH_METRICS[n] for n in dict.fromkeys(names)]
    if not intrusive and (needing := [m.name for m in chosen if m.intrusive]):
        raise ValueError(f"--speech-metrics {','.join(needing)} compare against clean references: pass --clean DIR "
                         f"(without it only dnsmos can score)")
    for m in chosen:
        if not m.available():
            _require(m.module, m.label)
    return chosen


def _score_file(metric: SpeechMetric, output: np.ndarray, reference: np.ndarray | None,
                noisy_input: np.ndarray | None, rate: int) -> dict[str, float]:
    """The metric's keys for one file; with a noisy input also `<key>_input` and the improvement."""
    if not metric.intrusive:
        return metric.score(output, rate)
    key = metric.keys[0]
    scores = {key: metric.score(reference, output, rate)}
    if noisy_input is not None and metric.improvement is not None:
        try:
            scores[f"{key}_input"] = metric.score(reference, noisy_input, rate)
        except MetricError as exc:
            raise MetricError(f"on the noisy input: {exc}") from None
        scores[metric.improvement] = scores[key] - scores[f"{key}_input"]
    return scores


def _keys(metric: SpeechMetric, with_noisy: bool) -> tuple[str, ...]:
    if with_noisy and metric.improvement is not None:
        return (*metric.keys, f"{metric.keys[0]}_input", metric.improvement)
    return metric.keys


def score_speech(outputs: str | Path, clean: str | Path | None = None, noisy: str | Path | None = None,
                 metrics: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Score every file under `outputs` against the file of the same relative path under `clean` (and `noisy`).

    Without `clean` only non-intrusive metrics (dnsmos) apply, to every audio file under `outputs`.
    Returns the means over files {"pesq", "estoi", "si_sdr", "mr_stft", "log_mel_l1", "dnsmos_sig", …, and with
    noisy "<key>_input", "pesq_delta", "estoi_delta", "si_sdri"}, "n_pairs" (or "n_files" without clean),
    "metrics" (names scored), "unmatched" and "skipped" (one line per file left out / metric not computed) and
    "files": one dict per file {"file": relative path, key: value or None}.
    """
    chosen = choose_metrics(metrics, intrusive=clean is not None)
    pairs, unmatched = match_pairs(outputs, clean, noisy)
    files, skipped, reasons = [], [], {}
    for pair in pairs:
        try:
            output, reference, noisy_input, rate = pair.read()
        except AudioReadError as exc:
            unmatched.append(str(exc))
            continue
        row: dict[str, Any] = {"file": pair.name}
        for metric in chosen:
            try:
                row.update(_score_file(metric, output, reference, noisy_input, rate))
            except MetricError as exc:
                skipped.append(f"{pair.name}: {metric.label} not computed: {exc}")
                reasons.setdefault((metric.label, str(exc)), []).append(pair.name)
                row.update(dict.fromkeys(_keys(metric, noisy_input is not None)))
        files.append(row)
    if not files:
        raise ValueError(f"none of the files under {outputs} could be read (first: {unmatched[0]})")
    if unmatched:
        log.warning("left out %d file(s) without a readable partner: %s", len(unmatched), "; ".join(unmatched[:10]))
    for (label, reason), names in reasons.items():   # one line per metric and reason, naming the files
        more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
        log.warning("%s not computed for %s%s: %s", label, ", ".join(names[:SHOWN_NAMES]), more, reason)
    result: dict[str, Any] = {}
    for key in dict.fromkeys(k for row in files for k in row if k != "file"):
        values = [row[key] for row in files if row.get(key) is not None]
        result[key] = float(np.mean(values)) if values else None
    result.update({"n_pairs" if clean is not None else "n_files": len(files),
                   "metrics": [m.name for m in chosen], "unmatched": unmatched, "skipped": skipped, "files": files})
    return result
