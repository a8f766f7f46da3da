"""Training objectives: what one step of the Trainer's loop optimises, one class each.

An objective draws its randomness for the whole batch first (`draw`, from the trainer's noise generator, so
splitting the batch into micro-batches or processes does not change the numbers), then gives per-example loss
terms for one micro-batch (`loss_terms`: x0 [b, C, L] and the drawn tensors and conditioning cut to the same b).

    DiffusionObjective   an ε-network: x_t at a random step, the loss of GaussianDiffusion.loss_terms
    SpectralRegression   a network that answers in one call (nets: objective = "regression"): its output for the
                         noisy input cond_wave against the clean x0, in a power-law compressed spectral loss
    Classification       a classifier (nets: objective = "classification"): cross-entropy on augmented clips
    ProgressiveDistillation  a student's one DDIM step against its teacher's two (training/distillation.py sets
                         it up and moves it from round to round)

`objective_for(model_cfg, diffusion)` picks one from the network's declared objective.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diffusion import GaussianDiffusion
from ..nets import network_objective
from ..nets.spectral_mask import COMPRESSION


class Objective:
    """The per-step loss of one kind of network.  Subclasses override `loss_terms` (and `draw` if random)."""

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Random tensors for the whole batch x0 [B, …], each [B, …] (cut along dim 0 with the batch)."""
        return {}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        """Per-example losses [b] of model on the micro-batch x0 [b, C, L]."""
        raise NotImplementedError


class DiffusionObjective(Objective):
    """The diffusion loss at uniformly drawn steps t with fresh Gaussian noise (GaussianDiffusion.loss_terms)."""

    def __init__(self, diffusion: GaussianDiffusion):
        self.diffusion = diffusion

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """t [B] then noise like x0, in the order GaussianDiffusion.loss_terms would draw them."""
        t = torch.randint(0, self.diffusion.num_steps, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return {"t": t, "noise": noise}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        terms, _ = self.diffusion.loss_terms(model, x0, t=drawn["t"], noise=drawn["noise"], **cond)
        return terms


class SpectralRegression(Objective):
    """model(cond_wave) against the clean x0 [b, 1, L] in the compressed spectral loss of Braun & Tashev (2021,
    "A consolidated view of loss functions for supervised deep learning-based speech enhancement"): the mean
    squared distance of |S|^c (magnitudes) mixed with that of |S|^c·e^{jφ} (complex, so phase errors count),
    c = COMPRESSION (0.3, the exponent SpectralMasker's features use too), weight `complex_weight` on the complex
    term.  Their comparison found this pair best for PESQ among the usual losses; the compression keeps quiet speech
    bins from being ignored next to loud ones."""

    def __init__(self, n_fft: int = 512, hop_length: int = 128, compression: float = COMPRESSION,
                 complex_weight: float = 0.3):
        self.n_fft, self.hop_length = n_fft, hop_length
        self.compression, self.complex_weight = compression, complex_weight

    def compressed(self, wave: Tensor) -> Tensor:
        """wave [b, 1, L] → |S|^c·e^{jφ} [b, F, T] (complex, float32)."""
        window = torch.hann_window(self.n_fft, device=wave.device)
        spec = torch.stft(wave.reshape(wave.shape[0], -1).float(), self.n_fft, self.hop_length, window=window,
                          center=True, pad_mode="constant", return_complex=True)
        magnitude = spec.abs().clamp_min(1e-8)
        return spec / magnitude * magnitude.pow(self.compression)

    def spectral_loss(self, estimate: Tensor, clean: Tensor) -> Tensor:
        """Per-example loss [b] of estimate against clean, both [b, 1, L]."""
        with torch.autocast(estimate.device.type, enabled=False):
            s, c = self.compressed(estimate), self.compressed(clean)
            magnitude = (s.abs() - c.abs()).pow(2).mean(dim=(1, 2))
            complex_ = (s - c).abs().pow(2).mean(dim=(1, 2))
        return (1 - self.complex_weight) * magnitude + self.complex_weight * complex_

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        if "cond_wave" not in cond:
            raise ValueError("a regression network learns from (noisy, clean) pairs: [data] domain = \"denoiser\"")
        return self.spectral_loss(model(cond["cond_wave"]), x0)


class Classification(Objective):
    """Cross-entropy of the network's logits on clips augmented by a random shift, gain and white noise
    (eval/scorer.augment, drawn for the whole batch) against cond["labels"] [b]."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        from ..eval.scorer import augment

        return {"augmented": augment(x0, self.sample_rate, generator)}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(model(drawn["augmented"]).float(), cond["labels"], reduction="none")


class ProgressiveDistillation(Objective):
    """Salimans & Ho (2022): at level 2i of the teacher's 2N-level DDIM plan, x_t = the clean x0 noised there; the
    student's output must be what makes its one DDIM step land where the teacher's two land
    (GaussianDiffusion.distillation_target), squared error weighted by `weighting` (distillation_weight).  The
    plan is the round's (set_round)."""

    def __init__(self, diffusion: GaussianDiffusion, teacher: nn.Module, weighting: str):
        self.diffusion, self.teacher, self.weighting = diffusion, teacher, weighting
        self.plan: tuple[Tensor, Tensor, Tensor] | None = None
        self.student_steps = 0
        self.sample: dict[str, Any] = {}

    def set_round(self, plan: tuple[Tensor, Tensor, Tensor], student_steps: int, sample: dict[str, Any]) -> None:
        """The round's plan (t_model, ᾱ, ᾱ_prev of its 2N levels, on the device), N, and the [sample] options
        (clip_x0) the teacher's steps use."""
        self.plan, self.student_steps, self.sample = plan, student_steps, sample

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """The student's step index i [B] in [0, N), noise like x0, and the training step t there (loss bins)."""
        i = torch.randint(0, self.student_steps, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return {"i": i, "noise": noise, "t": self.plan[0][2 * i].long()}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        t_plan, ab_plan, prev_plan = self.plan
        shape = (-1,) + (1,) * (x0.ndim - 1)
        k = 2 * drawn["i"]
        t, ab = t_plan[k], ab_plan[k].reshape(shape)
        x_t = self.diffusion.at_level(x0, drawn["noise"], ab)
        with torch.no_grad():
            target = self.diffusion.distillation_target(
                self.teacher, x_t, t, ab, t_plan[k + 1], ab_plan[k + 1].reshape(shape), prev_plan[k + 1].reshape(shape),
                clip_x0=self.sample.get("clip_x0", "none"),
                dynamic_percentile=self.sample.get("dynamic_percentile", 0.995), **cond)
        out = model(x_t, t.to(torch.float32), **cond)
        err = (out.float() - target.float()).pow(2).flatten(1).mean(dim=1)
        return err * self.diffusion.distillation_weight(ab, self.weighting).to(err.device)


def objective_for(model_cfg: dict[str, Any], diffusion: GaussianDiffusion) -> Objective:
    """The objective a [model] table's network is trained by (nets.network_objective)."""
    kind = network_objective(model_cfg)
    if kind == "regression":
        return SpectralRegression()
    if kind == "classification":
        return Classification(int(model_cfg["sample_rate"]))
    return DiffusionObjective(diffusion)
