"""A mel-domain run: generates normalised log-mel spectrograms and decodes them to audio through a vocoder run
or Griffin-Lim."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from .base import GeneratingPipeline, Pipeline, WrongDomainError, as_tensor


class MelPipeline(GeneratingPipeline, domain="mel"):
    """sample_mel → mels [n, n_mels, F]; decode → audio [n, F·hop]; sample = both."""

    what = "a mel-domain run"
    misuse_hint = ": it generates mel spectrograms (pipe.sample_mel) and audio from them (pipe.sample)"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.vocoder: Pipeline | None = None   # the default vocoder of `decode` (else Griffin-Lim)

    def sample_mel(self, n: int = 1, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                   frames: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
                   labels: int | Sequence[int] | Tensor | None = None, guidance: float | None = None,
                   window: int | None = None, **options: Any) -> Tensor:
        """A mel-domain run: n normalised log-mel spectrograms, float32 [n, n_mels, frames] (default frames:
        clip_length // hop_length).  Options as in `sample`; `decode` turns them into audio.  Frames beyond
        `window` (when given) are made by windowed continuation, `window` frames at a time."""
        frames = frames or self.features.frames(self.clip_length)
        x = self._generate(n, self.features.n_mels, frames, steps=steps, sampler=sampler, seed=seed,
                           generator=generator, progress=progress, labels=labels, guidance=guidance, window=window,
                           **options)
        return x.float().cpu()

    def generate(self, n: int, length: int | None = None, vocoder: "Pipeline | str | Path | None" = None,
                 seed: int | None = None, generator: torch.Generator | None = None, progress: bool = False,
                 seconds: float | None = None, **chain: Any) -> tuple[Tensor, Tensor]:
        """(audio [n, F·hop], mels [n, n_mels, F]) with F = length // hop: the mels sampled (`sample_mel`) and
        decoded (`decode`) through `vocoder` (a vocoder run or its path; default `self.vocoder`) or Griffin-Lim.
        `audiodiff sample` writes both (--save-mel, --plot); see GeneratingPipeline.sample."""
        long = self._long_length(length, seconds)
        window = None
        if long is not None:
            length, window = long, self.features.frames(self.clip_length)
        frames = None if length is None else self.features.frames(length)
        mels = self.sample_mel(n, frames=frames, seed=seed, generator=generator, progress=progress, window=window,
                               **chain)
        return self.decode(mels, vocoder=vocoder, generator=generator, seed=seed, progress=progress), mels

    def decode(self, mel: Any, vocoder: "Pipeline | str | Path | None" = None, seed: int | None = None,
               generator: torch.Generator | None = None, progress: bool = False, **vocode_options: Any) -> Tensor:
        """A mel-domain run's normalised mels [n, n_mels, F] (or [n_mels, F]) → audio [n, F·hop] (or [F·hop]).

        Through `vocoder` (a vocoder run, or its path; default: `self.vocoder`), whose [sample] settings
        apply unless given in vocode_options, or through Griffin-Lim when there is none."""
        vocoder = vocoder if vocoder is not None else self.vocoder
        mel = as_tensor(mel).float()
        if vocoder is None:
            return self.features.decode_griffin_lim(mel.to(self.device)).float().cpu()
        if not isinstance(vocoder, Pipeline):
            vocoder = Pipeline.from_pretrained(vocoder, device=self.device, precision=self.precision)
        self.check_vocoder(vocoder)
        return vocoder.vocode(mel, features=self.features, seed=seed, generator=generator, progress=progress,
                              **vocode_options)

    def check_vocoder(self, vocoder: Pipeline, name: str | Path = "the vocoder") -> None:
        """Raise ValueError unless `vocoder` is a vocoder run for this run's mel settings (statistics may differ)."""
        check = getattr(vocoder, "check_features", None)
        if check is None:
            raise WrongDomainError(f"{name} is not a vocoder run (its domain is {vocoder.domain!r})")
        check(self.features, name)
