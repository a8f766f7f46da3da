"""Frozen study (issue 10): why did bf16 autocast not speed up sampling?  Answer: benchmarks/LOG.md, "Against the
real peer", 2026-12-01/02 ("Why bf16 did not speed up the reverse step").

Why bf16 autocast need not speed up sampling: weight casts per reverse step, counted with torch.profiler.

A small DiffWave (6 × 64) runs 4 reverse steps five ways; the table gives aten::_to_copy calls per step:

  fp32                    no casts but the sampler's own
  autocast                one torch.autocast around the whole chain, trainable weights: autocast's cache
                          casts each weight once (it keeps casts of fp32 leaf tensors that require grad,
                          until the outermost autocast context closes)
  autocast-per-call       autocast entered around each network call: the cache is emptied every call
  autocast-frozen         the chain under one autocast but the weights frozen (requires_grad_(False), as
                          inference code often does): the cache does not apply
  cast-once               audiodiff's sampling path for bf16 (precision.cast_network): a bf16 copy made once

The counts do not depend on the CPU; whether bf16 arithmetic itself is faster does (see precision.py).

    python -m benchmarks.studies.autocast_casts
"""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

import audiodiff as ad
from audiodiff.precision import cast_network

from ..lib import RESULTS, envelope, write_result

STEPS = 4


def main() -> dict:
    torch.set_num_threads(1)
    net = ad.DiffWave(6, 64, 3).eval()
    diffusion = ad.GaussianDiffusion(ad.NoiseSchedule.linear(50, 1e-4, 0.05))
    shape = (1, 1, 2048)
    bf16 = torch.bfloat16

    def per_call(x, t):
        with torch.autocast("cpu", dtype=bf16):
            return net(x, t)

    def run(mode: str):
        if mode == "autocast":
            with torch.autocast("cpu", dtype=bf16):
                return diffusion.sample(net, shape, steps=STEPS, device="cpu")
        if mode == "autocast-per-call":
            return diffusion.sample(per_call, shape, steps=STEPS, device="cpu")
        if mode == "autocast-frozen":
            net.requires_grad_(False)
            try:
                with torch.autocast("cpu", dtype=bf16):
                    return diffusion.sample(net, shape, steps=STEPS, device="cpu")
            finally:
                net.requires_grad_(True)
        if mode == "cast-once":
            return diffusion.sample(cast_network(net, "bf16"), shape, steps=STEPS, device="cpu")
        return diffusion.sample(net, shape, steps=STEPS, device="cpu")

    result = {**envelope("studies.autocast_casts"), "weight_tensors": sum(1 for _ in net.parameters()), "steps": STEPS,
              "to_copy_per_step": {}}
    for mode in ("fp32", "autocast", "autocast-per-call", "autocast-frozen", "cast-once"):
        run(mode)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(mode)
        counts = {e.key: e.count for e in prof.key_averages()}
        result["to_copy_per_step"][mode] = counts.get("aten::_to_copy", 0) / STEPS
        print(f"{mode:20} aten::_to_copy per step: {result['to_copy_per_step'][mode]:6.1f}")
    print(f"({result['weight_tensors']} weight tensors)")
    write_result(RESULTS / "autocast_casts.json", result)
    return result


if __name__ == "__main__":
    main()
