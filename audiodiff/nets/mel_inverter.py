"""MelInverter: a vocoder network that predicts the linear-frequency magnitude spectrogram under a mel, for
Griffin-Lim to give it a phase (Tacotron's post-net and Griffin-Lim, with SpectralMasker's frame blocks).

    normalised log-mel [B, n_mels, F] ──1×1 conv to `channels`──► stacks × layers dilated frame blocks
        ──1×1 conv to n_fft / 2 + 1 bins──► + a 1×1 linear map of the log-mel itself ──► log |Ŝ|
        ──exp──► |Ŝ| [B, n_fft / 2 + 1, F]

Why: Griffin-Lim from a recording's own STFT magnitude is near transparent on clean speech (PESQ 4.3 at 64
iterations on held-out Asterisk prompts), while Griffin-Lim from the least-squares inverse of its 80-band mel
scores 2.8 (recipes/vocoder-cpu/README.md): what an 80-band mel loses is the magnitude's fine structure
(harmonics above the lowest bands), not the phase.  Predicting that structure from the mel is a regression a
2-core CPU learns in minutes; a waveform diffusion vocoder has to learn phase from noise and needs GPU-days.
It answers in one call (`objective = "magnitude"`: training/objectives.MagnitudeRegression fits |Ŝ| to the
clip's STFT magnitude, power-law compressed); the vocoder pipeline runs Griffin-Lim on its answer.  n_fft,
hop_length and win_length are the run's [features] (frame i of the output lies under mel frame i).
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import Count
from .spectral_mask import FrameBlock

LOG_MAGNITUDE_MAX = 8.0    # |Ŝ| ≤ e^8 ≈ 3,000: above any STFT bin of audio in [−1, 1] (at most n_fft / 2)
LOG_MAGNITUDE_START = -5.0  # the output's starting level (|Ŝ| ≈ 0.007, a quiet bin), so the first steps are not loud


class MelInverter(nn.Module):
    """Normalised log-mel [B, n_mels, F] → STFT magnitude [B, n_fft / 2 + 1, F] (float32).

    n_mels / n_fft / hop_length / win_length: the run's mel features (set from [features]); channels: the width
    between blocks; hidden: inside each block; layers: blocks per stack (dilations 1 … 2^(layers−1) frames);
    stacks: repeats of the dilation cycle; kernel_size: odd, of the depthwise frame convolution."""

    objective = "magnitude"

    def __init__(self, n_mels: Count = 80, n_fft: Count = 1024, hop_length: Count = 256, win_length: Count = 1024,
                 channels: Count = 256, hidden: Count = 512, layers: Count = 5, stacks: Count = 2,
                 kernel_size: Count = 3):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (the frame convolution is centred), got {kernel_size}")
        if not hop_length <= win_length <= n_fft:
            raise ValueError(f"need hop_length <= win_length <= n_fft, got {hop_length}, {win_length}, {n_fft}")
        self.n_mels, self.n_fft = int(n_mels), int(n_fft)
        self.hop_length, self.win_length = int(hop_length), int(win_length)
        self.encode = nn.Conv1d(self.n_mels, channels, 1)
        self.blocks = nn.Sequential(*(FrameBlock(channels, hidden, kernel_size, 2 ** i)
                                      for _ in range(stacks) for i in range(layers)))
        self.decode = nn.Conv1d(channels, self.n_fft // 2 + 1, 1)
        nn.init.zeros_(self.decode.weight)
        nn.init.constant_(self.decode.bias, LOG_MAGNITUDE_START)
        # a linear path from the log-mel to the log-magnitude (the smooth envelope, learnt in a few hundred
        # steps); the blocks add what is not linear in it (harmonics from the pitch the lowest bands show)
        self.envelope = nn.Conv1d(self.n_mels, self.n_fft // 2 + 1, 1, bias=False)
        nn.init.zeros_(self.envelope.weight)

    def forward(self, mel: Tensor) -> Tensor:
        """mel [B, n_mels, F] → |Ŝ| [B, n_fft / 2 + 1, F], float32 whatever the autocast."""
        if mel.ndim != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"this vocoder expects mel spectrograms [B, {self.n_mels}, frames], got shape "
                             f"{tuple(mel.shape)}")
        mel = mel.to(self.encode.weight.dtype)
        log_magnitude = self.decode(self.blocks(self.encode(mel))) + self.envelope(mel)
        log_magnitude = log_magnitude.float().clamp(max=LOG_MAGNITUDE_MAX)
        return log_magnitude.exp()
