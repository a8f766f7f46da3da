"""The Python half of benchmarks/gpu/check.sh: an SC09 training check on the digits-tts set, and the report.

    python -m benchmarks.gpu.check recipe --out DIR [--tiny] [--data ROOT]   # DIR/recipe/recipe.toml
    python -m benchmarks.gpu.check train  --out DIR [--tiny]                 # DIR/train.json, DIR/samples/
    python -m torch.distributed.run --standalone --nproc_per_node 1 -m benchmarks.gpu.check ddp --out DIR
                                                                             # DIR/torchrun.json
    python -m benchmarks.gpu.check report --out DIR                          # DIR/gpu_check.json

recipe: recipes/sc09 with [data] on digits-tts (read-only: the decode cache goes under DIR), 200 steps,
[train] compile on CUDA, precision "auto" (bf16 on compute capability 8.0+), log_every 50, no previews.
--tiny (the CPU path): a 4 × 16 network on 4 clips of 4,000 samples, 20 steps, no compile.  Without digits-tts
(a checkout with no ../shared) the data are generated tones in a folder, and the JSON says so.

train: the recipe through audiodiff's Trainer in this process.  Seconds per iteration are timed from one
train_step call to the next, after the first 10% (compilation falls there); clips/s = batch / that; the
loss is the mean of the last 50 steps' losses; peak memory is torch.cuda.max_memory_allocated (CPU: peak
RSS).  Then 16 clips are sampled from the run (the recipe's [sample] settings; on CUDA the network is
compiled and replayed as a CUDA graph) and written as WAVs.

ddp: under torchrun, initialises the process group itself (NCCL on CUDA, gloo on CPU), checks an
all_reduce, and trains the same recipe through the Trainer, which uses that group.  With one process the
Trainer does not wrap the network in DDP (there is nothing to average), so this checks torchrun's launch,
the NCCL set-up on the card and the trainer under it, not DDP's gradient all-reduce.

MFU = achieved model FLOP/s ÷ the card's dense bf16 peak.  Model FLOPs per training clip are counted once,
by torch.utils.flop_counter.FlopCounterMode over one forward + backward of the network on one clip
(convolutions and matrix products; the elementwise gates, the optimizer and the EMA are not counted), so
MFU = flops_per_clip × clips/s ÷ peak.  Peaks are the vendors' dense figures (H100 / H200 SXM 989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

from ..lib import envelope, write_result
from ..lib.device import PeakMemory, cpu_name, device_name
from ..lib.envelope import ROOT
from ..lib.fixtures import write_tones
from ..lib.trainer import mark_steps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA_CANDIDATES = ("../shared/data/digits-tts", "shared/data/digits-tts", "../../shared/data/digits-tts")
SPEECH_COMMANDS = "SpeechCommands/speech_commands_v0.02"
PEAK_BF16 = {"H200": 989e12, "H100 SXM": 989e12, "H100 80GB HBM3": 989e12, "H100 PCIe": 756e12, "H100": 989e12,
             "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


def find_data(given: str | None) -> Path | None:
    for c in ([given] if given else DATA_CANDIDATES):
        p = Path(c)
        if (p / SPEECH_COMMANDS).is_dir():
            return (p / SPEECH_COMMANDS).resolve()
        if (p / "zero").is_dir():
            return p.resolve()
    if given:
        raise SystemExit(f"--data {given}: no digits-tts (Speech Commands layout) there")
    return None


def write_recipe(args) -> Path:
    raw = tomllib.loads((ROOT / "recipes/sc09/recipe.toml").read_text())
    out = Path(args.out)
    cuda = torch.cuda.is_available()
    data = find_data(args.data)
    if data is None:   # no ../shared here: SC09-shaped generated tones, said in the report
        data = (out / "tones").resolve()
        write_tones(data, 64, raw["data"]["clip_length"], raw["data"]["sample_rate"])
        raw["data"] = {k: v for k, v in raw["data"].items() if k not in ("split", "download")}
        raw["data"]["dataset"] = "folder"
    (out / "data_source.txt").write_text(str(data) + "\n")
    raw["data"].update(root=str(data), cache_dir=str((out / "cache").resolve()))
    if raw["data"]["dataset"] != "folder":
        raw["data"]["download"] = False
    raw["train"].update(max_steps=200, log_every=50, checkpoint_every=100_000, preview_every=0,
                        compile=cuda, precision="auto")
    if args.tiny:
        raw["data"].update(clip_length=4000, num_workers=0)
        raw["model"].update(residual_layers=4, residual_channels=16, dilation_cycle=4)
        raw["train"].update(batch_size=4, max_steps=20, log_every=5, compile=False)
        raw["sample"].update(steps=10)
    folder = out / "recipe"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in raw.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for table, values in raw.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    (folder / "recipe.toml").write_text("\n".join(lines) + "\n")
    print(f"wrote {folder / 'recipe.toml'}")
    return folder


def flops_per_clip(net: torch.nn.Module, length: int, device: torch.device) -> float:
    """FLOPs of one forward + backward of `net` on one clip [1, 1, length] (FlopCounterMode, counted once)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 1, length, device=device)
    t = torch.tensor([10.0], device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        net(x, t).square().mean().backward()
    net.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def peak_flops(name: str) -> float | None:
    for key, value in PEAK_BF16.items():
        if key in name:
            return value
    return None


def train(args, run_name: str = "run", json_name: str = "train.json", sample: bool = True) -> dict:
    from audiodiff.audio import save_wav
    from audiodiff.pipeline import load
    from audiodiff.recipe import load_recipe
    from audiodiff.training import Trainer

    logger = logging.getLogger("audiodiff")   # the trainer's log lines (steps, loss) go to this part's log
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.setLevel(logging.INFO)
    out = Path(args.out)
    recipe = load_recipe(out / "recipe")
    trainer = Trainer(recipe, out / run_name, show_progress=False)
    device = trainer.device
    mem = PeakMemory(device)
    marks, values = mark_steps(trainer)
    mem.reset()
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    peak = mem.read_mib()
    losses = [float("nan") if value is None else value for value in values]
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    steady = gaps[max(1, len(gaps) // 10):] or gaps
    sec = statistics.median(steady)
    batch, length = recipe.train.batch_size, recipe.data.clip_length
    flops = flops_per_clip(trainer.model, length, device)
    clips_per_s = batch / sec
    peak_card = peak_flops(device_name(device)) if device.type == "cuda" else None
    result = {"device": device.type, "device_name": device_name(device), "cpu_name": cpu_name(),
              "precision": trainer.precision, "compile": recipe.train.compile, "steps": len(marks),
              "batch": batch, "clip_length": length, "params": sum(p.numel() for p in trainer.model.parameters()),
              "wall_seconds": wall, "first_step_seconds": gaps[0] if gaps else None,
              "seconds_per_step": sec, "clips_per_s": clips_per_s,
              "loss_first": losses[0], "loss_last50": statistics.fmean(losses[-50:]),
              "peak_memory_mib": peak, "memory_kind": mem.kind, "flops_per_clip_train": flops,
              "model_tflops_per_s": flops * clips_per_s / 1e12, "peak_bf16_flops": peak_card,
              "mfu": flops * clips_per_s / peak_card if peak_card else None,
              "data": (out / "data_source.txt").read_text().strip()}
    if not sample:
        write_result(out / json_name, result)
        return result
    pipe = load(out / run_name, device=device, compile=device.type == "cuda")
    for rep in ("warm-up", "timed"):   # the first call records the CUDA graph (compilation)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        wav = pipe.sample(n=16, seed=0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result[f"sample_16_{rep}_seconds"] = time.perf_counter() - t0
        if args.tiny:
            break
    for i, clip in enumerate(wav):
        save_wav(out / "samples" / f"sample_{i:03d}.wav", clip, pipe.sample_rate)
    result["samples_written"] = len(list((out / "samples").glob("*.wav")))
    result["samples_finite"] = bool(torch.isfinite(wav).all())
    result["sample_settings"] = pipe.sample_defaults
    write_result(out / json_name, result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))
    return result


def ddp(args) -> dict:
    import os

    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    probe = torch.ones(1, device="cuda" if cuda else "cpu")
    dist.all_reduce(probe)
    info = {"backend": dist.get_backend(), "world_size": dist.get_world_size(),
            "all_reduce_ok": float(probe) == dist.get_world_size()}
    try:
        result = train(args, run_name="run-torchrun", json_name="torchrun.json", sample=False)
    finally:
        dist.destroy_process_group()
    result.update(info)
    write_result(Path(args.out) / "torchrun.json", result)
    print(json.dumps(result, indent=1))
    return result


def report(args) -> dict:
    out = Path(args.out)
    result: dict = envelope("gpu.check", "cuda" if torch.cuda.is_available() else "cpu")
    for name in ("env", "vs_diffwave", "recipe", "train", "torchrun", "report"):
        status = out / f"{name}.status.json"
        result.setdefault("status", {})[name] = json.loads(status.read_text()) if status.is_file() else None
    env_log = out / "env.log"
    result["env"] = env_log.read_text()[-4000:] if env_log.is_file() else None
    for name in ("vs_diffwave", "train", "torchrun"):
        path = out / f"{name}.json"
        result[name] = json.loads(path.read_text()) if path.is_file() else None
    path = write_result(out / "gpu_check.json", result)
    print(f"JSON: {path}")
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("recipe", "train", "ddp", "report"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny", action="store_true", help="the CPU path: a tiny network, short clips, 20 steps")
    ap.add_argument("--data", default=None, help="digits-tts root (default: ../shared/data/digits-tts)")
    args = ap.parse_args(argv)
    {"recipe": write_recipe, "train": train, "ddp": ddp, "report": report}[args.what](args)


if __name__ == "__main__":
    main()
