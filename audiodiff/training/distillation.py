"""Progressive distillation (Salimans & Ho 2022): `distill(run, steps=4, out=...)` halves a run's DDIM step count
round by round, from `from_steps` down to `steps`, into a new, ordinary run directory.

Round r: the teacher (round 0: the run's EMA weights; later: the previous round's student) samples with DDIM on
the 2N nested levels `spacing.nested_levels(T, 2N)`; the student, initialised from the teacher, learns to make
in ONE DDIM step from level 2i to level 2i+2 (or x_0) what the teacher makes in TWO
(`GaussianDiffusion.distillation_target`), in the run's own parameterisation, weighted as the paper's "SNR+1"
(default) or truncated-SNR loss (`GaussianDiffusion.distillation_weight`).  The learning rate decays linearly to 0
within each round, whose optimiser starts fresh.

`ProgressiveDistillation` is the objective the Trainer's one loop runs (trainer.py, objectives.py); everything
else is the Trainer's: the teacher run's own dataset and batches (its config.json
recipe), conditioning (labels, a vocoder's mel), EMA, gradient clipping, atomic checkpoints, exact resume after
kill -9 by running the same command (the round, the teacher's weights and the step are in training_state.pt),
TensorBoard (plus distill/round and distill/student_steps), the progress bar and the run lock.

The student's config.json is the teacher's, with [sample] = DDIM on the current round's N levels (`levels`,
`steps` N, η 0) and a "distill" entry: `audiodiff sample --model OUT` and `audiodiff.load(OUT).sample()` use the
distilled levels with no flags, and a checkpoint written mid-way is a usable model at its own round's steps.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import checkpoint as ckpt
from ..diffusion import DISTILL_WEIGHTINGS, GaussianDiffusion
from ..nets import build_network, is_classifier_config, network_objective
from ..recipe import recipe_from_dict
from ..sampling import placed_plan
from ..sampling.spacing import nested_levels
from .errors import TrainingError
from .objectives import Objective
from .trainer import Trainer

log = logging.getLogger("audiodiff")

# The CLI's defaults (audiodiff/cli/distill_cmd.py): the quickstart distils 64 → 4 steps in about 10 CPU-minutes.
FROM_STEPS = 64
ITERS_PER_ROUND = 200
LEARNING_RATE = 1e-4
# The "distill" entry of config.json that must match for the same command to resume a run.
SETTINGS = ("teacher", "from_steps", "steps", "iters_per_round", "learning_rate", "batch_size", "weighting",
            "ema_decay")


def distill(run: str | Path, steps: int = 4, out: str | Path | None = None, from_steps: int = FROM_STEPS,
            iters_per_round: int = ITERS_PER_ROUND, lr: float = LEARNING_RATE, batch_size: int | None = None,
            weighting: str = DISTILL_WEIGHTINGS[0], ema_decay: float = 0.0, checkpoint_every: int | None = None,
            device: str = "auto", show_progress: bool = True) -> Path:
    """Distil the run directory `run` (its EMA weights, its dataset) into `out` (default RUN-STEPSstep), a run whose
    [sample] is DDIM on `steps` levels; returns `out`.  Rounds: log2(from_steps / steps), `iters_per_round`
    optimiser steps each at batch_size (default: the run's) and learning rate `lr`, decaying linearly to 0 per
    round.  checkpoint_every: default the run's [train] checkpoint_every; every round's end is checkpointed too.
    An `out` holding this distillation resumes it; one holding anything else is refused."""
    run = Path(run)
    out = Path(out) if out is not None else run.with_name(f"{run.name}-{steps}step")
    teacher_cfg = _teacher_config(run)
    num_steps = _check_steps(teacher_cfg, steps, from_steps)
    if iters_per_round < 1:
        raise TrainingError(f"--iters-per-round must be >= 1, got {iters_per_round}")
    if weighting not in DISTILL_WEIGHTINGS:
        raise TrainingError(f"--weighting must be one of {', '.join(DISTILL_WEIGHTINGS)}, got {weighting!r}")
    raw = copy.deepcopy(teacher_cfg["recipe"])
    train = raw.setdefault("train", {})
    batch_size = int(batch_size or train.get("batch_size", 16))
    settings = {"teacher": str(run.resolve()), "from_steps": int(from_steps), "steps": int(steps),
                "iters_per_round": int(iters_per_round), "learning_rate": float(lr), "batch_size": batch_size,
                "weighting": weighting, "ema_decay": float(ema_decay)}
    _check_out(out, run, settings)
    rounds = int(math.log2(from_steps // steps))
    train.update(max_steps=rounds * iters_per_round, learning_rate=float(lr), batch_size=batch_size, grad_accum=1,
                 warmup_steps=0, lr_schedule="constant", ema_decay=float(ema_decay), eval_every=0, minutes=0,
                 checkpoint_every=int(checkpoint_every or train.get("checkpoint_every", iters_per_round)))
    raw["sample"] = {**raw.get("sample", {}), **student_sample(num_steps, steps)}
    raw["model"] = dict(teacher_cfg["model"])
    raw["name"] = f"{raw.get('name', run.name)}-{steps}step"
    recipe = recipe_from_dict(raw, source=f"{run / ckpt.CONFIG} (its recipe)")
    trainer = Trainer(recipe, out, device=device, show_progress=show_progress,
                      objective=ProgressiveDistillation(run, teacher_cfg, settings))
    return trainer.fit()


def student_sample(num_steps: int, n: int) -> dict[str, Any]:
    """The [sample] settings of an n-step student: deterministic DDIM on its nested levels."""
    return {"sampler": "ddim", "steps": n, "eta": 0.0, "spacing": "", "lambda_min": 0.0,
            "levels": nested_levels(num_steps, n)}


def _teacher_config(run: Path) -> dict[str, Any]:
    if not (run / ckpt.CONFIG).is_file():
        raise FileNotFoundError(f"{run} is not a run directory (it holds no {ckpt.CONFIG}): give the run to distil, "
                                f"e.g. runs/quickstart")
    cfg = ckpt.load_config(run)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or "diffusion" not in cfg:
        raise ValueError(f"{run / ckpt.CONFIG} is not an audiodiff run config")
    if network_objective(cfg["model"]) != "diffusion":
        kind = "a classifier" if is_classifier_config(cfg["model"]) else "a one-call (no diffusion chain)"
        raise TrainingError(f"{run} is {kind} run: only diffusion runs can be distilled")
    if not isinstance(cfg.get("recipe"), dict):
        raise TrainingError(f"{run / ckpt.CONFIG} has no \"recipe\" (an export?): distillation trains on the run's "
                            f"own dataset, so it needs the run directory that `audiodiff train` wrote")
    ckpt.weights_path(run)
    return cfg


def _check_steps(cfg: dict[str, Any], steps: int, from_steps: int) -> int:
    """The diffusion's step count, after checking that steps halves down from from_steps within it."""
    from ..diffusion import GaussianDiffusion

    num_steps = GaussianDiffusion.from_config(cfg["diffusion"]).num_steps
    if not 1 <= from_steps <= num_steps:
        raise TrainingError(f"--from-steps must be between 1 and the run's {num_steps} diffusion steps, "
                            f"got {from_steps}")
    ratio = from_steps // steps if steps >= 1 else 0
    if steps < 1 or steps >= from_steps or from_steps % steps or ratio & (ratio - 1):
        raise TrainingError(f"--steps {steps} must be --from-steps ({from_steps}) halved one or more times "
                            f"(e.g. {', '.join(str(from_steps >> k) for k in range(1, 4) if from_steps >> k)})")
    return num_steps


def _check_out(out: Path, run: Path, settings: dict[str, Any]) -> None:
    if out.resolve() == run.resolve():
        raise TrainingError(f"--out {out} is the run being distilled: choose a new directory")
    if not (out / ckpt.CONFIG).is_file():
        return
    old = ckpt.load_config(out).get("distill")
    if not isinstance(old, dict):
        raise TrainingError(f"{out} holds a different run (not a distillation): choose another --out")
    diff = [k for k in SETTINGS if old.get(k) != settings[k]]
    if diff:
        k = diff[0]
        raise TrainingError(f"{out} holds a distillation with a different {k} ({old.get(k)} vs {settings[k]}): "
                            f"run it with the same settings to resume it, or choose another --out")


class ProgressiveDistillation(Objective):
    """Salimans & Ho (2022), round by round (see the module docstring).  At level 2i of the teacher's 2N-level
    DDIM plan, x_t = the clean x0 noised there; the student's output must be what makes its one DDIM step land
    where the teacher's two land (GaussianDiffusion.distillation_target), squared error weighted by the settings'
    `weighting` (distillation_weight).  Holds the teacher network and the round; both are in the checkpoint."""

    def __init__(self, teacher_run: Path, teacher_config: dict[str, Any], settings: dict[str, Any]):
        self.teacher_run, self.teacher_config, self.settings = Path(teacher_run), teacher_config, settings
        self.iters = int(settings["iters_per_round"])
        self.rounds = int(math.log2(settings["from_steps"] // settings["steps"]))
        self.round = 0
        self.teacher: nn.Module | None = None
        self.diffusion: GaussianDiffusion | None = None
        self.plan: tuple[Tensor, Tensor, Tensor] | None = None
        self.sample: dict[str, Any] = {}

    @property
    def student_steps(self) -> int:
        return self.settings["from_steps"] >> (self.round + 1)

    # ----------------------------------------------------------------- the loss
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
        return err * self.diffusion.distillation_weight(ab, self.settings["weighting"]).to(err.device)

    # ----------------------------------------------------------------- around the step
    def attach(self, trainer: Any) -> None:
        """The teacher's mel statistics and classes (never refitted) into the run's config; the teacher network."""
        for key in ("features", "class_names"):
            if key in self.teacher_config:
                trainer.config[key] = copy.deepcopy(self.teacher_config[key])
        self.diffusion = trainer.diffusion
        self.teacher = build_network(self.teacher_config["model"]).to(trainer.device).eval().requires_grad_(False)

    def start(self, trainer: Any) -> None:
        """A fresh start: teacher, student and EMA from the run's EMA weights; then the (possibly resumed) round."""
        if trainer.last_checkpoint_step is None:
            ckpt.load_weights(self.teacher_run, self.teacher)
            trainer.model.load_state_dict(self.teacher.state_dict())
            trainer.ema.module.load_state_dict(self.teacher.state_dict())
        self._set_round(trainer, self.round)
        if trainer.is_main and trainer.step < trainer.max_steps:
            log.info("distilling %s (%d → %d DDIM steps, %d round(s) of %d steps) into %s; round %d: %d → %d steps",
                     self.teacher_run, self.settings["from_steps"], self.settings["steps"], self.rounds, self.iters,
                     trainer.run_dir, self.round + 1, 2 * self.student_steps, self.student_steps)

    def before_step(self, trainer: Any) -> None:
        """At a round's end the last round's student (its EMA weights) becomes the teacher and the new student's
        start, with a fresh optimiser."""
        r = trainer.step // self.iters
        if r == self.round:
            return
        weights = trainer.ema.module.state_dict()
        self.teacher.load_state_dict(weights)
        trainer.model.load_state_dict(weights)
        trainer.optimizer.state.clear()
        self._set_round(trainer, r)
        if trainer.is_main:
            log.info("round %d/%d: distilling %d → %d DDIM steps", r + 1, self.rounds, 2 * self.student_steps,
                     self.student_steps)

    def _set_round(self, trainer: Any, r: int) -> None:
        """Round r: the teacher's 2N-level DDIM plan on the device, and config.json's [sample] = the N-step student."""
        self.round = r
        n = self.student_steps
        plan = placed_plan(self.diffusion.schedule, None, None, levels=nested_levels(self.diffusion.num_steps, 2 * n))
        self.plan = tuple(v.to(trainer.device) for v in (plan.t_model, plan.alpha_bar, plan.alpha_bar_prev))
        trainer.config["sample"] = {**trainer.config["sample"], **student_sample(self.diffusion.num_steps, n)}
        self.sample = trainer.config["sample"]
        trainer.config["distill"] = {**self.settings, "teacher_step": self.teacher_config.get("step"), "round": r,
                                     "rounds": self.rounds, "student_steps": n}

    def lr_factor(self, s: int) -> float:
        """Linear decay from the full rate to 0 within each round (Salimans & Ho 2022)."""
        return 1.0 - (s % self.iters) / self.iters

    def checkpoint_due(self, step: int) -> bool:
        """The end of every round."""
        return step % self.iters == 0

    def scalars(self) -> dict[str, float]:
        return {"distill/round": self.round, "distill/student_steps": self.student_steps}

    def state_dict(self) -> dict[str, Any]:
        return {"distill": {"round": self.round, "teacher": self.teacher.state_dict()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["distill"]
        self.teacher.load_state_dict(saved["teacher"])
        self.round = int(saved["round"])
