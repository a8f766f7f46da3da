"""DiffWave speed and memory benchmark: training throughput, reverse-step time, peak memory.

Default model is the paper's SC09 configuration, DiffWave(residual_layers=36, residual_channels=256,
dilation_cycle=12) (24.0M parameters), with the SC09 recipe's diffusion: linear β schedule, T = 200,
β from 1e-4 to 0.02, ε-prediction.

  1. training: clips/s for one full step = GaussianDiffusion.loss (the real loss, random t and noise)
     + backward + AdamW step, on x0 ~ U[-1, 1] of shape [B, 1, L];
  2. sampling: seconds per reverse step of the real sampler, diffusion.sample(model, (B, 1, L),
     sampler="ddpm", steps=S) under torch.no_grad, divided by S;
  3. peak memory per phase: torch.cuda.max_memory_allocated on CUDA; on CPU the process's peak
     resident set (VmHWM, reset between phases where Linux allows, else getrusage's ru_maxrss,
     which is the whole process's peak since start).

CUDA is synchronised before every timer read.  Prints a table and writes JSON (default
benchmarks/results/bench_diffwave.json).

    python benchmarks/bench_diffwave.py                                   # SC09 model, B=16, L=16000
    python benchmarks/bench_diffwave.py --dtype bf16 --compile            # autocast bf16 + torch.compile
    python benchmarks/bench_diffwave.py --device cpu --batch-size 1 --length 4000 --iters 2 --warmup 1
    python benchmarks/bench_diffwave.py --layers 4 --channels 32 --cycle 4 --length 2000   # smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, also when imported
from _common import cpu_name, write_json  # noqa: E402
import audiodiff  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16}
MIB = 1024 ** 2


# --------------------------------------------------------------------------- helpers
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: str):
    """torch.autocast for bf16, a no-op context for fp32."""
    if DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


class PeakMemory:
    """Peak memory of one phase: CUDA allocator peak, or the process's peak RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "cpu_max_rss_process"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        # Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM (peak RSS), so each phase gets its own peak.
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.kind = "cpu_peak_rss_phase"
        except OSError:
            self.kind = "cpu_max_rss_process"

    def read_mib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / MIB
        if self.kind == "cpu_peak_rss_phase":
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
        return max_rss_mib()


def max_rss_mib() -> float:
    """getrusage peak RSS of this process (kB on Linux, bytes on macOS); since start unless clear_refs reset it."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MIB if sys.platform == "darwin" else rss / 1024


# --------------------------------------------------------------------------- phases
def bench_train(model, diffusion, args, device: torch.device, mem: PeakMemory) -> dict:
    """Clips/s for loss + backward + AdamW step."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    x0 = torch.rand(args.batch_size, 1, args.length, device=device) * 2 - 1

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast(device, args.dtype):
            loss = diffusion.loss(model, x0)
        loss.backward()
        opt.step()
        return loss

    mem.reset()
    sync(device)
    t0 = time.perf_counter()
    first_s = None
    for i in range(args.warmup):
        step()
        if i == 0:
            sync(device)
            first_s = time.perf_counter() - t0
    sync(device)
    warmup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(args.iters):
        loss = step()
    sync(device)
    elapsed = time.perf_counter() - t0
    loss_value = float(loss.detach())
    if not torch.isfinite(torch.tensor(loss_value)):
        raise RuntimeError(f"training loss is not finite: {loss_value}")

    result = {"iters": args.iters, "warmup_iters": args.warmup, "seconds": elapsed,
              "seconds_per_iter": elapsed / args.iters, "clips_per_s": args.batch_size * args.iters / elapsed,
              "first_iter_seconds": first_s, "warmup_seconds": warmup_s, "last_loss": loss_value,
              "peak_memory_mib": mem.read_mib(), "memory_kind": mem.kind}
    # Free the optimizer state and gradients so they do not count towards the sampling peak.
    del opt
    model.zero_grad(set_to_none=True)
    return result


@torch.no_grad()
def bench_sample(model, diffusion, args, device: torch.device, mem: PeakMemory) -> dict:
    """Seconds per reverse step of diffusion.sample(..., sampler="ddpm", steps=S)."""
    model.eval()
    shape = (args.batch_size, 1, args.length)
    g = torch.Generator(device="cpu").manual_seed(args.seed)

    mem.reset()
    sync(device)
    t0 = time.perf_counter()
    if args.warmup > 0:
        warm_steps = min(args.warmup, diffusion.num_steps)
        with autocast(device, args.dtype):
            diffusion.sample(model, shape, sampler="ddpm", steps=warm_steps, generator=g, device=device)
    sync(device)
    warmup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(args.sample_repeats):
        with autocast(device, args.dtype):
            x = diffusion.sample(model, shape, sampler="ddpm", steps=args.sample_steps, generator=g, device=device)
    sync(device)
    elapsed = time.perf_counter() - t0
    n_steps = args.sample_steps * args.sample_repeats
    per_step = elapsed / n_steps
    if not torch.isfinite(x).all():
        raise RuntimeError("sampler produced non-finite values")
    return {"sampler": "ddpm", "steps": args.sample_steps, "repeats": args.sample_repeats, "seconds": elapsed,
            "seconds_per_step": per_step, "warmup_steps": min(args.warmup, diffusion.num_steps),
            "warmup_seconds": warmup_s,
            f"est_seconds_full_{diffusion.num_steps}_steps": per_step * diffusion.num_steps,
            "peak_memory_mib": mem.read_mib(), "memory_kind": mem.kind}


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    m = ap.add_argument_group("model (default: SC09 DiffWave 36×256, cycle 12, 24.0M params)")
    m.add_argument("--layers", type=int, default=36, help="residual layers (default 36)")
    m.add_argument("--channels", type=int, default=256, help="residual channels (default 256)")
    m.add_argument("--cycle", type=int, default=12, help="dilation cycle length (default 12)")
    r = ap.add_argument_group("run")
    r.add_argument("--batch-size", type=int, default=16, help="clips per batch, train and sample (default 16)")
    r.add_argument("--length", type=int, default=16000, help="samples per clip (default 16000 = 1 s at 16 kHz)")
    r.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="default: cuda if available, else cpu")
    r.add_argument("--dtype", choices=tuple(DTYPES), default="fp32",
                   help="fp32, or bf16 via torch.autocast (weights and optimizer stay fp32)")
    r.add_argument("--compile", action="store_true", help="torch.compile the model (compile time falls in warmup)")
    r.add_argument("--warmup", type=int, default=3,
                   help="untimed training iterations, and untimed reverse steps before sampling (default 3)")
    r.add_argument("--iters", type=int, default=10, help="timed training iterations (default 10)")
    r.add_argument("--sample-steps", type=int, default=5,
                   help="reverse steps S in the timed diffusion.sample call (default 5; s/step = time / S)")
    r.add_argument("--sample-repeats", type=int, default=1, help="timed sample calls (default 1)")
    r.add_argument("--skip-train", action="store_true", help="do not measure training")
    r.add_argument("--skip-sample", action="store_true", help="do not measure sampling")
    r.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    r.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (default 2e-4, as the SC09 recipe)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", default=str(ROOT / "benchmarks/results/bench_diffwave.json"),
                   help="where to write the JSON result (folder is created)")
    return ap


def run(args: argparse.Namespace) -> dict:
    if args.iters < 1 or args.warmup < 0 or args.sample_steps < 1 or args.sample_repeats < 1:
        raise SystemExit("--iters, --sample-steps and --sample-repeats must be ≥ 1, --warmup ≥ 0")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    schedule = audiodiff.NoiseSchedule.linear(200, 1e-4, 0.02)
    diffusion = audiodiff.GaussianDiffusion(schedule)
    if not 1 <= args.sample_steps <= diffusion.num_steps:
        raise SystemExit(f"--sample-steps must be in [1, {diffusion.num_steps}]")
    net = audiodiff.DiffWave(residual_layers=args.layers, residual_channels=args.channels,
                             dilation_cycle=args.cycle).to(device)
    n_params = sum(p.numel() for p in net.parameters())
    model = torch.compile(net) if args.compile else net

    config = f"DiffWave {args.layers}x{args.channels} c{args.cycle}"
    result = {
        "benchmark": "bench_diffwave",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "config": config,
        "model": {"type": "diffwave", "residual_layers": args.layers, "residual_channels": args.channels,
                  "dilation_cycle": args.cycle, "params": n_params},
        "diffusion": {"schedule": "linear", "num_steps": 200, "beta_start": 1e-4, "beta_end": 0.02,
                      "prediction": "eps"},
        "device": device.type, "device_name": device_name(device), "dtype": args.dtype, "compile": args.compile,
        "batch_size": args.batch_size, "length": args.length,
        "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu_name": cpu_name(), "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "rss_at_start_mib": max_rss_mib(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    mem = PeakMemory(device)
    if not args.skip_train:
        result["train"] = bench_train(model, diffusion, args, device, mem)
    if not args.skip_sample:
        result["sample"] = bench_sample(model, diffusion, args, device, mem)
    # ru_maxrss is reset together with VmHWM by clear_refs, so take the largest of the phase peaks too.
    peaks = [result[k]["peak_memory_mib"] for k in ("train", "sample") if k in result and device.type == "cpu"]
    result["max_rss_process_mib"] = max([max_rss_mib(), *peaks])
    return result


def print_table(r: dict) -> None:
    train, sample = r.get("train"), r.get("sample")
    cols = [
        ("config", f"{r['config']} ({r['model']['params'] / 1e6:.1f}M)"),
        ("device", r["device"] + (" +compile" if r["compile"] else "")),
        ("dtype", r["dtype"]),
        ("batch", str(r["batch_size"])),
        ("length", str(r["length"])),
        ("train clips/s", f"{train['clips_per_s']:.3g}" if train else "-"),
        ("sample s/step", f"{sample['seconds_per_step']:.3g}" if sample else "-"),
        ("peak MiB train", f"{train['peak_memory_mib']:.0f}" if train else "-"),
        ("peak MiB sample", f"{sample['peak_memory_mib']:.0f}" if sample else "-"),
    ]
    widths = [max(len(h), len(v)) for h, v in cols]
    print("  ".join(h.ljust(w) for (h, _), w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    print("  ".join(v.ljust(w) for (_, v), w in zip(cols, widths)))
    kind = (train or sample or {}).get("memory_kind", "")
    print(f"device: {r['device_name']} | torch {r['torch_version']} | threads {r['threads']} | memory: {kind}")


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    result = run(args)
    path = write_json(args.json, result)
    print_table(result)
    print(f"JSON: {path}")
    return result


if __name__ == "__main__":
    main()
