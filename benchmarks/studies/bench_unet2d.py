"""Frozen study: do channels-last activations speed up the 2-D U-Net's CPU training step?  Answer:
recipes/sc09-cpu/README.md ("channels-last activations", 1.3×) and benchmarks/LOG.md, "GPU check".

UNet2D training step on the CPU: channels-last activations (the network's default) against the default
contiguous layout, at the sizes of recipes/sc09-cpu (40 or 64 mel bins × 64 frames, batch 32).

One training step = forward, MSE backward, AdamW step; both layouts alternate (A B A B …) in one process after one
untimed step each; medians.  JSON + table.

    python -m benchmarks.studies.bench_unet2d                    # torch's threads, 40 and 64 bins
    python -m benchmarks.studies.bench_unet2d --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from audiodiff.nets import UNet2D

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name

RECIPE = dict(base_channels=32, channel_mults=(1, 2, 2, 2), blocks_per_level=1, attention_levels=(2,))
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def step_seconds(net: UNet2D, opt: torch.optim.Optimizer, x: torch.Tensor, t: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = net(x, t).square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bins", default="40,64", help="mel bins to time, comma list (default 40,64)")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=str(RESULTS / "bench_unet2d.json"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {**envelope("studies.bench_unet2d", argv=argv), "cpu_name": cpu_name(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "batch": args.batch, "frames": args.frames, "rows": []}
    print(f"UNet2D {RECIPE}, batch {args.batch}, {torch.get_num_threads()} threads, {cpu_name()}")
    print(f"{'bins':>5}{'params':>9}{'channels_last s':>17}{'contiguous s':>14}{'speed-up':>10}")
    for bins in (int(b) for b in args.bins.split(",")):
        torch.manual_seed(0)
        nets = {}
        for name, layout in LAYOUTS.items():
            net = UNet2D(in_channels=bins, **RECIPE)
            net.memory_format = layout
            nets[name] = (net, torch.optim.AdamW(net.parameters(), lr=1e-4))
        x, t = torch.randn(args.batch, bins, args.frames), torch.rand(args.batch) * 999
        times = {name: [] for name in nets}
        for name, (net, opt) in nets.items():
            step_seconds(net, opt, x, t)          # warm-up: oneDNN picks its kernels
        for _ in range(args.repeats):
            for name, (net, opt) in nets.items():
                times[name].append(step_seconds(net, opt, x, t))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        row = {"bins": bins, "params": sum(p.numel() for p in nets["contiguous"][0].parameters()),
               "seconds": med, "all_seconds": times, "speedup": med["contiguous"] / med["channels_last"]}
        result["rows"].append(row)
        print(f"{bins:5d}{row['params'] / 1e6:8.2f}M{med['channels_last']:17.3f}{med['contiguous']:14.3f}"
              f"{row['speedup']:9.2f}×")
    print(f"JSON: {write_result(args.json, result)}")
    return result


if __name__ == "__main__":
    main()
