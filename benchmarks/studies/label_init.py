"""Frozen study (issue 14): how large should the label table start?  Answer: benchmarks/LOG.md, "Label embedding
scale" (the library's N(0, 0.02²)).

How the label embedding's initial scale changes what a class-conditional DiffWave learns in a short run.

Trains the same small DiffWave (num_classes = 10) on the digits of a Speech Commands tree twice, with the same
seed, batches and noise: once with the label table at torch's default N(0, 1) (norm ≈ 23 at 512 dimensions,
about 15 times the step embedding's, so at first the label drowns the step) and once at the library's
initial scale (`audiodiff/nets/layers.py`, LabelEmbedding).  Every EVAL steps it reports the ε-MSE on held-out
test clips at fixed steps t and noise, labelled and unlabelled ("no label", classifier-free guidance's path),
and the mean of the unlabelled ε̂ (a DC bias shows there).  JSON + table.

    python -m benchmarks.studies.label_init --steps 400 --json benchmarks/results/label_init.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from audiodiff import DiffWave, GaussianDiffusion, NoiseSchedule
from audiodiff.audio import crop_or_pad, load_audio
from audiodiff.data.corpora import list_speechcommands
from audiodiff.precision import autocast, resolve_precision

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name

EVAL_STEPS = (5, 50, 100, 150, 199)
SAMPLE_RATE = 16000


def load(root: Path, split: str, length: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips [N, 1, length] at SAMPLE_RATE (their start, zero-padded) and their digit labels [N]."""
    sources = list_speechcommands(root, split).sources
    if limit:
        sources = sources[:: max(1, len(sources) // limit)][:limit]
    waves = [crop_or_pad(load_audio(s.path, SAMPLE_RATE)[0], length, random=False) for s in sources]
    return torch.stack(waves)[:, None], torch.tensor([s.label for s in sources])


@torch.no_grad()
def probe(net: torch.nn.Module, diffusion: GaussianDiffusion, x: torch.Tensor, labels: torch.Tensor,
          precision: str) -> dict:
    """ε-MSE at each of EVAL_STEPS, labelled and unlabelled, and the unlabelled ε̂'s mean, on x: [N, 1, L]."""
    net.eval()
    out = {"mse_labelled": [], "mse_unlabelled": [], "mean_unlabelled": []}
    for t in EVAL_STEPS:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t))
        tt = torch.full((x.shape[0],), t)
        x_t = diffusion.schedule.q_sample(x, tt, noise)
        with autocast(precision, "cpu"):
            lab = net(x_t, tt.float(), labels=labels).float()
            unl = net(x_t, tt.float(), labels=None).float()
        out["mse_labelled"].append(round(((lab - noise) ** 2).mean().item(), 4))
        out["mse_unlabelled"].append(round(((unl - noise) ** 2).mean().item(), 4))
        out["mean_unlabelled"].append(round(unl.mean().item(), 4))
    net.train()
    return out


def train(variant: str, args, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
          precision: str) -> list[dict]:
    """One run; `variant` "default" keeps the library's label table, "normal1" redraws it from N(0, 1)."""
    torch.manual_seed(0)
    net = DiffWave(residual_layers=args.layers, residual_channels=args.channels, dilation_cycle=args.cycle,
                   num_classes=10)
    if variant == "normal1":
        torch.nn.init.normal_(net.label_embedding.embedding.weight, std=1.0)
    diffusion = GaussianDiffusion(NoiseSchedule.linear(200, 1e-4, 0.02), prediction="eps")
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = torch.Generator().manual_seed(1)
    curve, t0 = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, x.shape[0], (args.batch,), generator=rng)
        labels = torch.where(torch.rand(args.batch, generator=rng) < 0.1, 10, y[idx])
        with autocast(precision, "cpu"):
            loss = diffusion.loss(net, x[idx], labels=labels, generator=rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if step % args.eval == 0:
            curve.append({"step": step, "seconds": round(time.perf_counter() - t0, 1),
                          **probe(net, diffusion, x_test, y_test, precision)})
            print(variant, curve[-1], flush=True)
    return curve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/digits-tts/SpeechCommands/speech_commands_v0.02"))
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--eval", type=int, default=100, help="probe every EVAL steps")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=8000, help="samples per clip (the first half second)")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--cycle", type=int, default=6)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--precision", default="auto")
    p.add_argument("--json", type=Path, default=RESULTS / "label_init.json")
    args = p.parse_args()
    precision = resolve_precision(args.precision, "cpu")
    x, y = load(args.data, "train", args.length)
    x_test, y_test = load(args.data, "test", args.length, limit=32)
    result = {**envelope("studies.label_init"), "cpu": cpu_name(), "precision": precision, "eval_steps_t": list(EVAL_STEPS), **{
        k: v for k, v in vars(args).items() if k not in ("data", "json")}, "runs": {}}
    for variant in ("normal1", "default"):
        result["runs"][variant] = train(variant, args, x, y, x_test, y_test, precision)
    write_result(args.json, result)
    print(f"\nε-MSE on {x_test.shape[0]} test clips at t = {list(EVAL_STEPS)} (labelled | unlabelled, mean ε̂ unlabelled)")
    print(f"{'step':>5} | {'label table':<12} | {'labelled':<38} | {'unlabelled':<38} | mean ε̂")
    for i in range(len(result["runs"]["default"])):
        for variant in ("normal1", "default"):
            r = result["runs"][variant][i]
            print(f"{r['step']:>5} | {variant:<12} | {' '.join(f'{v:.3f}' for v in r['mse_labelled']):<38} | "
                  f"{' '.join(f'{v:.3f}' for v in r['mse_unlabelled']):<38} | "
                  f"{' '.join(f'{v:+.3f}' for v in r['mean_unlabelled'])}")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
