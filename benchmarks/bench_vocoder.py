"""DiffWave vocoder speed: real-time factor of mel → waveform synthesis, full T and the 6-step fast schedule.

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
every timer read.  Prints a table and writes JSON (default benchmarks/results/bench_vocoder.json).

    python benchmarks/bench_vocoder.py --device cpu --threads 1          # BASE, 1 s, batch 1
    python benchmarks/bench_vocoder.py --large
    python benchmarks/bench_vocoder.py --seconds 0.1 --schedules fast    # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
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
from audiodiff.sampling import DIFFWAVE_FAST_BETAS  # noqa: E402

CONFIGS = {
    "base": {"residual_layers": 30, "residual_channels": 64, "dilation_cycle": 10,
             "diffusion": {"num_steps": 50, "beta_start": 1e-4, "beta_end": 0.05}},
    "large": {"residual_layers": 30, "residual_channels": 128, "dilation_cycle": 10,
              "diffusion": {"num_steps": 200, "beta_start": 1e-4, "beta_end": 0.02}},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    ap.add_argument("--json", default=str(ROOT / "benchmarks/results/bench_vocoder.json"))
    return ap


@torch.no_grad()
def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    schedules = [s.strip() for s in args.schedules.split(",") if s.strip()]
    if not schedules or any(s not in ("full", "fast") for s in schedules):
        raise SystemExit("--schedules: a comma-separated list of full, fast")
    torch.manual_seed(args.seed)
    name = "large" if args.large else "base"
    cfg = CONFIGS[name]
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
        "benchmark": "bench_vocoder", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "config": name.upper(),
        "model": {"type": "diffwave", "residual_layers": cfg["residual_layers"],
                  "residual_channels": cfg["residual_channels"], "dilation_cycle": cfg["dilation_cycle"],
                  "n_mels": args.n_mels, "hop_length": args.hop,
                  "params": sum(p.numel() for p in model.parameters())},
        "diffusion": {"schedule": "linear", **d, "prediction": "eps"},
        "fast_betas": list(DIFFWAVE_FAST_BETAS),
        "sample_rate": args.sample_rate, "frames": frames, "samples": length, "audio_seconds": audio_s,
        "batch_size": args.batch_size, "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
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
        seconds = statistics.median(times)
        result["schedules"][schedule] = {
            "sampler": "fast" if schedule == "fast" else "ddpm", "steps": steps, "seconds": seconds,
            "all_seconds": times, "seconds_per_step": seconds / steps,
            "rtf": seconds / (audio_s * args.batch_size),
            "x_realtime": audio_s * args.batch_size / seconds}
    result["loadavg_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return result


def print_table(r: dict) -> None:
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


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    result = run(args)
    path = write_json(args.json, result)
    print_table(result)
    print(f"JSON: {path}")
    return result


if __name__ == "__main__":
    main()
