"""Frozen study (issue 10): which layout should `DiffWave.layout = "auto"` pick for bf16 on a CPU?  Answer:
benchmarks/LOG.md, "DiffWave layouts on a CPU".

DiffWave's layouts side by side on one device: what `DiffWave.layout = "auto"` should pick for bf16 on a CPU.

Per network, the layouts of audiodiff/nets/diffwave.py (channels_first: Conv1d; time_major: [B, L, C] with
dilated convolutions as channels-last 2-D convolutions; time_major_matmul: the same, dilated convolutions as
three matrix products) are timed alternately (A B C A B C …, one untimed round first) on the same weights and
data in one process, for

  train     one optimiser step: GaussianDiffusion.loss (random t, q_sample, the network, MSE), backward, AdamW
  sample    one network call under torch.no_grad (a reverse step's network evaluation)

under bf16 autocast (`--precision bf16`, the default) or in fp32.  Medians; JSON + table, with each layout's
speed relative to channels_first.

    python -m benchmarks.studies.diffwave_layouts              # sc09 36 × 256 and vocoder-sized 30 × 64, bf16
    python -m benchmarks.studies.diffwave_layouts --tiny --repeats 1   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from audiodiff import DiffWave, GaussianDiffusion, NoiseSchedule
from audiodiff.nets.diffwave import LAYOUTS
from audiodiff.precision import autocast

from ..lib import RESULTS, alternate, envelope, write_result
from ..lib.device import cpu_name, device_name, sync

NETS = {"sc09": dict(layers=36, channels=256, cycle=12), "vocoder-sized": dict(layers=30, channels=64, cycle=10)}
TINY = dict(layers=4, channels=16, cycle=2)
FORCED = [name for name in LAYOUTS if name != "auto"]


def bench_net(name: str, cfg: dict, args, device: torch.device) -> dict:
    """Median seconds per training step and per no-grad network call for each forced layout."""
    torch.manual_seed(0)
    net = DiffWave(cfg["layers"], cfg["channels"], cfg["cycle"]).to(device)
    torch.nn.init.normal_(net.output_projection.weight, std=0.02)   # a trained net's output is not all zeros
    diffusion = GaussianDiffusion(NoiseSchedule.linear(200, 1e-4, 0.02))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5)
    x0 = (0.5 * torch.randn(args.batch, 1, args.length, device=device)).clamp(-1, 1)
    t = torch.full((args.batch,), 100.0, device=device)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(args.precision, device.type):
            loss = diffusion.loss(net, x0)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def sample() -> None:
        with autocast(args.precision, device.type):
            net(x0, t)

    def in_layout(layout: str, fn):
        def run() -> None:
            net.layout = layout
            fn()
        return run

    times = alternate({(phase, layout): in_layout(layout, fn) for layout in FORCED
                       for phase, fn in (("train", train), ("sample", sample))}, args.repeats, lambda: sync(device))
    net.layout = "auto"
    row = {"net": name, **cfg, "batch": args.batch, "length": args.length}
    for phase in ("train", "sample"):
        base = statistics.median(times[phase, "channels_first"])
        row[phase] = {}
        for layout in FORCED:
            ts = times[phase, layout]
            row[phase][layout] = {"seconds": statistics.median(ts), "all_seconds": ts,
                                  "speed_vs_channels_first": base / statistics.median(ts)}
    return row


def print_row(row: dict) -> None:
    print(f"\n{row['net']} ({row['layers']} × {row['channels']}), batch {row['batch']} × {row['length']}")
    print(f"{'layout':20}{'train s/step':>14}{'×':>7}{'sample s/call':>15}{'×':>7}")
    for layout in FORCED:
        tr, sa = row["train"][layout], row["sample"][layout]
        print(f"{layout:20}{tr['seconds']:14.3f}{tr['speed_vs_channels_first']:7.2f}"
              f"{sa['seconds']:15.3f}{sa['speed_vs_channels_first']:7.2f}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default=",".join(NETS), help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=4000, help="samples per clip (default 4,000)")
    ap.add_argument("--repeats", type=int, default=6, help="timed rounds (default 6; median reported)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--tiny", action="store_true", help=f"smoke test: {TINY['layers']} × {TINY['channels']}")
    ap.add_argument("--json", default=str(RESULTS / "diffwave_layouts.json"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    result = {**envelope("studies.diffwave_layouts", device.type, argv),
              "device": device.type, "device_name": device_name(device), "cpu_name": cpu_name(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "precision": args.precision,
              "loadavg_at_start": list(os.getloadavg()), "repeats": args.repeats, "rows": []}
    for name in args.nets.split(","):
        if name not in NETS:
            raise SystemExit(f"--nets: unknown network {name!r} (one of {', '.join(NETS)})")
        row = bench_net(name, TINY if args.tiny else NETS[name], args, device)
        result["rows"].append(row)
        print_row(row)
        write_result(args.json, result)
    result["loadavg_at_end"] = list(os.getloadavg())
    print(f"\nJSON: {write_result(args.json, result)}")
    return result


if __name__ == "__main__":
    main()
