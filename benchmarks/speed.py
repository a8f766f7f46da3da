"""Speed: how fast audiodiff's DiffWave trains and samples, alone and against lmnt-com/diffwave, and what its Trainer
costs over the raw step.  Run from the repository root; `python -m benchmarks.speed WHAT --help` describes each.

    python -m benchmarks.speed diffwave     # training clips/s, reverse-step time, peak memory (SC09 DiffWave)
    python -m benchmarks.speed vocoder      # a vocoder's real-time factor: every step and the 6-step schedule
    python -m benchmarks.speed peer         # audiodiff against diffwave 0.1.7 side by side (+ --trainer)
    python -m benchmarks.speed trainer      # the Trainer's step against the raw step, --size quick|full

Each prints a table and writes JSON (--json; default benchmarks/results/speed-WHAT.json) that starts with the
shared envelope (benchmarks/lib/envelope.py: commit, machine, command, date).  The dated figures are in
benchmarks/LOG.md under the scripts these replaced: bench_diffwave.py (diffwave), bench_vocoder.py (vocoder),
vs_diffwave.py and trainer_overhead.py (peer, peer --trainer).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from .lib import Timing, alternate, envelope, time_calls, write_result
from .lib.device import PeakMemory, cpu_name, device_name, max_rss_mib, pick_device, sync
from .lib.envelope import RESULTS, ROOT
from .lib.fixtures import DIFFWAVE, write_tones
from .lib.peer import CPU_SHAPES, CUDA_SHAPES, HOP, N_MELS, NETS, PEER, TINY, Ours, Peer, peer_batch
from .lib.trainer import mark_steps, trainer_vs_raw

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME = "speed"

# --------------------------------------------------------------------------- diffwave
DIFFWAVE_DOC = """DiffWave speed and memory: training throughput, reverse-step time, peak memory.

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

CUDA is synchronised before every timer read.

    python -m benchmarks.speed diffwave                                  # SC09 model, B=16, L=16000
    python -m benchmarks.speed diffwave --dtype bf16 --compile           # autocast bf16 + torch.compile
    python -m benchmarks.speed diffwave --device cpu --batch-size 1 --length 4000 --iters 2 --warmup 1
    python -m benchmarks.speed diffwave --layers 4 --channels 32 --cycle 4 --length 2000   # smoke test
"""

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def autocast(device: torch.device, dtype: str):
    """torch.autocast for bf16, a no-op context for fp32."""
    if DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


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


def run_diffwave(args: argparse.Namespace, argv: list[str] | None) -> dict:
    import audiodiff

    if args.iters < 1 or args.warmup < 0 or args.sample_steps < 1 or args.sample_repeats < 1:
        raise SystemExit("--iters, --sample-steps and --sample-repeats must be ≥ 1, --warmup ≥ 0")
    device = pick_device(args.device)
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

    result = {
        **envelope(NAME, device.type, argv), "measure": "diffwave",
        "config": f"DiffWave {args.layers}x{args.channels} c{args.cycle}",
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
    path = write_result(args.json, result)
    print_diffwave(result)
    print(f"JSON: {path}")
    return result


def print_table(cols: list[tuple[str, str]]) -> None:
    """One header line, a rule and one row, each column as wide as its widest cell."""
    widths = [max(len(h), len(v)) for h, v in cols]
    print("  ".join(h.ljust(w) for (h, _), w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    print("  ".join(v.ljust(w) for (_, v), w in zip(cols, widths)))


def print_diffwave(r: dict) -> None:
    train, sample = r.get("train"), r.get("sample")
    print_table([
        ("config", f"{r['config']} ({r['model']['params'] / 1e6:.1f}M)"),
        ("device", r["device"] + (" +compile" if r["compile"] else "")),
        ("dtype", r["dtype"]),
        ("batch", str(r["batch_size"])),
        ("length", str(r["length"])),
        ("train clips/s", f"{train['clips_per_s']:.3g}" if train else "-"),
        ("sample s/step", f"{sample['seconds_per_step']:.3g}" if sample else "-"),
        ("peak MiB train", f"{train['peak_memory_mib']:.0f}" if train else "-"),
        ("peak MiB sample", f"{sample['peak_memory_mib']:.0f}" if sample else "-"),
    ])
    kind = (train or sample or {}).get("memory_kind", "")
    print(f"device: {r['device_name']} | torch {r['torch_version']} | threads {r['threads']} | memory: {kind}")


def diffwave_parser(sub) -> None:
    ap = sub.add_parser("diffwave", description=DIFFWAVE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="training clips/s, reverse-step time and peak memory (was bench_diffwave.py)")
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
    r.add_argument("--json", type=Path, default=RESULTS / "speed-diffwave.json",
                   help="where to write the JSON result (folder is created)")
    ap.set_defaults(run=run_diffwave)


# --------------------------------------------------------------------------- vocoder
VOCODER_DOC = """DiffWave vocoder speed: real-time factor of mel → waveform synthesis, full T and the 6-step fast schedule.

Default model is the paper's BASE vocoder as recipes/ljspeech-vocoder builds it:
DiffWave(residual_layers=30, residual_channels=64, dilation_cycle=10, n_mels=80, hop_length=256)
(2.62M parameters), T = 50 with β linear 1e-4 → 0.05; `--large` switches to LARGE (128 channels,
T = 200, β 1e-4 → 0.02).  Audio: `--seconds` of 22.05 kHz (1 s → 86 mel frames → 22,016 samples).

For each schedule it times `diffusion.sample(model, (B, 1, frames·hop), sampler, mel=mel)` under
torch.no_grad, exactly what `pipe.vocode` runs:

  full   sampler "ddpm", every one of the T training steps (the paper's T = 50 for BASE)
  fast   sampler "fast", DiffWave's 6-step inference schedule β = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
         aligned to fractional training steps

RTF = synthesis seconds / audio seconds (below 1: faster than real time).  One untimed fast run warms
up; each schedule is then timed `--repeats` times and the median reported.  CUDA is synchronised before
every timer read.

    python -m benchmarks.speed vocoder --device cpu --threads 1          # BASE, 1 s, batch 1
    python -m benchmarks.speed vocoder --large
    python -m benchmarks.speed vocoder --seconds 0.1 --schedules fast    # smoke test
"""

VOCODERS = {
    "base": {"residual_layers": 30, "residual_channels": 64, "dilation_cycle": 10,
             "diffusion": {"num_steps": 50, "beta_start": 1e-4, "beta_end": 0.05}},
    "large": {"residual_layers": 30, "residual_channels": 128, "dilation_cycle": 10,
              "diffusion": {"num_steps": 200, "beta_start": 1e-4, "beta_end": 0.02}},
}


@torch.no_grad()
def run_vocoder(args: argparse.Namespace, argv: list[str] | None) -> dict:
    import audiodiff
    from audiodiff.sampling import DIFFWAVE_FAST_BETAS

    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    schedules = [s.strip() for s in args.schedules.split(",") if s.strip()]
    if not schedules or any(s not in ("full", "fast") for s in schedules):
        raise SystemExit("--schedules: a comma-separated list of full, fast")
    torch.manual_seed(args.seed)
    name = "large" if args.large else "base"
    cfg = VOCODERS[name]
    model = audiodiff.DiffWave(cfg["residual_layers"], cfg["residual_channels"], cfg["dilation_cycle"],
                               n_mels=args.n_mels, hop_length=args.hop).to(device).eval()
    d = cfg["diffusion"]
    diffusion = audiodiff.GaussianDiffusion(audiodiff.NoiseSchedule.linear(d["num_steps"], d["beta_start"],
                                                                           d["beta_end"]))
    frames = max(1, round(args.seconds * args.sample_rate / args.hop))
    length = frames * args.hop
    audio_s = length / args.sample_rate
    mel = torch.randn(args.batch_size, args.n_mels, frames, device=device).clamp(-1, 1)
    shape = (args.batch_size, 1, length)
    g = torch.Generator(device="cpu").manual_seed(args.seed)

    def synthesise(schedule: str) -> torch.Tensor:
        if schedule == "fast":
            return diffusion.sample(model, shape, sampler="fast", generator=g, device=device, mel=mel)
        return diffusion.sample(model, shape, sampler="ddpm", generator=g, device=device, mel=mel)

    t0 = time.perf_counter()
    synthesise("fast")                                     # warm-up (allocator, kernels, thread pool)
    sync(device)
    warmup_s = time.perf_counter() - t0

    result = {
        **envelope(NAME, device.type, argv), "measure": "vocoder", "config": name.upper(),
        "model": {"type": "diffwave", "residual_layers": cfg["residual_layers"],
                  "residual_channels": cfg["residual_channels"], "dilation_cycle": cfg["dilation_cycle"],
                  "n_mels": args.n_mels, "hop_length": args.hop,
                  "params": sum(p.numel() for p in model.parameters())},
        "diffusion": {"schedule": "linear", **d, "prediction": "eps"},
        "fast_betas": list(DIFFWAVE_FAST_BETAS),
        "sample_rate": args.sample_rate, "frames": frames, "samples": length, "audio_seconds": audio_s,
        "batch_size": args.batch_size, "device": device.type, "device_name": device_name(device),
        "torch_version": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "warmup_seconds": warmup_s, "schedules": {},
    }
    for schedule in schedules:
        times = []
        for _ in range(args.repeats):
            sync(device)
            t0 = time.perf_counter()
            x = synthesise(schedule)
            sync(device)
            times.append(time.perf_counter() - t0)
        if not torch.isfinite(x).all():
            raise RuntimeError(f"{schedule}: the vocoder produced non-finite samples")
        steps = len(DIFFWAVE_FAST_BETAS) if schedule == "fast" else diffusion.num_steps
        timing = Timing.of(times)
        result["schedules"][schedule] = {
            "sampler": "fast" if schedule == "fast" else "ddpm", "steps": steps, "seconds": timing.median,
            "q1": timing.q1, "q3": timing.q3, "all_seconds": times, "seconds_per_step": timing.median / steps,
            "rtf": timing.median / (audio_s * args.batch_size),
            "x_realtime": audio_s * args.batch_size / timing.median}
    result["loadavg_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    path = write_result(args.json, result)
    print_vocoder(result)
    print(f"JSON: {path}")
    return result


def print_vocoder(r: dict) -> None:
    m = r["model"]
    print(f"DiffWave {r['config']} vocoder {m['residual_layers']}x{m['residual_channels']} c{m['dilation_cycle']}, "
          f"{m['n_mels']} mels, hop {m['hop_length']} ({m['params'] / 1e6:.2f}M); {r['audio_seconds']:.3f} s at "
          f"{r['sample_rate']} Hz, batch {r['batch_size']}")
    rows = [("schedule", "steps", "seconds", "s/step", "RTF", "x real time")]
    for name, s in r["schedules"].items():
        rows.append((name, str(s["steps"]), f"{s['seconds']:.3f}", f"{s['seconds_per_step']:.3f}", f"{s['rtf']:.3f}",
                     f"{s['x_realtime']:.3g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for j, row in enumerate(rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print(f"device: {r['device_name']} | torch {r['torch_version']} | threads {r['threads']} | "
          f"load {r['loadavg_at_start']}")


def vocoder_parser(sub) -> None:
    ap = sub.add_parser("vocoder", description=VOCODER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="a vocoder's real-time factor, every step and 6 steps (was bench_vocoder.py)")
    ap.add_argument("--large", action="store_true", help="LARGE: 128 channels, T = 200 (default: BASE)")
    ap.add_argument("--seconds", type=float, default=1.0, help="audio length (default 1 s)")
    ap.add_argument("--sample-rate", type=int, default=22050)
    ap.add_argument("--n-mels", type=int, default=80)
    ap.add_argument("--hop", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--schedules", default="full,fast", help="comma-separated: full, fast (default both)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per schedule; the median is reported")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=RESULTS / "speed-vocoder.json")
    ap.set_defaults(run=run_vocoder)


# --------------------------------------------------------------------------- peer
PEER_DOC = """audiodiff against the real peer, the PyPI package diffwave==0.1.7 (lmnt-com/diffwave), side by side.

Install the peer without its dependencies (it would otherwise pull its own torch pins):

    pip install --no-deps diffwave==0.1.7          # the `bench` extra of pyproject.toml names it

Networks (benchmarks/lib/peer.py; the parameter counts are checked to be equal before timing): `vocoder`, the
LJSpeech BASE vocoder (30 × 64, cycle 10, 80 mels, hop 256, T = 50, β 1e-4 → 0.05), and `sc09`, the mel-conditioned
36 × 256 network (cycle 12, T = 200, β 1e-4 → 0.02; diffwave 0.1.7 has no unconditional model).

Per network and mode, timed alternately peer, audiodiff, peer, audiodiff, … in one process on one device
(a busy machine slows both sides alike), after one untimed warm-up call each (compilation falls there):

  train     clips/s of one optimiser step on the same x0 [B, L] and mel [B, 80, L/256]: random t, q_sample,
            the network, MSE on ε, backward, clip_grad_norm_, AdamW.  The peer's step is its learner.py
            train_step with MSE and AdamW; audiodiff's is GaussianDiffusion.loss.
  sample    real-time factor (synthesis seconds / audio seconds, batch B) of the peer's own
            diffwave.inference.predict against audiodiff's sampler (what pipe.vocode runs): "fast" =
            DiffWave's 6-step schedule, "full" = every training step (the SC09 network's 200-step chain
            is estimated from the fast chain's per-step time and marked so, unless --full-chains)
  trainer   (vocoder, with --trainer) audiodiff's Trainer at the ljspeech-vocoder recipe's [train]
            defaults (a folder of generated tones, mels computed on the fly, EMA, clipping, logging,
            DataLoader workers) against the peer's raw step on the same network and batch

Modes: fp32, and the best mode: audiodiff's precision "auto" (bf16 where the hardware has it, see
audiodiff/precision.py) plus torch.compile on CUDA; `--modes fp32,bf16` also times bf16 where it is not
native.  Both sides run in the same mode (the peer under torch.autocast / torch.compile too).
Peak memory: CUDA max_memory_allocated per phase; on CPU the phase's peak RSS of the whole process (rough).

    python -m benchmarks.speed peer --threads 1                               # CPU: short clips
    python -m benchmarks.speed peer --nets vocoder --modes fp32,bf16 --trainer
    python -m benchmarks.speed peer --tiny --repeats 1                        # smoke test, seconds
"""

RECIPE = ROOT / "recipes" / "ljspeech-vocoder" / "recipe.toml"


def alternate_sides(sides: list, fn, repeats: int, device, mem: PeakMemory) -> dict[str, dict]:
    """One untimed call per side, then `repeats` rounds of side A, side B; median seconds (with quartiles) and
    peak memory."""
    peaks: dict[str, float] = {s.name: 0.0 for s in sides}

    def after(name: str, out) -> None:
        if torch.is_tensor(out) and not torch.isfinite(out.float()).all():
            raise RuntimeError("non-finite output")
        peaks[name] = max(peaks[name], mem.read_mib())

    times = alternate({s.name: partial(fn, s) for s in sides}, repeats, lambda: sync(device),
                      before=lambda _: mem.reset(), after=after)
    out = {}
    for name, ts in times.items():
        timing = Timing.of(ts)
        out[name] = {"seconds": timing.median, "q1": timing.q1, "q3": timing.q3, "all_seconds": ts,
                     "peak_memory_mib": peaks[name]}
    return out


def bench_net(name: str, cfg: dict, args, device, precision: str, compile_: bool, mem: PeakMemory) -> dict:
    from audiodiff.sampling import DIFFWAVE_FAST_BETAS

    batch, frames = args.shape or (CUDA_SHAPES if device.type == "cuda" else CPU_SHAPES)[name]
    length = frames * HOP
    torch.manual_seed(0)
    peer, ours = Peer(cfg, device, precision, compile_), Ours(cfg, device, precision, compile_)
    counts = {s.name: sum(p.numel() for p in s.net.parameters()) for s in (peer, ours)}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{name}: the networks differ: {counts} parameters")
    audio, mel = peer_batch(cfg, batch, frames, device)
    sides = [peer, ours]
    row = {"net": name, "params": counts["audiodiff"], "batch": batch, "length": length,
           "precision": precision, "compile": compile_}
    train = alternate_sides(sides, lambda s: s.train_step(audio, mel), args.repeats, device, mem)
    row["train"] = {k: {**v, "clips_per_s": batch / v["seconds"]} for k, v in train.items()}
    audio_s = batch * length / cfg["sample_rate"]
    chains = {"fast": True}
    if cfg["num_steps"] <= 50 or args.full_chains:
        chains["full"] = False
    row["sample"] = {}
    for chain, fast in chains.items():
        with torch.no_grad():
            res = alternate_sides(sides, lambda s: s.sample(mel, fast), args.repeats, device, mem)
        row["sample"][chain] = {k: {**v, "steps": len(DIFFWAVE_FAST_BETAS) if fast else cfg["num_steps"],
                                    "rtf": v["seconds"] / audio_s} for k, v in res.items()}
    if "full" not in row["sample"]:   # estimated from the fast chain: every step is one network call
        scale = cfg["num_steps"] / len(DIFFWAVE_FAST_BETAS)
        row["sample"]["full"] = {k: {"steps": cfg["num_steps"], "rtf": v["rtf"] * scale, "estimated": True}
                                 for k, v in row["sample"]["fast"].items()}
    peer.close()
    return row


def ratio(row: dict, *path: str) -> float:
    """audiodiff / peer speed for a row's train (clips/s) or a sampling chain (inverse RTF)."""
    a = row
    for k in path:
        a = a[k]
    if path[0] == "train":
        return a["audiodiff"]["clips_per_s"] / a[PEER]["clips_per_s"]
    return a[PEER]["rtf"] / a["audiodiff"]["rtf"]


def resolve_modes(modes: str, device: torch.device) -> list[tuple[str, str, bool]]:
    """(label, precision, compile) per distinct mode; "best" = precision auto, compiled on CUDA."""
    from audiodiff.precision import resolve_precision

    out = []
    for m in modes.split(","):
        if m == "best":
            prec, comp = resolve_precision("auto", device), device.type == "cuda"
        elif m in ("fp32", "bf16"):
            prec, comp = m, False
        else:
            raise SystemExit(f"--modes: unknown mode {m!r} (fp32, bf16, best)")
        label = prec + ("+compile" if comp else "")
        if label not in [o[0] for o in out]:
            out.append((label, prec, comp))
    return out


def trainer_recipe(cfg: dict, data_root: Path, batch: int, length: int, steps: int, device: torch.device) -> dict:
    """recipes/ljspeech-vocoder as `audiodiff train` reads it, with only [data] (the folder, clip length), the
    network size, batch_size, max_steps and device replaced."""
    raw = tomllib.loads(RECIPE.read_text())
    raw["data"].update(dataset="folder", root=str(data_root), clip_length=length, download=False)
    raw["data"].pop("split", None)
    raw["model"].update(residual_layers=cfg["layers"], residual_channels=cfg["channels"],
                        dilation_cycle=cfg["cycle"])
    raw["train"].update(batch_size=batch, max_steps=steps, device=device.type)
    raw["features"]["stats_clips"] = 16
    return raw


def time_trainer(raw: dict, run_dir: Path, show_progress: bool) -> tuple[float, str]:
    """Seconds per Trainer iteration, from one train_step call to the next (median of the intervals), and its
    precision."""
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer

    trainer = Trainer(recipe_from_dict(raw, source="vs_diffwave"), run_dir, device=raw["train"]["device"],
                      show_progress=show_progress)
    marks, _ = mark_steps(trainer)
    trainer.fit()
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    return statistics.median(gaps), trainer.precision


def bench_trainer(cfg: dict, batch: int, frames: int, device: torch.device, steps: int, repeats: int,
                  show_progress: bool = True) -> dict:
    """audiodiff's Trainer at recipes/ljspeech-vocoder's [train] settings (EMA, clipping, logging, TensorBoard, its
    DataLoader workers, progress bar) on a folder of generated tones, the recipe's mels computed on the fly, against
    the peer's and audiodiff's raw steps on fixed tensors; the three alternate, `repeats` rounds, `steps` each."""
    from audiodiff.precision import resolve_precision

    length = frames * HOP
    precision = resolve_precision("auto", device)

    def raw_step(side) -> float:
        """Seconds per raw step, the median of `steps`."""
        return time_calls(lambda: side.train_step(audio, mel), steps, warmup=0, sync=lambda: sync(device)).median

    with tempfile.TemporaryDirectory(prefix="vs_diffwave_") as tmp:
        tmp = Path(tmp)
        write_tones(tmp / "audio", max(32, batch * 4), length, cfg["sample_rate"])
        raw = trainer_recipe(cfg, tmp / "audio", batch, length, steps, device)
        peer, ours = Peer(cfg, device, precision, False), Ours(cfg, device, precision, False)
        audio = torch.rand(batch, length, device=device) * 1.6 - 0.8
        mel = torch.randn(batch, N_MELS, frames, device=device)
        peer.train_step(audio, mel)
        ours.train_step(audio, mel)
        times: dict[str, list[float]] = {"peer_raw_step": [], "audiodiff_trainer": [], "audiodiff_raw_step": []}
        prec = precision
        for r in range(repeats):
            times["peer_raw_step"].append(raw_step(peer))
            s, prec = time_trainer(raw, tmp / f"run{r}", show_progress)
            times["audiodiff_trainer"].append(s)
            times["audiodiff_raw_step"].append(raw_step(ours))
        peer.close()
    result = {"batch": batch, "length": length, "steps": steps, "repeats": repeats, "precision": prec,
              "num_workers": raw["data"].get("num_workers", 0)}
    for k, ts in times.items():
        med = statistics.median(ts)
        result[k] = {"seconds_per_step": med, "all": ts, "clips_per_s": batch / med}
    result["ratio_trainer_vs_peer"] = (result["audiodiff_trainer"]["clips_per_s"]
                                       / result["peer_raw_step"]["clips_per_s"])
    result["ratio_trainer_vs_raw"] = (result["audiodiff_trainer"]["clips_per_s"]
                                      / result["audiodiff_raw_step"]["clips_per_s"])
    return result


def run_peer(args: argparse.Namespace, argv: list[str] | None) -> dict:
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        args.frames = args.frames or 4
    args.shape = None
    if args.batch or args.frames:
        args.shape = (args.batch or 1, args.frames or 16)
    mem = PeakMemory(device)
    result = {**envelope(NAME, device.type, argv), "measure": "peer",
              "device": device.type, "device_name": device_name(device), "cpu_name": cpu_name(),
              "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
              "loadavg_at_start": list(os.getloadavg()), "repeats": args.repeats, "tiny": args.tiny,
              "memory_kind": mem.kind, "rows": []}
    for label, prec, comp in resolve_modes(args.modes, device):
        for name in filter(None, args.nets.split(",")):
            cfg = {**NETS[name], **(TINY if args.tiny else {})}
            row = bench_net(name, cfg, args, device, prec, comp, mem)
            row["mode"] = label
            row["ratios"] = {"train": ratio(row, "train"), "sample_fast": ratio(row, "sample", "fast"),
                             "sample_full": ratio(row, "sample", "full")}
            result["rows"].append(row)
            print_row(row)
            write_result(args.json, result)   # after every row: a run cut short keeps what it measured
    if args.trainer:
        cfg = {**NETS["vocoder"], **(TINY if args.tiny else {})}
        batch, frames = args.shape or (CUDA_SHAPES if device.type == "cuda" else CPU_SHAPES)["vocoder"]
        result["trainer"] = bench_trainer(cfg, batch, frames, device, args.trainer_steps, args.repeats)
        print_trainer(result["trainer"])
    result["memory_kind"] = mem.kind
    result["loadavg_at_end"] = list(os.getloadavg())
    print(f"\nJSON: {write_result(args.json, result)}")
    return result


def print_row(r: dict) -> None:
    p, a = PEER, "audiodiff"
    head = f"{r['net']} ({r['params'] / 1e6:.2f}M) {r['mode']}, batch {r['batch']} × {r['length']}"
    print(f"\n{head}\n{'':14}{PEER:>16}{'audiodiff':>12}{'ratio':>8}")
    tr = r["train"]
    print(f"{'train clips/s':14}{tr[p]['clips_per_s']:16.3g}{tr[a]['clips_per_s']:12.3g}{r['ratios']['train']:7.2f}×")
    for chain in ("fast", "full"):
        s = r["sample"][chain]
        est = " (est.)" if s[a].get("estimated") else ""
        print(f"{'RTF ' + chain + ' ' + str(s[a]['steps']):14}{s[p]['rtf']:16.3g}{s[a]['rtf']:12.3g}"
              f"{r['ratios']['sample_' + chain]:7.2f}×{est}")
    print(f"{'peak MiB train':14}{tr[p]['peak_memory_mib']:16.0f}{tr[a]['peak_memory_mib']:12.0f}")


def print_trainer(t: dict) -> None:
    print(f"\ntrainer (vocoder, batch {t['batch']} × {t['length']}, {t['steps']} steps, {t['precision']}):")
    for k in ("peer_raw_step", "audiodiff_raw_step", "audiodiff_trainer"):
        print(f"  {k:20} {t[k]['clips_per_s']:8.3g} clips/s")
    print(f"  Trainer / peer raw step: {t['ratio_trainer_vs_peer']:.2f}×,  Trainer / own raw step: "
          f"{t['ratio_trainer_vs_raw']:.2f}×")


def peer_parser(sub) -> None:
    ap = sub.add_parser("peer", description=PEER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="audiodiff against diffwave 0.1.7 side by side (was vs_diffwave.py)")
    ap.add_argument("--nets", default="vocoder,sc09",
                    help="comma list of vocoder, sc09 (default both; '' for none, e.g. with --trainer)")
    ap.add_argument("--modes", default="fp32,best", help="comma list of fp32, bf16, best (default fp32,best)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    ap.add_argument("--batch", type=int, default=None, help="clips per batch (default: per net and device)")
    ap.add_argument("--frames", type=int, default=None, help="mel frames per clip, ×256 samples (default: per net)")
    ap.add_argument("--repeats", type=int, default=2, help="timed rounds per side (default 2; median reported)")
    ap.add_argument("--full-chains", action="store_true", help="run the SC09 network's 200-step chain too")
    ap.add_argument("--trainer", action="store_true", help="also time audiodiff's Trainer (vocoder) against "
                    "the peer's raw step (was trainer_overhead.py)")
    ap.add_argument("--trainer-steps", type=int, default=8, help="Trainer steps per timed run (default 8)")
    ap.add_argument("--tiny", action="store_true", help=f"smoke test: {TINY['layers']} layers × "
                    f"{TINY['channels']} channels, 4 frames")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", type=Path, default=RESULTS / "speed-peer.json")
    ap.set_defaults(run=run_peer)


# --------------------------------------------------------------------------- trainer
TRAINER_DOC = """The Trainer's overhead: audiodiff's Trainer (data loading, EMA, clipping, loss bins, logging; a
checkpoint only at the end) timed from one train_step call to the next, against the raw step (the diffusion loss,
backward, fused AdamW on a fixed batch) on the same DiffWave, raw steps before and after the Trainer's; the first 3
steps of each side left out; fp32 on the CPU.  The ratio raw / Trainer is reported with the range its quartiles
allow (1 is no overhead).  The regression suite's trainer_overhead row is this measurement.

  --size smallest   2 × 8 DiffWave, batch 1 × 256 (seconds: the test's size)
  --size quick      12 × 64, cycle 6, batch 2 × 4,000
  --size full       the SC09 DiffWave 36 × 256, cycle 12, batch 2 × 4,000

    python -m benchmarks.speed trainer --size full --threads 2
"""


def run_trainer(args: argparse.Namespace, argv: list[str] | None) -> dict:
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    row = trainer_vs_raw(args.size)
    layers, channels, cycle, batch, length, _ = DIFFWAVE[args.size]
    result = {**envelope(NAME, "cpu", argv), "measure": "trainer", "size": args.size, "threads": args.threads,
              "model": {"residual_layers": layers, "residual_channels": channels, "dilation_cycle": cycle},
              **row}
    write_result(args.json, result)
    t, r = row["trainer"], row["raw"]
    print(f"DiffWave {layers} × {channels} c{cycle}, batch {batch} × {length}, {args.threads} threads, fp32")
    print(f"  raw step   {r['median']:.4g} s  [{r['q1']:.4g} … {r['q3']:.4g}]")
    print(f"  Trainer    {t['median']:.4g} s  [{t['q1']:.4g} … {t['q3']:.4g}]")
    print(f"  raw / Trainer {row['median']:.3f}  [{row['q1']:.3f} … {row['q3']:.3f}]")
    print(f"JSON: {args.json} (commit {str(result['commit'])[:10]}, {result['machine']['cpu']})")
    return result


def trainer_parser(sub) -> None:
    ap = sub.add_parser("trainer", description=TRAINER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="the Trainer's step against the raw step on the same DiffWave")
    ap.add_argument("--size", choices=tuple(DIFFWAVE), default="quick", help="network and batch (default quick)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--json", type=Path, default=None, help="default benchmarks/results/speed-trainer-SIZE.json")
    ap.set_defaults(run=run_trainer)


# --------------------------------------------------------------------------- command line
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    for add in (diffwave_parser, vocoder_parser, peer_parser, trainer_parser):
        add(sub)
    args = ap.parse_args(argv)
    if args.what == "trainer" and args.json is None:
        args.json = RESULTS / f"speed-trainer-{args.size}.json"
    return args


def main(argv: list[str] | None = None) -> dict:
    """Command line → the result dict (also written as JSON)."""
    args = parse(argv)
    return args.run(args, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
