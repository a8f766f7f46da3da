"""Training objectives: what one step of the Trainer's loop optimises, one class each.

An objective draws its randomness for the whole batch first (`draw`, from the trainer's noise generator, so
splitting the batch into micro-batches or processes does not change the numbers), then gives per-example loss
terms for one micro-batch (`loss_terms`: x0 [b, C, L] and the drawn tensors and conditioning cut to the same b).
Around the step it may hold state that a checkpoint keeps (`state_dict`), set the learning rate (`lr_factor`),
act before a step (`before_step`: distillation's rounds), ask for a checkpoint, add TensorBoard scalars, and say
how the run is evaluated (`evaluator`) and what happens at its end (`after_fit`).  The hooks take the Trainer
as an explicit argument; its public parts are `model`, `ema`, `optimizer`, `diffusion`, `config`, `cfg`, `step`,
`device`, `run_dir`, `is_main`, `data` (training_data.TrainingData) and `writer`.

    DiffusionObjective   an ε-network: x_t at a random step, the loss of GaussianDiffusion.loss_terms
    SpectralRegression   a network that answers in one call (nets: objective = "regression"): its output for the
                         noisy input cond_wave against the clean x0, in a power-law compressed spectral loss
    MagnitudeRegression  a vocoder network that predicts the STFT magnitude under a mel (nets: objective =
                         "magnitude"): its answer against the clip's own magnitude, power-law compressed
    Classification       a classifier (nets: objective = "classification", training/classification.py):
                         cross-entropy on augmented clips, validation and test accuracy
    ProgressiveDistillation  a student's one DDIM step against its teacher's two, round by round
                         (training/distillation.py)

`objective_for(model_cfg, diffusion)` picks one from the network's declared objective.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..diffusion import GaussianDiffusion
from ..features import magnitude_spectrogram
from ..nets import network_objective, network_options
from ..spectral_loss import (COMPLEX_WEIGHT, COMPRESSION, HOP_LENGTH, N_FFT, compressed_magnitude_loss,
                             compressed_spectral_loss)


class Objective:
    """The per-step loss of one kind of network, and what it adds around the step.  Subclasses override
    `loss_terms` (and `draw` if random); every other hook has a default that changes nothing."""

    labels_are_targets = False   # True: the batch's labels are what the network learns (never dropped, required)
    makes_audio = True           # False: no TensorBoard audio previews (a classifier)

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Random tensors for the whole batch x0 [B, …], each [B, …] (cut along dim 0 with the batch)."""
        return {}

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        """Per-example losses [b] of model on the micro-batch x0 [b, C, L]."""
        raise NotImplementedError

    # ----------------------------------------------------------------- around the step (defaults: nothing)
    def attach(self, trainer: Any) -> None:
        """Before the network is built and a checkpoint read: build what the objective holds (a teacher)."""

    def start(self, trainer: Any) -> None:
        """After the network, optimiser and any checkpoint are in place, before the first step."""

    def before_step(self, trainer: Any) -> None:
        """Before each optimiser step (trainer.step updates done so far)."""

    def lr_factor(self, s: int) -> float | None:
        """The learning-rate multiplier after s updates, or None for the run's own schedule (lr.py)."""
        return None

    def checkpoint_due(self, step: int) -> bool:
        """A checkpoint at this step besides the run's [train] checkpoint_every ones."""
        return False

    def scalars(self) -> dict[str, float]:
        """TensorBoard scalars logged with the loss."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What training_state.pt keeps of the objective (merged into it at the top level)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a training_state.pt dict what `state_dict` saved (KeyError / ValueError if it does not fit)."""

    def evaluator(self, trainer: Any) -> Any:
        """What scores the run every [train] eval_every steps (an object with `run()`), or None: by default FID / IS
        of EMA samples (evaluation.py)."""
        if not trainer.cfg.eval_every:
            return None
        from .evaluation import TrainingEvaluator

        return TrainingEvaluator(trainer)

    def after_fit(self, trainer: Any) -> None:
        """At the end of fit(), also when the run had nothing left to train."""


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
    """model(cond_wave) against the clean x0 [b, 1, L] in the compressed spectral loss of Braun & Tashev (2021;
    audiodiff/spectral_loss.py), weight `complex_weight` on its complex term."""

    def __init__(self, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, compression: float = COMPRESSION,
                 complex_weight: float = COMPLEX_WEIGHT):
        self.n_fft, self.hop_length = n_fft, hop_length
        self.compression, self.complex_weight = compression, complex_weight

    @classmethod
    def for_network(cls, model_cfg: dict[str, Any]) -> "SpectralRegression":
        """The loss for a [model] table's network.  A folding network (bandwidth extension) builds the added band
        from a mirrored copy of the input, whose phase carries no information about the true one: the complex
        term would only pull that band's level down (to about −10 dB), so it is fitted on magnitudes alone."""
        return cls(complex_weight=0.0 if model_cfg.get("fold") else COMPLEX_WEIGHT)

    def spectral_loss(self, estimate: Tensor, clean: Tensor) -> Tensor:
        """Per-example loss [b] of estimate against clean, both [b, 1, L]."""
        return compressed_spectral_loss(estimate, clean, self.complex_weight, self.n_fft, self.hop_length,
                                        self.compression)

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        if "cond_wave" not in cond:
            raise ValueError("a regression network learns from (degraded, clean) pairs: [data] domain = \"denoiser\" "
                             "or \"bandwidth\"")
        return self.spectral_loss(model(cond["cond_wave"]), x0)


class MagnitudeRegression(Objective):
    """model(mel) [b, F_bins, F] against the STFT magnitude of x0 [b, 1, F·hop] under the same settings
    (features.magnitude_spectrogram): the mean squared difference of |·|^COMPRESSION, the magnitude term of the
    compressed spectral loss.  The compression keeps the quiet upper harmonics from vanishing next to the
    first; the phase is Griffin-Lim's at synthesis, so nothing here fits one."""

    def __init__(self, n_fft: int, hop_length: int, win_length: int, compression: float = COMPRESSION):
        self.n_fft, self.hop_length, self.win_length, self.compression = n_fft, hop_length, win_length, compression

    @classmethod
    def for_network(cls, model_cfg: dict[str, Any]) -> "MagnitudeRegression":
        """The loss on the STFT a [model] table's network answers in (its n_fft / hop / win: the run's [features])."""
        defaults = network_options(model_cfg["type"])
        n_fft, hop, win = (int(model_cfg.get(k, defaults[k])) for k in ("n_fft", "hop_length", "win_length"))
        return cls(n_fft, hop, win)

    def loss_terms(self, model: nn.Module, x0: Tensor, drawn: dict[str, Tensor], cond: dict[str, Tensor]) -> Tensor:
        if "mel" not in cond:
            raise ValueError("a mel-inverting network learns from (mel, audio) pairs: [data] domain = \"vocoder\"")
        with torch.autocast(x0.device.type, enabled=False):
            target = magnitude_spectrogram(x0, self.n_fft, self.hop_length, self.win_length)
        return compressed_magnitude_loss(model(cond["mel"]), target, self.compression)


def objective_for(model_cfg: dict[str, Any], diffusion: GaussianDiffusion, data_rate: int | None = None) -> Objective:
    """The objective a [model] table's network is trained by (nets.network_objective).  data_rate: the [data]
    sample rate, which a classifier's [model] sample_rate follows (set into model_cfg when absent)."""
    kind = network_objective(model_cfg)
    if kind == "regression":
        return SpectralRegression.for_network(model_cfg)
    if kind == "magnitude":
        return MagnitudeRegression.for_network(model_cfg)
    if kind == "classification":
        from .classification import Classification

        return Classification.for_model(model_cfg, data_rate)
    return DiffusionObjective(diffusion)
