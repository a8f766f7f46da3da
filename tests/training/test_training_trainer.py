"""audiodiff/training/trainer.py: gradient accumulation splits the conditioning with domains.chunk_cond, so each
micro-batch's conditioning is the slice of its own x0 chunk (the trainer once carried its own copy of that split,
and the tests of chunk_cond guarded code training never ran)."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from audiodiff import domains
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import Trainer
from audiodiff.training.objectives import Objective
from helpers.recipes import tiny_recipe_dict

trainer_mod = importlib.import_module("audiodiff.training.trainer")

RATE, CLIP, HOP, N_MELS = 8000, 512, 32, 16


def vocoder_recipe(root: str, **train):
    return recipe_from_dict({
        "name": "tiny-vocoder",
        "data": {"root": root, "sample_rate": RATE, "clip_length": CLIP, "domain": "vocoder"},
        "features": {"n_fft": 128, "hop_length": HOP, "n_mels": N_MELS, "griffin_lim_iters": 8},
        "model": {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2,
                  "embed_dim": 16, "sinusoid_dim": 16},
        "diffusion": {"schedule": "linear", "num_steps": 10, "beta_start": 1e-3, "beta_end": 0.2},
        "train": {"batch_size": 4, "max_steps": 2, "device": "cpu", "tensorboard": False, **train},
    })


class Recording(nn.Module):
    """The network, recording the batch size and the conditioning of every call."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.calls: list[tuple[int, dict[str, torch.Tensor]]] = []

    def forward(self, x, t, **cond):
        self.calls.append((x.shape[0], {k: v.detach().clone() for k, v in cond.items()}))
        return self.net(x, t, **cond)


def test_micro_batches_get_their_own_conditioning_through_chunk_cond(tmp_path, monkeypatch):
    split = []

    def spy(cond, chunks):
        parts = domains.chunk_cond(cond, chunks)
        split.append((set(cond), chunks))
        return parts

    monkeypatch.setattr(trainer_mod, "chunk_cond", spy)
    trainer = Trainer(vocoder_recipe(str(tmp_path / "audio"), grad_accum=2), tmp_path / "run", device="cpu",
                      show_progress=False)
    recorder = Recording(trainer.train_model)
    trainer.train_model = recorder
    x0 = torch.randn(4, 1, CLIP)
    frames = CLIP // HOP
    mel = torch.arange(4.0).reshape(4, 1, 1).expand(4, N_MELS, frames).contiguous()   # example i's mel is all i
    assert trainer.train_step(x0, mel=mel) is not None
    assert ({"mel"}, 2) in split            # the trainer splits the conditioning with domains.chunk_cond (and what
    assert ({"t", "noise"}, 2) in split     # the objective drew for the whole batch, the same way)
    assert [n for n, _ in recorder.calls] == [2, 2]
    for (_, cond), part in zip(recorder.calls, mel.chunk(2)):
        assert torch.equal(cond["mel"], part)               # micro-batch i sees examples 2i, 2i + 1's mels


class GiveBackTheInput(Objective):
    """A new kind of training in one class: the network gives back its input at a random step.  It counts the
    steps it was run for (state a checkpoint keeps), fixes its own learning rate and logs a scalar."""

    def __init__(self):
        self.steps_seen = 0

    def draw(self, x0, generator):
        return {"t": torch.randint(0, 10, (x0.shape[0],), generator=generator)}

    def loss_terms(self, model, x0, drawn, cond):
        return (model(x0, drawn["t"].float()) - x0).pow(2).flatten(1).mean(1)

    def before_step(self, trainer):
        self.steps_seen += 1

    def lr_factor(self, s):
        return 0.5

    def state_dict(self):
        return {"give_back": {"steps_seen": self.steps_seen}}

    def load_state_dict(self, state):
        self.steps_seen = int(state["give_back"]["steps_seen"])


def test_a_new_objective_is_one_class_that_fit_runs_checkpoints_and_resumes(wav_folder, tmp_path):
    """Through fit(), not only train_step: the objective's learning rate is the optimiser's, its state is in the
    checkpoint, and a resumed run carries it on (3 steps, then 2 more: 5 seen, not 2)."""
    raw = tiny_recipe_dict(wav_folder, max_steps=3, learning_rate=1e-3, checkpoint_every=100)
    first = Trainer(recipe_from_dict(raw), tmp_path / "run", device="cpu", show_progress=False,
                    objective=GiveBackTheInput())
    first.fit()
    assert first.objective.steps_seen == 3 and first.step == 3
    assert first.optimizer.param_groups[0]["lr"] == 0.5 * 1e-3
    resumed = Trainer(recipe_from_dict(raw), tmp_path / "run", device="cpu", max_steps=5, show_progress=False,
                      objective=GiveBackTheInput())
    assert resumed.objective.steps_seen == 3                 # restored from training_state.pt
    resumed.fit()
    assert resumed.objective.steps_seen == 5 and resumed.step == 5


def _class_folders(root, counts: dict[str, int]):
    """root/<class>/<k>.wav: short decaying tones, `counts` clips per class."""
    import numpy as np
    import soundfile as sf

    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            t = np.arange(400) / 8000
            sf.write(str(root / name / f"{k}.wav"), (0.5 * np.exp(-8 * t) * np.sin(2 * np.pi * (200 + 300 * c) * t))
                     .astype(np.float32), 8000)


def test_balance_classes_draws_rare_classes_as_often_and_needs_labels(wav_folder, tmp_path):
    import pytest
    from audiodiff.training import TrainingError

    _class_folders(tmp_path / "pack", {"kick": 2, "snare": 14})
    model = {"type": "diffwave", "residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2, "num_classes": 2}
    raw = tiny_recipe_dict(tmp_path / "pack", model=model, batch_size=8, balance_classes=True)
    raw["data"].update(dataset="classes", classes=["kick", "snare"], sample_rate=8000, clip_length=256)
    trainer = Trainer(recipe_from_dict(raw), tmp_path / "run", show_progress=False)
    trainer.data.prepare(trainer.run_dir)
    labels = torch.cat([b["label"] for _, b in zip(range(40), trainer.data.loader(0))])
    assert labels.numel() == 320
    assert 0.4 < float((labels == 0).float().mean()) < 0.6           # unbalanced: 2 of 16 clips, 0.125
    trainer.fit()                                                      # and it trains through the loop
    assert (tmp_path / "run" / "model.safetensors").is_file()

    plain = tiny_recipe_dict(wav_folder, balance_classes=True)           # unconditional, unlabelled
    with pytest.raises(TrainingError, match="balance_classes needs a labelled dataset"):
        Trainer(recipe_from_dict(plain), tmp_path / "run2", show_progress=False).fit()
