"""The peer adapter: lmnt-com/diffwave (PyPI diffwave==0.1.7, the `bench` extra, installed with --no-deps) and
audiodiff behind one face, `Side` (a network, its training step and its sampling chain), on the same shapes.

Networks (same shapes on both sides; speed.py checks the parameter counts are equal before timing):

  vocoder   the LJSpeech BASE vocoder: 30 residual layers × 64 channels, dilation cycle 10, 80 mels, hop 256,
            T = 50, β linear 1e-4 → 0.05 (lmnt's params.py; audiodiff's recipes/ljspeech-vocoder)
  sc09      the SC09-sized network, 36 × 256, cycle 12, T = 200, β 1e-4 → 0.02.  diffwave 0.1.7 has no
            unconditional model (its DiffWave always takes a spectrogram), so both sides run the
            mel-conditioned 36 × 256 network here (25,527,491 parameters on both sides, against 24,034,305
            unconditional).

The training step: random t, q_sample, the network, MSE on ε, backward, clip_grad_norm_, AdamW.  The peer's is its
learner.py train_step with MSE and AdamW; audiodiff's is GaussianDiffusion.loss.  Sampling: the peer's own
diffwave.inference.predict against audiodiff's sampler as Pipeline.vocode runs it.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

import audiodiff
from audiodiff.precision import cast_network, compile_network
from audiodiff.sampling import DIFFWAVE_FAST_BETAS

NETS = {
    "vocoder": dict(layers=30, channels=64, cycle=10, num_steps=50, beta_end=0.05, sample_rate=22050),
    "sc09": dict(layers=36, channels=256, cycle=12, num_steps=200, beta_end=0.02, sample_rate=16000),
}
TINY = dict(layers=4, channels=16)
N_MELS, HOP = 80, 256
CUDA_SHAPES = {"vocoder": (16, 62), "sc09": (16, 63)}   # (batch, mel frames): 15,872 and 16,128 samples
CPU_SHAPES = {"vocoder": (2, 16), "sc09": (1, 16)}      # 4,096 samples: CPU steps of seconds, not minutes
PEER = "diffwave 0.1.7"


def load_peer():
    try:
        from diffwave import inference, model, params
    except ImportError:
        raise SystemExit("the peer is not installed: pip install --no-deps diffwave==0.1.7")
    return model, params, inference


def peer_batch(cfg: dict, batch: int, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The clips both sides train on: audio [B, frames·HOP] (a 220 Hz tone plus noise, in [-1, 1]) and a random
    mel [B, N_MELS, frames]."""
    length = frames * HOP
    t = torch.arange(length, device=device) / cfg["sample_rate"]
    audio = (0.5 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(batch, length, device=device)).clamp(-1, 1)
    return audio, torch.randn(batch, N_MELS, frames, device=device)


class Side:
    """One implementation: its network, its training step and its sampling chain."""

    def __init__(self, name: str, net: torch.nn.Module, device: torch.device, precision: str, compile_: bool):
        self.name, self.net, self.device = name, net.to(device), device
        self.precision, self.compile = precision, compile_
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=2e-4)
        self.train_net = torch.compile(self.net) if compile_ else self.net

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def train_step(self, audio: torch.Tensor, mel: torch.Tensor, after=None) -> torch.Tensor:
        """One optimiser step; after(phase), if given, runs once the "forward" (the loss), the "backward" and the
        "optimizer" step (clipping + AdamW) are done (gpu/levers.py reads memory there)."""
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss(audio, mel)
        if after:
            after("forward")
        loss.backward()
        if after:
            after("backward")
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        if after:
            after("optimizer")
        return loss.detach()


class Peer(Side):
    def __init__(self, cfg: dict, device, precision, compile_):
        model, params, self.inference = load_peer()
        self.params = params.AttrDict(params.params).override(dict(
            residual_layers=cfg["layers"], residual_channels=cfg["channels"], dilation_cycle_length=cfg["cycle"],
            noise_schedule=np.linspace(1e-4, cfg["beta_end"], cfg["num_steps"]).tolist(),
            inference_noise_schedule=list(DIFFWAVE_FAST_BETAS), sample_rate=cfg["sample_rate"]))
        super().__init__(PEER, model.DiffWave(self.params), device, precision, compile_)
        beta = np.array(self.params.noise_schedule)
        self.noise_level = torch.tensor(np.cumprod(1 - beta).astype(np.float32), device=device)
        self.key = f"vs_diffwave-{id(self)}"
        self.inference.models[self.key] = self.net.eval() if not compile_ else torch.compile(self.net.eval())

    def loss(self, audio, mel):
        """learner.py's train_step, with MSE: audio [B, L], mel [B, 80, L / 256]."""
        n = audio.shape[0]
        t = torch.randint(0, len(self.params.noise_schedule), [n], device=audio.device)
        scale = self.noise_level[t].unsqueeze(1)
        noise = torch.randn_like(audio)
        noisy = scale ** 0.5 * audio + (1.0 - scale) ** 0.5 * noise
        return F.mse_loss(self.train_net(noisy, mel, t).squeeze(1), noise)

    def sample(self, mel, fast: bool) -> torch.Tensor:
        self.net.eval()
        with self.autocast():
            audio, _ = self.inference.predict(mel, model_dir=self.key, device=self.device, fast_sampling=fast)
        self.net.train()
        return audio

    def close(self) -> None:
        """Drop the network from diffwave.inference's model cache."""
        self.inference.models.pop(self.key, None)


class Ours(Side):
    def __init__(self, cfg: dict, device, precision, compile_):
        net = audiodiff.DiffWave(cfg["layers"], cfg["channels"], cfg["cycle"], n_mels=N_MELS, hop_length=HOP)
        super().__init__("audiodiff", net, device, precision, compile_)
        self.diffusion = audiodiff.GaussianDiffusion(audiodiff.NoiseSchedule.linear(cfg["num_steps"], 1e-4,
                                                                                    cfg["beta_end"]))
        self._sampling_net = None

    def loss(self, audio, mel):
        return self.diffusion.loss(self.train_net, audio[:, None], mel=mel)

    def sample(self, mel, fast: bool) -> torch.Tensor:
        """What Pipeline.vocode runs: the network at the sampling precision (cast once), compiled if asked."""
        if self._sampling_net is None:
            net = cast_network(self.net.eval(), self.precision)
            self._sampling_net = compile_network(net, self.device) if self.compile else net
        self.net.eval()
        x = self.diffusion.sample(self._sampling_net, (mel.shape[0], 1, mel.shape[-1] * HOP),
                                  sampler="fast" if fast else "ddpm", device=self.device, mel=mel)
        self.net.train()
        return x[:, 0]
