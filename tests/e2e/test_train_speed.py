"""Trainer settings that only change speed: DataLoader workers on CPU runs, the fused optimizer."""

from __future__ import annotations

import os

import torch

from audiodiff.recipe import recipe_from_dict
from audiodiff.training import Trainer
from helpers.recipes import tiny_recipe_dict


def test_cpu_run_leaves_the_cores_to_the_compute_threads(wav_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    raw = tiny_recipe_dict(wav_folder)
    raw["data"]["num_workers"] = 4
    trainer = Trainer(recipe_from_dict(raw, source="tiny"), tmp_path / "run", device="cpu", show_progress=False)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert trainer.data.loader_workers() == 1          # 2 cores, 1 compute thread: one core is free
        torch.set_num_threads(2)
        assert trainer.data.loader_workers() == 0          # both cores compute: load in the main process
    finally:
        torch.set_num_threads(threads)
    raw["data"]["num_workers"] = 0
    assert Trainer(recipe_from_dict(raw, source="tiny"), tmp_path / "run0", device="cpu",
                   show_progress=False).data.loader_workers() == 0


def test_optimizer_is_fused(wav_folder, tmp_path):
    trainer = Trainer(recipe_from_dict(tiny_recipe_dict(wav_folder), source="tiny"), tmp_path / "run", device="cpu",
                      show_progress=False)
    assert trainer.optimizer.param_groups[0]["fused"] is True
