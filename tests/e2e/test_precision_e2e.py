"""Precision end to end: a bf16 training run (autocast really on) reaches fp32's loss and its bf16 samples stay
finite; `audiodiff train` logs the precision it trains in and `sample --precision` takes bf16 and refuses fp16 in one
line, and `train --precision` overrides the recipe's.  (Which hardware gets bf16 and the cast network are checked in tests/core/test_precision.py.)"""

from __future__ import annotations

import torch

from audiodiff.pipeline import load
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import Trainer
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import QUICK_UNET, tiny_recipe_dict, write_recipe


# ----------------------------------------------------------------- training
LOSS_TOLERANCE = 0.15   # bf16's mean loss over the last 10 steps within 15% of fp32's


def _train_losses(wav_folder, tmp_path, name: str, prec: str, steps: int = 60) -> tuple[Trainer, list[float]]:
    raw = tiny_recipe_dict(wav_folder, model=QUICK_UNET, precision=prec, max_steps=steps, checkpoint_every=10_000,
                           log_every=10_000, tensorboard=False, batch_size=8, learning_rate=3e-3, ema_decay=0.5)
    raw["diffusion"] = {"schedule": "cosine", "num_steps": 100, "prediction": "v"}   # as the quickstart
    trainer = Trainer(recipe_from_dict(raw, source="tiny"), tmp_path / name, device="cpu", show_progress=False)
    losses: list[float] = []
    step = trainer.train_step

    def recorded(*args, **kwargs):
        value = step(*args, **kwargs)
        losses.append(value)
        return value

    trainer.train_step = recorded
    trainer.fit()
    return trainer, losses


def test_bf16_training_reaches_the_fp32_loss_and_samples_stay_finite(wav_folder, tmp_path):
    _, fp32 = _train_losses(wav_folder, tmp_path, "fp32", "fp32")
    trainer, bf16 = _train_losses(wav_folder, tmp_path, "bf16", "bf16")
    assert trainer.precision == "bf16"
    assert all(v is not None for v in fp32 + bf16)
    assert fp32 != bf16                       # autocast really ran: bf16 rounding changes the losses
    first, last_fp32, last_bf16 = fp32[0], sum(fp32[-10:]) / 10, sum(bf16[-10:]) / 10
    assert last_fp32 < 0.8 * first            # both runs learn …
    assert abs(last_bf16 - last_fp32) <= LOSS_TOLERANCE * last_fp32, (last_fp32, last_bf16)   # … to the same loss
    pipe = load(tmp_path / "bf16", device="cpu", precision="bf16")
    wav = pipe.sample(n=2, steps=10, sampler="ddim", seed=0)
    assert torch.isfinite(wav).all() and wav.abs().max() > 0


# ----------------------------------------------------------------- CLI
def test_cli_precision_flag(tmp_path, wav_folder):
    recipe = write_recipe(tmp_path / "recipe", tiny_recipe_dict(wav_folder, max_steps=2))
    run = tmp_path / "run"
    env_ok = run_cli("train", str(recipe), "--out", str(run), "--no-progress", cwd=tmp_path)
    assert env_ok.returncode == 0, env_ok.stderr
    assert "in fp32" in env_ok.stderr or "in bf16" in env_ok.stderr      # the log says which precision trains
    for prec in ("fp32", "bf16"):                                        # --precision overrides [train] precision
        forced = run_cli("train", str(recipe), "--out", str(tmp_path / prec), "--no-progress", "--precision", prec,
                         cwd=tmp_path)
        assert forced.returncode == 0 and f"in {prec}," in forced.stderr, forced.stderr
    refused = run_cli("train", str(recipe), "--out", str(tmp_path / "fp16"), "--precision", "fp16", cwd=tmp_path)
    assert_one_line_error(refused, "--precision", "'fp16'", "fp32")
    assert not (tmp_path / "fp16").exists()
    done = run_cli("sample", "--model", str(run), "--n", "2", "--out", str(tmp_path / "wavs"), "--precision", "bf16",
                   "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "wavs").glob("*.wav"))) == 2
    bad = run_cli("sample", "--model", str(run), "--precision", "fp16", cwd=tmp_path)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error:") and "--precision" in bad.stderr
    assert "Traceback" not in bad.stderr
