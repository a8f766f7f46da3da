"""GaussianDiffusion: the one place where model outputs become ε̂ / x̂0 and where the training loss lives.

Every sampler and the trainer go through `split_output` and `target`, so the ε / v / x0 conversions
are written once:  x_t = a·x0 + s·ε  with a = √ᾱ_t, s = √(1−ᾱ_t), and v = a·ε − s·x0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import sampling
from .options import option
from .sampling import Model, ddim_mean
from .schedule import LINEAR_BETAS, NUM_STEPS, SCHEDULES, NoiseSchedule, gather
from .spectral_loss import compressed_spectral_loss

PREDICTIONS = ("eps", "v", "x0")
# "spectral": the compressed spectral distance (spectral_loss.py) of x̂0 from x0, whatever the prediction: a speech
# prior for denoising spends its training on what PESQ hears, at every level alike (the compression keeps the
# quiet levels' errors from vanishing next to the noisy ones).
LOSSES = ("mse", "l1", "spectral")
# Progressive distillation's loss weights, in x̂0 terms (Salimans & Ho 2022, sec. 4): "snr+1" = (1 + SNR)·‖x̂0 − x0‖²
# (the v-MSE), "truncated-snr" = max(SNR, 1)·‖x̂0 − x0‖².
DISTILL_WEIGHTINGS = ("snr+1", "truncated-snr")


class GaussianDiffusion:
    """A noise schedule plus what the network predicts (ε, v or x0) and how it is trained."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "eps", loss_type: str = "mse",
                 min_snr_gamma: float | None = None):
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if loss_type not in LOSSES:
            raise ValueError(f"loss_type must be one of {LOSSES}, got {loss_type!r}")
        if min_snr_gamma is not None and min_snr_gamma <= 0:
            raise ValueError(f"min_snr_gamma must be > 0, got {min_snr_gamma}")
        if min_snr_gamma is not None and loss_type == "spectral":
            raise ValueError("min_snr_gamma weights the prediction's squared error; the spectral loss is measured "
                             "on x̂0 at every level alike: leave min_snr_gamma out (0) or use loss = \"mse\"")
        self.schedule = schedule
        self.prediction = prediction
        self.loss_type = loss_type
        self.min_snr_gamma = min_snr_gamma

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    # ----------------------------------------------------------------- conversions
    def target(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network is trained to output at step t.  x0, noise: [B, C, L]; t: [B]."""
        if self.prediction == "eps":
            return noise
        if self.prediction == "x0":
            return x0
        a = gather(self.schedule.sqrt_alphas_cumprod, t, x0)
        s = gather(self.schedule.sqrt_one_minus_alphas_cumprod, t, x0)
        return a * noise - s * x0

    def split_output(self, out: Tensor, x_t: Tensor, alpha_bar: Tensor) -> tuple[Tensor, Tensor]:
        """Model output → (x̂0, ε̂) given the true noise level ᾱ of x_t (broadcastable to x_t)."""
        alpha_bar = alpha_bar.to(device=x_t.device, dtype=torch.float64)
        a = alpha_bar.sqrt().to(x_t.dtype)
        s = (1 - alpha_bar).sqrt().to(x_t.dtype)
        out = out.to(x_t.dtype)
        if self.prediction == "eps":
            return (x_t - s * out) / a, out
        if self.prediction == "x0":
            return out, (x_t - a * out) / s
        return a * x_t - s * out, s * x_t + a * out

    def output_for(self, x0: Tensor, x_t: Tensor, alpha_bar: Tensor) -> Tensor:
        """The model output that `split_output` turns into this x̂0 at x_t (level ᾱ, broadcastable to x_t):
        its inverse, so a target in x̂0 terms becomes a target in the run's own parameterisation."""
        a, s = _coefficients(alpha_bar, x_t)
        if self.prediction == "x0":
            return x0.to(x_t.dtype)
        eps = (x_t - a * x0) / s
        return eps if self.prediction == "eps" else a * eps - s * x0

    @staticmethod
    def at_level(x0: Tensor, noise: Tensor, alpha_bar: Tensor) -> Tensor:
        """x_t = √ᾱ·x0 + √(1−ᾱ)·noise at a (possibly fractional-step) level ᾱ broadcastable to x0."""
        a, s = _coefficients(alpha_bar, x0)
        return a * x0 + s * noise

    def ddim_step(self, x_t: Tensor, x0: Tensor, alpha_bar: Tensor, alpha_bar_next: Tensor) -> Tensor:
        """One deterministic DDIM step (η = 0) from x_t at level ᾱ to ᾱ_next given x̂0, with ε̂ the one that
        makes x_t = √ᾱ·x̂0 + √(1−ᾱ)·ε̂ (as every sampler sees them); the update is the samplers' own
        (sampling.ddim_mean).  Levels broadcast against x_t (one per example allowed); ᾱ_next = 1 lands on x̂0."""
        a, s = _coefficients(alpha_bar, x_t)
        a_next = torch.as_tensor(alpha_bar_next, dtype=torch.float64, device=x_t.device).to(x_t.dtype)
        return ddim_mean(x0, (x_t - a * x0) / s, a_next)

    def x0_landing_at(self, x_t: Tensor, x_next: Tensor, alpha_bar: Tensor, alpha_bar_next: Tensor) -> Tensor:
        """The x̂0 whose DDIM step (`ddim_step`) from x_t at ᾱ to ᾱ_next lands exactly on x_next:
        x̂0 = (x_next − (s'/s)·x_t) / (a' − s'·a/s), with a = √ᾱ, s = √(1−ᾱ) and a', s' at ᾱ_next (Salimans & Ho
        2022, Algorithm 2's target)."""
        a, s = _coefficients(alpha_bar, x_t)
        a_next, s_next = _coefficients(alpha_bar_next, x_t)
        ratio = s_next / s
        return (x_next - ratio * x_t) / (a_next - ratio * a)

    def distillation_target(self, teacher: Model, x_t: Tensor, t: Tensor, alpha_bar: Tensor, t_mid: Tensor,
                            alpha_bar_mid: Tensor, alpha_bar_next: Tensor, clip_x0: str = "none",
                            dynamic_percentile: float = 0.995, **cond: Any) -> Tensor:
        """Progressive distillation (Salimans & Ho 2022): the output the student should give at x_t (step t [B],
        level ᾱ [B, 1, …]) so that ONE DDIM step to ᾱ_next lands where the teacher's TWO DDIM steps (to ᾱ_mid,
        told step t_mid, then to ᾱ_next) land; in the run's parameterisation.  Call it without gradient."""
        x0, _ = self.predict(teacher, x_t, t, alpha_bar, clip_x0, dynamic_percentile, **cond)
        x_mid = self.ddim_step(x_t, x0, alpha_bar, alpha_bar_mid)
        x0, _ = self.predict(teacher, x_mid, t_mid, alpha_bar_mid, clip_x0, dynamic_percentile, **cond)
        x_next = self.ddim_step(x_mid, x0, alpha_bar_mid, alpha_bar_next)
        return self.output_for(self.x0_landing_at(x_t, x_next, alpha_bar, alpha_bar_next), x_t, alpha_bar)

    def distillation_weight(self, alpha_bar: Tensor, weighting: str = "snr+1") -> Tensor:
        """Per-example weights [B] of the squared output error that make it the paper's loss in x̂0 terms
        (DISTILL_WEIGHTINGS): w_x0(SNR)·‖x̂0 − x0‖² = w·‖out − target‖², since ‖out error‖² is SNR·‖x̂0 error‖²
        for ε, (1 + SNR)· for v and 1· for x0.  ε-prediction's weight grows without bound at low SNR: the paper
        (and this one) distil v- or x0-prediction runs best."""
        if weighting not in DISTILL_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(DISTILL_WEIGHTINGS)}, got {weighting!r}")
        ab = torch.as_tensor(alpha_bar, dtype=torch.float64).reshape(-1)
        snr = ab / (1 - ab)
        w_x0 = snr + 1 if weighting == "snr+1" else snr.clamp(min=1.0)
        per_unit = {"eps": snr, "v": snr + 1, "x0": torch.ones_like(snr)}[self.prediction]
        return (w_x0 / per_unit).float()

    def predict(self, model: Model, x_t: Tensor, t_model: Tensor, alpha_bar: Tensor, clip_x0: str = "none",
                dynamic_percentile: float = 0.995, **cond: Any) -> tuple[Tensor, Tensor]:
        """Call the network at (possibly fractional) step t_model: [B] and convert to (x̂0, ε̂), with x̂0
        clipped as `clip_x0` says (see `clip_x0`)."""
        out = model(x_t, t_model.to(device=x_t.device, dtype=torch.float32), **cond)
        if out.shape != x_t.shape:
            raise ValueError(f"the model returned shape {tuple(out.shape)} for input {tuple(x_t.shape)}")
        x0, eps = self.split_output(out, x_t, alpha_bar)
        if clip_x0 == "none":
            return x0, eps
        return self.clip_x0(x0, x_t, alpha_bar, clip_x0, dynamic_percentile)

    @staticmethod
    def clip_x0(x0: Tensor, x_t: Tensor, alpha_bar: Tensor, mode: str, percentile: float = 0.995
                ) -> tuple[Tensor, Tensor]:
        """Clip x̂0 [B, ...] and return (x̂0, ε̂) with ε̂ = (x_t − √ᾱ·x̂0)/√(1−ᾱ), so x_t = √ᾱ·x̂0 + √(1−ᾱ)·ε̂
        still holds and every update rule sees one consistent pair.

        mode "clip": clamp to [−1, 1].  "dynamic" (Saharia et al. 2022, Imagen): per example, s = the
        `percentile` quantile (nearest rank) of |x̂0|, at least 1; x̂0 → clamp(x̂0, −s, s)/s (untouched when |x̂0| <= 1).
        """
        if mode == "clip":
            x0 = x0.clamp(-1.0, 1.0)
        elif mode == "dynamic":
            flat = x0.detach().abs().flatten(1)
            k = min(flat.shape[1], max(1, math.ceil(percentile * flat.shape[1])))   # nearest-rank quantile
            s = flat.kthvalue(k, dim=1).values.clamp(min=1.0)
            s = s.reshape(-1, *([1] * (x0.ndim - 1)))
            x0 = torch.maximum(torch.minimum(x0, s), -s) / s
        else:
            raise ValueError(f"clip_x0 must be 'none', 'clip' or 'dynamic', got {mode!r}")
        alpha_bar = alpha_bar.to(device=x_t.device, dtype=torch.float64)
        a = alpha_bar.sqrt().to(x_t.dtype)
        sd = (1 - alpha_bar).sqrt().to(x_t.dtype)
        return x0, (x_t - a * x0) / sd

    # ----------------------------------------------------------------- training
    def loss_weight(self, t: Tensor) -> Tensor:
        """Min-SNR-γ weights (Hang et al. 2023), expressed for the chosen target; ones without γ."""
        if self.min_snr_gamma is None:
            return torch.ones(t.shape, dtype=torch.float32, device=t.device)
        snr = self.schedule.snr(t)
        clipped = snr.clamp(max=self.min_snr_gamma)
        if self.prediction == "eps":
            w = clipped / snr
        elif self.prediction == "x0":
            w = clipped
        else:
            w = clipped / (snr + 1)
        return w.to(device=t.device, dtype=torch.float32)

    def loss_terms(self, model: Model, x0: Tensor, t: Tensor | None = None, noise: Tensor | None = None,
                   generator: torch.Generator | None = None, loss_weights: Tensor | None = None,
                   **cond: Any) -> tuple[Tensor, Tensor]:
        """Per-example weighted losses [B] and the steps t [B] they were drawn at.  loss_weights [B, 1, L] (or
        broadcastable to x0): a weighted mean over each example's samples instead of the plain mean (a gap-filling
        run weighs the gap above the context it is given)."""
        b = x0.shape[0]
        if t is None:
            t = torch.randint(0, self.num_steps, (b,), device=x0.device, generator=generator)
        if noise is None:
            noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        x_t = self.schedule.q_sample(x0, t, noise)
        out = model(x_t, t.to(torch.float32), **cond)
        if self.loss_type == "spectral":
            if loss_weights is not None:
                raise ValueError("loss = \"spectral\" measures whole clips; per-sample loss weights need loss = "
                                 "\"mse\" or \"l1\"")
            alpha_bar = gather(self.schedule.alphas_cumprod, t, x0)
            x0_hat, _ = self.split_output(out.float(), x_t.float(), alpha_bar)
            return compressed_spectral_loss(x0_hat, x0), t
        target = self.target(x0, noise, t)
        err = F.mse_loss(out.float(), target.float(), reduction="none") if self.loss_type == "mse" \
            else F.l1_loss(out.float(), target.float(), reduction="none")
        if loss_weights is None:
            per_example = err.flatten(1).mean(dim=1)
        else:
            w = loss_weights.float().expand_as(err).flatten(1)
            per_example = (err.flatten(1) * w).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)
        return per_example * self.loss_weight(t), t

    def loss(self, model: Model, x0: Tensor, **kwargs: Any) -> Tensor:
        """Scalar training loss on a batch x0: [B, C, L]."""
        per_example, _ = self.loss_terms(model, x0, **kwargs)
        return per_example.mean()

    # ----------------------------------------------------------------- sampling
    def sample(self, model: Model, shape: tuple[int, ...], sampler: str = "ddpm", steps: int | None = None,
               **kwargs: Any) -> Tensor:
        """Run the reverse chain from x_T ~ N(0, I) with `sampler` (a name of audiodiff.sampling.SAMPLERS) and
        `steps` (None: every training step).  The sampler's options among kwargs (eta, variance, fast_betas,
        spacing, lambda_min, levels, clip_x0, dynamic_percentile) make one SamplerCall, checked once
        (SamplerCall.of); the rest (generator, device, x_start/t_start, constraint, resample, jump_length,
        progress_bar, conditioning) go to `audiodiff.sampling.sample`, which documents them all.  The sampling
        package reads only `schedule` and `predict` of this object, so it imports nothing from this module."""
        options, rest = sampling.split_options(kwargs)
        return sampling.sample(self, model, shape, sampling.SamplerCall.of(sampler, steps, **options), **rest)

    def to_config(self) -> dict[str, Any]:
        return {**self.schedule.to_config(), "prediction": self.prediction, "loss": self.loss_type,
                "min_snr_gamma": self.min_snr_gamma}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "GaussianDiffusion":
        return cls(NoiseSchedule.from_config(cfg), prediction=cfg.get("prediction", "eps"),
                   loss_type=cfg.get("loss", "mse"), min_snr_gamma=cfg.get("min_snr_gamma"))


def _coefficients(alpha_bar: Tensor | float, like: Tensor) -> tuple[Tensor, Tensor]:
    """(√ᾱ, √(1−ᾱ)) computed in float64, then cast to like's dtype and device."""
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64).to(like.device)
    return ab.sqrt().to(like.dtype), (1 - ab).sqrt().to(like.dtype)


@dataclass
class DiffusionConfig:
    """A recipe's [diffusion] table: the noise schedule (schedule.py) and what the network predicts and is
    trained with (GaussianDiffusion).  `build()` makes the diffusion and is the one check of values that go
    together (β order, a `betas` list); recipe.py adds the file and key to its ValueError."""
    schedule: str = option(SCHEDULES[0], choices=SCHEDULES)
    num_steps: int = option(NUM_STEPS, lo=1, hi=100000)
    beta_start: float = option(LINEAR_BETAS[0], lo=0, hi=1, lo_open=True, hi_open=True)
    beta_end: float = option(LINEAR_BETAS[1], lo=0, hi=1, lo_open=True, hi_open=True)
    betas: list = option([], help="schedule = 'betas': the explicit β list, one per step")
    prediction: str = option(PREDICTIONS[0], choices=PREDICTIONS)
    loss: str = option(LOSSES[0], choices=LOSSES)
    min_snr_gamma: float = option(0.0, lo=0, help="0 disables min-SNR weighting")

    def to_config(self) -> dict[str, Any]:
        """The table as GaussianDiffusion.from_config (and config.json's "diffusion") expects it."""
        cfg: dict[str, Any] = {"schedule": self.schedule, "prediction": self.prediction, "loss": self.loss,
                               "min_snr_gamma": self.min_snr_gamma or None}
        if self.schedule == "betas":
            cfg["betas"] = list(self.betas)
        else:
            cfg["num_steps"] = self.num_steps
            if self.schedule == "linear":
                cfg.update(beta_start=self.beta_start, beta_end=self.beta_end)
        return cfg

    def build(self) -> GaussianDiffusion:
        """The diffusion this table describes; ValueError (naming the key) when its values do not go together."""
        return GaussianDiffusion.from_config(self.to_config())
