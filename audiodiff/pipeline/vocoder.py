"""A vocoder run: turns normalised log-mel spectrograms into audio (a mel-conditioned DiffWave, or a network that
predicts the magnitude spectrogram for Griffin-Lim)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..features import MelFeatures
from .base import Pipeline, as_tensor, log

# vocode: audio longer than this is made in cross-faded windows (windows.map_windows), so memory is bounded by
# one window.  DiffWave is convolutional and needs no window for quality; the windows are long because where two
# overlap, two independently sampled waveforms of the same mel are cross-faded.
VOCODE_WINDOW_SECONDS = 10.0


class VocoderPipeline(Pipeline, domain="vocoder"):
    """vocode(mel) → audio; resynthesize(audio) → audio through its own mel."""

    what = "a vocoder run ([data] domain = \"vocoder\")"
    misuse_hint = (": it turns mel spectrograms into audio; use pipe.vocode(mel) or pipe.resynthesize(audio) "
                   "(CLI: audiodiff vocode)")

    def vocode(self, mel: Any, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
               generator: torch.Generator | None = None, features: MelFeatures | None = None,
               progress: bool = False, window: int | None = None, **options: Any) -> Any:
        """A vocoder run: normalised mel [n_mels, F] or [B, n_mels, F] (numpy or torch) → audio [F·hop] or
        [B, F·hop] in [−1, 1] at `sample_rate`, the same array type as the input.

        The mel is taken as normalised with this run's statistics, or with `features`' (e.g. a mel-domain
        run's `pipe.features`), which must describe the same transform.  A diffusion vocoder's sampler options
        default to the run's [sample] settings (DiffWave's 6-step fast schedule in recipes/ljspeech-vocoder);
        `options` as in `sample`.  A magnitude network (nets/mel_inverter.py) answers in one call, Griffin-Lim
        giving the phase, and takes no sampler options.  Audio longer than `window` samples (default
        VOCODE_WINDOW_SECONDS) is made in cross-faded windows of the mel, so any length fits in memory."""
        self._refuse_sampler_options(steps, sampler, options)
        is_numpy = isinstance(mel, np.ndarray)
        m = as_tensor(mel).float()
        squeeze = m.ndim == 2
        if squeeze:
            m = m[None]
        self.features.check_mel(m, "this vocoder")
        if not torch.isfinite(m).all():
            raise ValueError("the mel spectrogram holds NaN or infinite values")
        if features is not None:
            m = self.features.renormalise(m, features)
        m = m.to(self.device)
        hop, length = self.features.hop_length, self.features.samples(m.shape[-1])
        window = round(VOCODE_WINDOW_SECONDS * self.sample_rate) if window is None else int(window)
        generator = generator or self._generator(seed)

        def part(sl: slice) -> torch.Tensor:        # the samples sl of the whole: vocode the frames that hold them
            first, last = sl.start // hop, -(-sl.stop // hop)
            if self.predictive:
                with torch.no_grad():
                    magnitude = self.sampling_network()(m[..., first:last]).float()
                x = self.features.griffin_lim(magnitude)[:, None]
                return x[..., sl.start - first * hop:sl.stop - first * hop]
            x = self._generate(m.shape[0], 1, (last - first) * hop, steps=steps, sampler=sampler,
                               generator=generator, progress=progress and length <= window,
                               cond={"mel": m[..., first:last]}, **options)
            return x[..., sl.start - first * hop:sl.stop - first * hop]

        x = self._windows(part, (m.shape[0], 1, length), window, progress and length > window, "vocode")
        wave = x[:, 0].clamp(-1.0, 1.0).float().cpu()
        wave = wave[0] if squeeze else wave
        return wave.numpy() if is_numpy else wave

    def resynthesize(self, audio: Any, sample_rate: int | None = None, **vocode_options: Any) -> Any:
        """A vocoder run: re-synthesise a recording from its mel (computed with this run's features).

        audio [L] or [B, L] (numpy or torch) at `sample_rate` (default: the model's; another rate is
        resampled to it, and said in the log) → audio of the same shape at the model's rate (the input is
        zero-padded to whole frames, the output cropped back)."""
        batch, restore = self._to_model_rate(audio, sample_rate, back=False)
        if not torch.isfinite(batch).all():
            raise ValueError("the audio holds NaN or infinite samples")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            log.info("resampling the input from %d Hz to the vocoder's %d Hz", sample_rate, self.sample_rate)
        length = batch.shape[-1]
        padded = torch.nn.functional.pad(batch[:, 0], (0, -length % self.features.hop_length))
        wave = self.vocode(self.features.encode(padded), **vocode_options)[..., :length]
        return restore(wave[:, None])

    def check_features(self, features: MelFeatures, name: str | Path = "the vocoder") -> None:
        """Raise ValueError unless mels made with `features` are this vocoder's input (statistics may differ)."""
        diff = self.features.same_transform(features)
        if diff:
            mine, theirs = self.features.to_config(), features.to_config()
            raise ValueError(f"{name} was trained on other mel settings: " + ", ".join(
                f"{k} {mine[k]} (vocoder) vs {theirs[k]}" for k in diff))
