"""audiodiff's Trainer at a recipe's default settings against raw training steps on the same network and batch.

Used by vs_diffwave.py --trainer.  The Trainer trains recipes/ljspeech-vocoder's [train] settings (EMA
0.9999, clipping, logging, TensorBoard, its DataLoader workers, progress bar) on a folder of generated tones
with the recipe's mel features computed on the fly, as `audiodiff train` would; only [data] (the folder,
clip length), the network size, batch_size, max_steps and device are replaced.  A Trainer iteration is
timed from one train_step call to the next, so it includes loading, the mel, bookkeeping and logging;
the first iteration (start-up, first batch) is left out.  The raw steps (the peer's learner step, and
audiodiff's GaussianDiffusion.loss step) run on fixed tensors; all three alternate in one process.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "ljspeech-vocoder" / "recipe.toml"


def write_tones(folder: Path, count: int, length: int, rate: int) -> None:
    """`count` clips of two harmonics plus a little noise, 16-bit WAV."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(length) / rate
    for i in range(count):
        f = 110.0 * 2 ** (i % 24 / 12)
        wave = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t) + 0.01 * rng.standard_normal(length)
        sf.write(str(folder / f"tone_{i:03d}.wav"), wave.astype(np.float32), rate, subtype="PCM_16")


def recipe_dict(cfg: dict, data_root: Path, batch: int, length: int, steps: int, device: torch.device) -> dict:
    raw = tomllib.loads(RECIPE.read_text())
    raw["data"].update(dataset="folder", root=str(data_root), clip_length=length, download=False)
    raw["data"].pop("split", None)
    raw["model"].update(residual_layers=cfg["layers"], residual_channels=cfg["channels"],
                        dilation_cycle=cfg["cycle"])
    raw["train"].update(batch_size=batch, max_steps=steps, device=device.type)
    raw["features"]["stats_clips"] = 16
    return raw


def time_trainer(raw: dict, run_dir: Path, show_progress: bool) -> tuple[float, str]:
    """Seconds per Trainer iteration after the first (median of the intervals), and its precision."""
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer

    trainer = Trainer(recipe_from_dict(raw, source="vs_diffwave"), run_dir, device=raw["train"]["device"],
                      show_progress=show_progress)
    marks: list[float] = []
    step = trainer.train_step

    def marked(*args, **kwargs):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        marks.append(time.perf_counter())
        return step(*args, **kwargs)

    trainer.train_step = marked
    trainer.fit()
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    return statistics.median(gaps), trainer.precision


def raw_steps(side, audio, mel, steps: int, device) -> float:
    """Seconds per raw step (median of `steps`)."""
    out = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        side.train_step(audio, mel)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def bench_trainer(cfg: dict, batch: int, frames: int, device: torch.device, steps: int, repeats: int,
                  peer_cls, n_mels: int, hop: int, show_progress: bool = True) -> dict:
    from audiodiff.precision import resolve_precision
    from vs_diffwave import Ours

    length = frames * hop
    precision = resolve_precision("auto", device)
    with tempfile.TemporaryDirectory(prefix="vs_diffwave_") as tmp:
        tmp = Path(tmp)
        write_tones(tmp / "audio", max(32, batch * 4), length, cfg["sample_rate"])
        raw = recipe_dict(cfg, tmp / "audio", batch, length, steps, device)
        peer, ours = peer_cls(cfg, device, precision, False), Ours(cfg, device, precision, False)
        audio = torch.rand(batch, length, device=device) * 1.6 - 0.8
        mel = torch.randn(batch, n_mels, frames, device=device)
        peer.train_step(audio, mel)
        ours.train_step(audio, mel)
        times: dict[str, list[float]] = {"peer_raw_step": [], "audiodiff_trainer": [], "audiodiff_raw_step": []}
        prec = precision
        for r in range(repeats):
            times["peer_raw_step"].append(raw_steps(peer, audio, mel, steps, device))
            s, prec = time_trainer(raw, tmp / f"run{r}", show_progress)
            times["audiodiff_trainer"].append(s)
            times["audiodiff_raw_step"].append(raw_steps(ours, audio, mel, steps, device))
    result = {"batch": batch, "length": length, "steps": steps, "repeats": repeats, "precision": prec,
              "num_workers": raw["data"].get("num_workers", 0)}
    for k, ts in times.items():
        med = statistics.median(ts)
        result[k] = {"seconds_per_step": med, "all": ts, "clips_per_s": batch / med}
    result["ratio_trainer_vs_peer"] = result["audiodiff_trainer"]["clips_per_s"] / result["peer_raw_step"]["clips_per_s"]
    result["ratio_trainer_vs_raw"] = (result["audiodiff_trainer"]["clips_per_s"]
                                      / result["audiodiff_raw_step"]["clips_per_s"])
    return result
