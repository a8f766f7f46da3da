"""Issue 10's GPU levers, measured in one call: what might lift audiodiff's SC09 training past 3× the peer's fp32
speed and 35 % MFU, and the vocoder's 6-step sampling past 3× the peer's real-time factor.

    python -m benchmarks.gpu.levers                   # CUDA: about 5 minutes on an H100 / H200
    python -m benchmarks.gpu.levers --tiny            # the CPU path: tiny network, no compile, seconds

Each variant runs in its own process under its own time limit (--limit; a variant that fails or times out is
recorded, the rest still run), on the networks and data of `python -m benchmarks.speed peer` (benchmarks/lib/peer.py: the mel-conditioned
36 × 256 SC09-sized network, batch 16 × 16,128 samples; the 30 × 64 vocoder, batch 16 × 15,872):

  peer-fp32               the peer (diffwave 0.1.7) in fp32: the goals' denominator
  peer-bf16+compile       the peer in audiodiff's best mode: the memory goal's other reading (its peak was 4.3 GB
                          below audiodiff's on the H200, while eager saved activations are equal on the CPU)
  base                    audiodiff bf16 + torch.compile (default mode): what gpu_check.sh measured
  max-autotune            compile mode "max-autotune-no-cudagraphs" (Triton / cuBLAS autotuning, no CUDA graphs)
  time-major              DiffWave.layout = "time_major": dilated convolutions as channels-last 2-D ones, 1×1
                          convolutions as matrix products (the CPU bf16 path; cuDNN's bf16 kernels are NHWC)
  time-major+max-autotune both
  time-major-matmul       DiffWave.layout = "time_major_matmul": as time-major, but each dilated convolution as three
                          matrix products on row views (GEMMs of [B·L, C] × [C, 2C]: large, dense matrix products are
                          where a GPU's bf16 peak is reachable)
  base-batch32            base at batch 32 (does a fuller card raise MFU?)

Training rows also split one more step's memory into phases (peak of the forward, what it leaves for the backward,
peak of the backward, of clipping + AdamW): where the best mode's extra 4.3 GB sits.
Training variants time optimiser steps (random t, q_sample, network, MSE, backward, clip, AdamW) after 3 untimed
ones (compilation); sampling variants (vocoder-*) time the 6-step fast chain after one untimed chain (CUDA graph
capture).  MFU as benchmarks/gpu/check.py: FLOPs of one forward + backward on one clip (FlopCounterMode, of this
mel-conditioned network, a little more than recipes/sc09's unconditional one) × clips/s ÷ the card's dense bf16 peak.  JSON: benchmarks/results/gpu_levers.json (or --json) and a printed table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from ..lib import RESULTS, envelope, write_result
from ..lib.device import PeakMemory, cpu_name, device_name, sync
from ..lib.envelope import ROOT
from ..lib.peer import CUDA_SHAPES, HOP, NETS, TINY, Ours, Peer, peer_batch
from .check import peak_flops

# name → (net, side, precision, compile mode or None, layout, batch factor, what is timed)
VARIANTS = {
    "peer-fp32": ("sc09", "peer", "fp32", None, "auto", 1, "train"),
    "peer-bf16+compile": ("sc09", "peer", "bf16", "default", "auto", 1, "train"),
    "base": ("sc09", "ours", "bf16", "default", "auto", 1, "train"),
    "max-autotune": ("sc09", "ours", "bf16", "max-autotune-no-cudagraphs", "auto", 1, "train"),
    "time-major": ("sc09", "ours", "bf16", "default", "time_major", 1, "train"),
    "time-major+max-autotune": ("sc09", "ours", "bf16", "max-autotune-no-cudagraphs", "time_major", 1, "train"),
    "time-major-matmul": ("sc09", "ours", "bf16", "default", "time_major_matmul", 1, "train"),
    "base-batch32": ("sc09", "ours", "bf16", "default", "auto", 2, "train"),
    "vocoder-peer-fp32": ("vocoder", "peer", "fp32", None, "auto", 1, "sample"),
    "vocoder-base": ("vocoder", "ours", "bf16", "graphs", "auto", 1, "sample"),
    "vocoder-time-major": ("vocoder", "ours", "bf16", "graphs", "time_major", 1, "sample"),
}


def train_flops_per_clip(side, audio: torch.Tensor, mel: torch.Tensor) -> float:
    """FLOPs of one forward + backward of `side`'s network in its training loss on one clip (audio [1, L],
    mel [1, 80, L / 256]), counted once by FlopCounterMode (convolutions and matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        side.loss(audio, mel).backward()
    return float(counter.get_total_flops())


def phase_peaks(side, audio: torch.Tensor, mel: torch.Tensor, mem: PeakMemory) -> dict:
    """One more training step, split where the memory goes: the peak of the forward (the loss), what it leaves
    allocated for the backward (CUDA), the peak of the backward, and of clipping + the optimiser step (MiB)."""
    device = audio.device
    out = {}

    def read(phase: str) -> None:
        sync(device)
        out[f"{phase}_peak_mib"] = mem.read_mib()
        if phase == "forward" and device.type == "cuda":
            out["kept_for_backward_mib"] = torch.cuda.memory_allocated(device) / 2 ** 20
        mem.reset()

    mem.reset()
    side.train_step(audio, mel, after=read)
    return out


def one(args) -> dict:
    """Run one variant in this process and return its figures."""
    net_name, side_name, precision, mode, layout, factor, what = VARIANTS[args.variant]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = {**NETS[net_name], **(TINY if args.tiny else {})}
    batch, frames = (2, 4) if args.tiny else CUDA_SHAPES[net_name]
    batch *= factor
    if args.tiny or device.type != "cuda":
        mode = None   # the CPU path checks the code, not the compiler
    torch.manual_seed(0)
    side = (Peer if side_name == "peer" else Ours)(cfg, device, precision, mode == "graphs")
    if layout != "auto":
        side.net.layout = layout
    if mode not in (None, "graphs"):
        side.train_net = torch.compile(side.net, mode=None if mode == "default" else mode)
    length = frames * HOP
    audio, mel = peer_batch(cfg, batch, frames, device)
    if what == "train":
        run, warm = (lambda: side.train_step(audio, mel)), 3
    else:
        run, warm = (lambda: side.sample(mel, fast=True)), 1
    mem = PeakMemory(device)
    with torch.no_grad() if what == "sample" else torch.enable_grad():
        t0 = time.perf_counter()
        for _ in range(warm):
            run()
        sync(device)
        warm_s = time.perf_counter() - t0
        mem.reset()
        times = []
        for _ in range(args.steps):
            sync(device)
            t0 = time.perf_counter()
            out = run()
            sync(device)
            times.append(time.perf_counter() - t0)
    if not torch.isfinite(out.float()).all():
        raise RuntimeError("non-finite output")
    sec = statistics.median(times)
    row = {"variant": args.variant, "net": net_name, "side": side_name, "precision": precision,
           "compile_mode": mode, "layout": layout, "batch": batch, "length": length, "timed": what,
           "warm_up_seconds": warm_s, "seconds": sec, "all_seconds": times, "peak_memory_mib": mem.read_mib(),
           "memory_kind": mem.kind}
    if what == "train":
        row["phases"] = phase_peaks(side, audio, mel, mem)
        flops = train_flops_per_clip(Ours(cfg, device, "fp32", False), audio[:1], mel[:1])
        row["flops_per_clip_train"] = flops
        row["clips_per_s"] = batch / sec
        card = peak_flops(device_name(device)) if device.type == "cuda" else None
        row["mfu"] = flops * batch / sec / card if flops and card else None
    else:
        row["rtf"] = sec / (batch * length / cfg["sample_rate"])
    return row


def sweep(args) -> dict:
    """Each variant in a child process under --limit seconds; the ratios against the peer's fp32 rows."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {**envelope("gpu.levers", device), "device": device, "device_name": device_name(torch.device(device)), "cpu_name": cpu_name(),
              "torch": torch.__version__, "tiny": args.tiny, "steps": args.steps, "rows": []}
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {name!r} (one of {', '.join(VARIANTS)})")
        cmd = [sys.executable, "-m", "benchmarks.gpu.levers", "--one", name, "--steps", str(args.steps)] + \
            (["--tiny"] if args.tiny else [])
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.limit, cwd=ROOT)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            row = json.loads(lines[-1]) if proc.returncode == 0 and lines else \
                {"variant": name, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
        except subprocess.TimeoutExpired:
            row = {"variant": name, "error": f"timed out after {args.limit} s"}
        row["wall_seconds"] = time.perf_counter() - t0
        result["rows"].append(row)
        print_row(row, result["rows"])
        write_result(args.json, result)   # after every variant: a sweep cut short keeps what it measured
    return result


def print_row(row: dict, rows: list[dict]) -> None:
    if "error" in row:
        print(f"{row['variant']:26} failed: {row['error']}")
        return
    peer = next((r for r in rows if r.get("side") == "peer" and r.get("precision") == "fp32"
                 and r.get("net") == row["net"] and "error" not in r), None)
    if row["timed"] == "train":
        vs_peer = f"{row['clips_per_s'] / peer['clips_per_s']:.2f}× peer fp32" if peer else ""
        mfu = f"MFU {100 * row['mfu']:.1f} %" if row.get("mfu") else ""
        ph = row.get("phases", {})
        phases = f" (forward {ph['forward_peak_mib']:,.0f}, backward {ph['backward_peak_mib']:,.0f})" if ph else ""
        print(f"{row['variant']:26} {row['clips_per_s']:9.3g} clips/s  {vs_peer:18} {mfu:12} "
              f"peak {row['peak_memory_mib']:,.0f} MiB{phases}")
    else:
        vs_peer = f"{peer['rtf'] / row['rtf']:.2f}× peer fp32" if peer else ""
        print(f"{row['variant']:26} RTF {row['rtf']:9.3g}  {vs_peer:18} peak {row['peak_memory_mib']:,.0f} MiB")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="", help=f"comma list (default all): {', '.join(VARIANTS)}")
    ap.add_argument("--steps", type=int, default=10, help="timed steps or chains per variant (default 10)")
    ap.add_argument("--limit", type=int, default=90, help="seconds per variant, compilation included (default 90)")
    ap.add_argument("--tiny", action="store_true", help="tiny networks and batches, no compile (the CPU path)")
    ap.add_argument("--json", default=str(RESULTS / "gpu_levers.json"))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)   # the child process: one variant
    args = ap.parse_args(argv)
    if args.one:
        args.variant = args.one
        print(json.dumps(one(args)))
        return
    result = sweep(args)
    print(f"\nJSON: {write_result(args.json, result)}")


if __name__ == "__main__":
    main()
