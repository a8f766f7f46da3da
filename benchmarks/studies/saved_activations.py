"""Frozen study (issue 10): does audiodiff's training forward keep more for backward than the peer's?  Answer:
benchmarks/LOG.md, "What the forward keeps for backward".

What a training forward keeps for backward, audiodiff against the peer (diffwave 0.1.7), eager and compiled.

Issue 10's memory question: on an H200, audiodiff's compiled bf16 training step peaked 4.3 GB above the peer's.
This counts, on any device (the CPU will do), the bytes each side's network keeps between forward and backward in
one training loss on the same clips (benchmarks/lib/peer.py's mel-conditioned networks and loss):

  eager     every tensor autograd saves (torch.autograd.graph.saved_tensors_hooks), storages counted once
  compiled  the tensors torch.compile's forward graph hands to its backward: the forward outputs after the
            min-cut partition that Inductor uses (torch._functorch.partitioners, compiler="inductor"), read from
            the graph's tensor metadata without generating kernels; minus the network's own output

Equal bytes on both sides mean the difference lies after the partition: in the backward's temporaries, the
generated kernels' buffers or cuDNN workspaces, which only a GPU run shows.

    python -m benchmarks.studies.saved_activations                    # sc09 network, 1 × 4,096, fp32 and bf16
    python -m benchmarks.studies.saved_activations --layers 4 --frames 4   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import functools

import torch

from ..lib import RESULTS, envelope, write_result
from ..lib import peer as vs
from ..lib.device import cpu_name


def eager_saved_bytes(side: vs.Side, audio: torch.Tensor, mel: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves during side's training loss (forward only)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in side.net.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), side.autocast():
        side.loss(audio, mel)
    return sum(n for ptr, n in storages.items() if ptr not in params)


def compiled_saved(side: vs.Side, audio: torch.Tensor, mel: torch.Tensor) -> dict:
    """Tensors torch.compile's partitioned forward graph(s) return for the backward (the network's output
    excluded): count, bytes, and how many graphs the network compiled into."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.partitioners import min_cut_rematerialization_partition

    graphs: list[list[torch.Tensor]] = []

    def forward_compiler(gm: torch.fx.GraphModule, _inputs):
        output = next(n for n in gm.graph.nodes if n.op == "output")
        vals = [a.meta.get("val") for a in output.args[0] if isinstance(a, torch.fx.Node)]
        graphs.append([v for v in vals if isinstance(v, torch.Tensor)])
        return make_boxed_func(gm.forward)

    backend = aot_autograd(fw_compiler=forward_compiler, bw_compiler=lambda gm, _: make_boxed_func(gm.forward),
                           partition_fn=functools.partial(min_cut_rematerialization_partition,
                                                          compiler="inductor"))
    torch._dynamo.reset()
    side.train_net = torch.compile(side.net, backend=backend)
    with side.autocast():
        side.loss(audio, mel)
    side.train_net = side.net
    out_numel = audio.numel()   # the network's output [B, 1, L] leads each graph's outputs
    saved = [t for ts in graphs for t in ts[1:]] if graphs and graphs[0][0].numel() == out_numel else \
        [t for ts in graphs for t in ts]
    return {"graphs": len(graphs), "tensors": len(saved),
            "bytes": sum(t.numel() * t.element_size() for t in saved)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=vs.NETS["sc09"]["layers"])
    ap.add_argument("--channels", type=int, default=vs.NETS["sc09"]["channels"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=16, help="mel frames per clip, × 256 samples (default 16)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", default=str(RESULTS / "saved_activations.json"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    cfg = {**vs.NETS["sc09"], "layers": args.layers, "channels": args.channels}
    length = args.frames * vs.HOP
    result = {**envelope("studies.saved_activations", device.type, argv),
              "device": device.type, "cpu_name": cpu_name(), "torch": torch.__version__, **cfg,
              "batch": args.batch, "length": length, "rows": []}
    print(f"{cfg['layers']} × {cfg['channels']} mel-conditioned, batch {args.batch} × {length}, {device.type}")
    print(f"{'precision':10}{'side':16}{'eager MiB':>11}{'compiled MiB':>14}{'tensors':>9}{'graphs':>8}")
    for precision in ("fp32", "bf16"):
        for cls in (vs.Peer, vs.Ours):
            torch.manual_seed(0)
            side = cls(cfg, device, precision, False)
            if cls is vs.Ours:
                side.net.layout = "channels_first"   # the CUDA layout, also when measured on a bf16 CPU
            audio = (0.5 * torch.randn(args.batch, length, device=device)).clamp(-1, 1)
            mel = torch.randn(args.batch, vs.N_MELS, args.frames, device=device)
            torch.manual_seed(1)
            eager = eager_saved_bytes(side, audio, mel)
            torch.manual_seed(1)
            comp = compiled_saved(side, audio, mel)
            row = {"precision": precision, "side": side.name, "eager_bytes": eager, "compiled": comp}
            result["rows"].append(row)
            print(f"{precision:10}{side.name:16}{eager / 2**20:11.1f}{comp['bytes'] / 2**20:14.1f}"
                  f"{comp['tensors']:9d}{comp['graphs']:8d}")
    print(f"\nJSON: {write_result(args.json, result)}")
    return result


if __name__ == "__main__":
    main()
