"""Frozen study (issue 10): which bf16 CPU kernels made the vocoder's bf16 step slow?  Answer: benchmarks/LOG.md,
"Against the real peer", 2026-12-06.

Two bf16 CPU kernels that DiffWave's sampling steps around, timed against what it does instead.

  tanh       torch.tanh on the filter half of a bf16 [B, L, 2C] layer output (a strided view, as in the layer),
             against the round trip bf16 → fp32 tanh → bf16 (nets/diffwave.gated_unit takes it without autograd)
  upsampler  the vocoder's MelUpsampler (two one-channel transposed 2-D convolutions, hop 256) with bf16
             weights, against float32 weights (it now computes in float32 in every precision)
  call       one no-grad call of the 30 × 64 vocoder's bf16 copy (precision.cast_network, what sampling
             runs) and of the unconditional 30 × 64 network's, as the code stands and with gated_unit's tanh
             left in bf16 (the two alternate, call by call)

The cases run in turn (A B C … A B C …), --repeats timed rounds after one untimed round; medians; JSON + table.

    python -m benchmarks.studies.bf16_kernels           # batch 2 × 62 frames (15,872 samples)
"""

from __future__ import annotations

import argparse
import statistics

import torch

from audiodiff import DiffWave
from audiodiff.nets import diffwave
from audiodiff.nets.diffwave import MelUpsampler
from audiodiff.precision import cast_network

from ..lib import RESULTS, alternate, envelope, write_result
from ..lib.device import cpu_name


@torch.no_grad()
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=62, help="mel frames (× 256 samples)")
    ap.add_argument("--repeats", type=int, default=20, help="timed rounds (default 20)")
    ap.add_argument("--json", default=str(RESULTS / "bf16_kernels.json"))
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    length = args.frames * 256
    filt = torch.randn(args.batch, length, 128).bfloat16().chunk(2, dim=-1)[1]
    mel = torch.randn(args.batch, 80, args.frames)
    up32 = MelUpsampler(256)
    up16 = MelUpsampler(256).bfloat16()
    vocoder = DiffWave(30, 64, 10, n_mels=80, hop_length=256).eval()
    plain = DiffWave(30, 64, 10).eval()
    voc16, plain16 = cast_network(vocoder, "bf16"), cast_network(plain, "bf16")
    x, t = torch.randn(args.batch, 1, length), torch.full((args.batch,), 10.0)
    cases = {
        "tanh bf16": lambda: torch.tanh(filt),
        "tanh via fp32": lambda: torch.tanh(filt.float()).to(torch.bfloat16),
        "upsampler bf16 weights": (lambda m16: lambda: up16(m16))(mel.bfloat16()),
        "upsampler fp32 weights": lambda: up32(mel),
    }
    gated_unit = diffwave.gated_unit

    def tanh_in_bf16(fn):
        """fn with DiffWave's gate computing tanh in bf16, as before gated_unit's fp32 trip."""
        def run() -> None:
            diffwave.gated_unit = lambda gate, filt: torch.sigmoid(gate) * torch.tanh(filt)
            try:
                fn()
            finally:
                diffwave.gated_unit = gated_unit
        return run

    for name, fn in {"call: vocoder bf16 copy": lambda: voc16(x, t, mel=mel),
                     "call: unconditional bf16 copy": lambda: plain16(x, t)}.items():
        cases[name] = fn
        cases[name + ", tanh in bf16"] = tanh_in_bf16(fn)
    rows = [{"case": name, "ms": 1e3 * statistics.median(ts)}
            for name, ts in alternate(cases, args.repeats).items()]
    result = {**envelope("studies.bf16_kernels", argv=argv),
              "cpu_name": cpu_name(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "batch": args.batch, "length": length, "repeats": args.repeats, "rows": rows}
    print(f"batch {args.batch} × {length} samples, {torch.get_num_threads()} threads")
    for r in rows:
        print(f"  {r['case']:46}{r['ms']:9.2f} ms")
    print(f"\nJSON: {write_result(args.json, result)}")
    return result


if __name__ == "__main__":
    main()
