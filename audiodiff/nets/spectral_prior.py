"""SpectralPrior: a waveform diffusion network that answers with a gain on x_t's short-time spectrum.

    x_t [B, 1, L] ──STFT──► X [B, F, T] ──|X|^0.3──► 1×1 conv to `channels`
        ──+ step bias──► stacks × layers dilated frame blocks (SpectralMasker's), each hearing its own bias
          of the step embedding ──► 1×1 conv to F, sigmoid──► M ∈ (0, 1)
        ──inverse STFT of g(t) · M · X──► output [B, 1, L],  g(t) = exp(a learned scalar of the step)

Trained with [diffusion] prediction = "x0", the output is x̂0: the posterior mean of a clean signal under white
Gaussian noise is, bin by bin, a gain on the noisy spectrum (exactly so for a Gaussian prior: Wiener's), and x_t
is x0 scaled by √ᾱ_t plus noise, which the step's own gain g(t) learns to undo.  It is SpectralMasker (the
supervised denoiser) made into a prior: the same features and blocks, told the step instead of hearing a
recording, so what it learns in a CPU hour is the per-bin decision denoising needs, and `denoise`, `inpaint` and
`upsample` work with it as with any waveform run.  A gain on x_t cannot invent phase or fine structure that x_t
lacks, so as a generator it is weak: it shapes noise into speech's spectral envelope, step by step.  The network
knows nothing of schedules: the step only selects learned biases.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..audio import pad_for_stft
from ..spectral_loss import compressed_magnitude
from .layers import Count, StepEmbedding, zero_init
from .spectral_mask import SpectralMasker

EMBED_DIM = 128


class SpectralPrior(SpectralMasker):
    """x_t [B, 1, L], step t [B] → output [B, 1, L] (x̂0 when trained with prediction = "x0").

    n_fft / hop_length / channels / hidden / layers / stacks / kernel_size: as SpectralMasker's."""

    objective = "diffusion"

    def __init__(self, n_fft: Count = 512, hop_length: Count = 128, channels: Count = 128, hidden: Count = 384,
                 layers: Count = 8, stacks: Count = 2, kernel_size: Count = 3):
        super().__init__(n_fft, hop_length, channels, hidden, layers, stacks, kernel_size, fold=False)
        self.embed = StepEmbedding(EMBED_DIM, EMBED_DIM)
        blocks = len(self.blocks)
        self.step_bias = zero_init(nn.Linear(EMBED_DIM, channels * (blocks + 1)))
        self.step_gain = zero_init(nn.Linear(EMBED_DIM, 1))

    def step_mask(self, spec: Tensor, emb: Tensor) -> Tensor:
        """The gains M in (0, 1) for every bin and frame of spec [B, F, T] at step embedding emb [B, E]."""
        features = compressed_magnitude(spec.abs())
        biases = self.step_bias(emb).to(self.encode.weight.dtype).chunk(len(self.blocks) + 1, dim=-1)
        h = self.encode(features.to(self.encode.weight.dtype)) + biases[0][..., None]
        for block, bias in zip(self.blocks, biases[1:]):
            h = block(h + bias[..., None])
        return torch.sigmoid(self.decode(h)).float()

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """x [B, 1, L] (or [B, L]), t [B] → [B, 1, L], float32 whatever the autocast."""
        if labels is not None:
            raise ValueError("SpectralPrior has no classes: sample without a label")
        wave = x.reshape(x.shape[0], -1).float()
        length = wave.shape[-1]
        wave = pad_for_stft(wave, self.n_fft)
        emb = self.embed(t)
        gain = self.step_gain(emb).float().exp()[:, :, None]                # [B, 1, 1]
        with torch.autocast(wave.device.type, enabled=False):
            spec = self.stft(wave)
        m = self.step_mask(spec, emb)
        with torch.autocast(wave.device.type, enabled=False):
            out = self.istft(gain * m * spec, wave.shape[-1])
        return out[:, None, :length]
