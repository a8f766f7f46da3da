"""Frozen study (issue 13): does denoising in cross-faded windows keep memory flat on long recordings?  Answer:
benchmarks/LOG.md, "Long recordings".

Peak memory of denoising long recordings: cross-faded windows (audiodiff/windows.py) vs one pass.

For each length it runs `pipe.denoise(noisy, sigma=0.1, steps=S)` in a fresh child process, once with the
run's window (clip_length, the default) and once with window = the whole file (what denoise did before
windowing), and reports the child's peak RSS (VmHWM from /proc/self/status) above its RSS just before the
call, and the wall time.  The model is an untrained DiffWave (`--layers`, `--channels`, default 10 × 64)
at 16 kHz with clip_length `--window`; untrained weights cost the same as trained ones.  Prints a table and
writes JSON (default benchmarks/results/bench_long_audio.json).

    python -m benchmarks.studies.bench_long_audio                        # 2, 4, 8 s; window 16000
    python -m benchmarks.studies.bench_long_audio --seconds 1 2 --layers 2 --channels 16     # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name
from ..lib.envelope import ROOT

RATE = 16000

CHILD = """
import json, time, torch
import audiodiff
torch.set_num_threads({threads})
def kib(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0])
pipe = audiodiff.load({run!r}, device="cpu")
noisy = 0.1 * torch.randn({length}, generator=torch.Generator().manual_seed(0))
before = kib("VmRSS")
open("/proc/self/clear_refs", "w").write("5")   # reset VmHWM to the current RSS
start = time.perf_counter()
with torch.no_grad():
    out = pipe.denoise(noisy, sigma=0.1, steps={steps}, seed=0, window={window})
seconds = time.perf_counter() - start
print(json.dumps({{"peak_mib": (kib("VmHWM") - before) / 1024, "seconds": seconds,
                   "finite": bool(torch.isfinite(out).all()), "length": out.shape[-1]}}))
"""


def make_run(folder: Path, layers: int, channels: int, window: int) -> Path:
    import audiodiff

    sched = audiodiff.NoiseSchedule.linear(50, 1e-4, 0.05)
    model = audiodiff.DiffWave(layers, channels, 10)
    config = {"format": "audiodiff", "version": 1, "domain": "waveform", "sample_rate": RATE,
              "clip_length": window, "model": {"type": "diffwave", "residual_layers": layers,
                                                "residual_channels": channels, "dilation_cycle": 10},
              "diffusion": audiodiff.GaussianDiffusion(sched).to_config(), "sample": {"sampler": "ddim"}}
    pipe = audiodiff.Pipeline.for_config(model, audiodiff.GaussianDiffusion(sched), config)
    return pipe.save_pretrained(folder / "run")


def measure(run: Path, length: int, window: int, steps: int, threads: int) -> dict:
    code = CHILD.format(run=str(run), length=length, window=window, steps=steps, threads=threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          cwd=ROOT)   # -c puts the working folder first on the path: this checkout's audiodiff
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[2, 4, 8])
    ap.add_argument("--window", type=int, default=16000)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(RESULTS / "bench_long_audio.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), args.layers, args.channels, args.window)
        for s in args.seconds:
            length = int(s * RATE)
            for mode, window in (("windows", args.window), ("one pass", max(length, args.window))):
                r = measure(run, length, window, args.steps, args.threads)
                rows.append({"seconds_audio": s, "mode": mode, "window": window, **r})
                print(f"{s:8.1f} s  {mode:9s}  window {window:8d}  peak +{r['peak_mib']:8.1f} MiB  "
                      f"{r['seconds']:7.2f} s  finite {r['finite']}", flush=True)
    result = {**envelope("studies.bench_long_audio"), "cpu": cpu_name(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg()[0], "model": {"layers": args.layers, "channels": args.channels},
              "steps": args.steps, "threads": args.threads, "rows": rows}
    print(f"wrote {write_result(args.json, result)}")


if __name__ == "__main__":
    main()
