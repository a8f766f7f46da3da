"""audiodiff against the real peer, the PyPI package diffwave==0.1.7 (lmnt-com/diffwave), side by side.

Install the peer without its dependencies (it would otherwise pull its own torch pins):

    pip install --no-deps diffwave==0.1.7          # the `bench` extra of pyproject.toml names it

Networks (same shapes on both sides; the parameter counts are checked to be equal before timing):

  vocoder   the LJSpeech BASE vocoder: 30 residual layers × 64 channels, dilation cycle 10, 80 mels, hop 256,
            T = 50, β linear 1e-4 → 0.05 (lmnt's params.py; audiodiff's recipes/ljspeech-vocoder)
  sc09      the SC09-sized network, 36 × 256, cycle 12, T = 200, β 1e-4 → 0.02.  diffwave 0.1.7 has no
            unconditional model (its DiffWave always takes a spectrogram), so both sides run the
            mel-conditioned 36 × 256 network here (25,527,491 parameters on both sides, against 24,034,305
            unconditional).

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

    python benchmarks/vs_diffwave.py --threads 1                               # CPU: short clips
    python benchmarks/vs_diffwave.py --nets vocoder --modes fp32,bf16 --trainer
    python benchmarks/vs_diffwave.py --tiny --repeats 1                        # smoke test, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, also when imported
from _common import cpu_name, write_json  # noqa: E402
from bench_diffwave import PeakMemory, device_name, sync  # noqa: E402
import audiodiff  # noqa: E402
from audiodiff.precision import cast_network, compile_network, resolve_precision  # noqa: E402
from audiodiff.sampling import DIFFWAVE_FAST_BETAS  # noqa: E402

NETS = {
    "vocoder": dict(layers=30, channels=64, cycle=10, num_steps=50, beta_end=0.05, sample_rate=22050),
    "sc09": dict(layers=36, channels=256, cycle=12, num_steps=200, beta_end=0.02, sample_rate=16000),
}
TINY = dict(layers=4, channels=16)
N_MELS, HOP = 80, 256
CUDA_SHAPES = {"vocoder": (16, 62), "sc09": (16, 63)}   # (batch, mel frames): 15,872 and 16,128 samples
CPU_SHAPES = {"vocoder": (2, 16), "sc09": (1, 16)}      # 4,096 samples: CPU steps of seconds, not minutes


def load_peer():
    try:
        from diffwave import inference, model, params
    except ImportError:
        raise SystemExit("the peer is not installed: pip install --no-deps diffwave==0.1.7")
    return model, params, inference


# --------------------------------------------------------------------------- the two sides
class Side:
    """One implementation: its network, its training step and its sampling chain."""

    def __init__(self, name: str, net: torch.nn.Module, device: torch.device, precision: str, compile_: bool):
        self.name, self.net, self.device = name, net.to(device), device
        self.precision, self.compile = precision, compile_
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=2e-4)
        self.train_net = torch.compile(self.net) if compile_ else self.net

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def train_step(self, audio: torch.Tensor, mel: torch.Tensor, after=None) -> torch.Tensor:
        """One optimiser step; after(phase), if given, runs once the "forward" (the loss), the "backward" and the
        "optimizer" step (clipping + AdamW) are done (gpu_levers.py reads memory there)."""
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss(audio, mel)
        if after:
            after("forward")
        loss.backward()
        if after:
            after("backward")
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        if after:
            after("optimizer")
        return loss.detach()


class Peer(Side):
    def __init__(self, cfg: dict, device, precision, compile_):
        model, params, self.inference = load_peer()
        self.params = params.AttrDict(params.params).override(dict(
            residual_layers=cfg["layers"], residual_channels=cfg["channels"], dilation_cycle_length=cfg["cycle"],
            noise_schedule=np.linspace(1e-4, cfg["beta_end"], cfg["num_steps"]).tolist(),
            inference_noise_schedule=list(DIFFWAVE_FAST_BETAS), sample_rate=cfg["sample_rate"]))
        super().__init__("diffwave 0.1.7", model.DiffWave(self.params), device, precision, compile_)
        beta = np.array(self.params.noise_schedule)
        self.noise_level = torch.tensor(np.cumprod(1 - beta).astype(np.float32), device=device)
        self.key = f"vs_diffwave-{id(self)}"
        self.inference.models[self.key] = self.net.eval() if not compile_ else torch.compile(self.net.eval())

    def loss(self, audio, mel):
        """learner.py's train_step, with MSE: audio [B, L], mel [B, 80, L / 256]."""
        n = audio.shape[0]
        t = torch.randint(0, len(self.params.noise_schedule), [n], device=audio.device)
        scale = self.noise_level[t].unsqueeze(1)
        noise = torch.randn_like(audio)
        noisy = scale ** 0.5 * audio + (1.0 - scale) ** 0.5 * noise
        return F.mse_loss(self.train_net(noisy, mel, t).squeeze(1), noise)

    def sample(self, mel, fast: bool) -> torch.Tensor:
        self.net.eval()
        with self.autocast():
            audio, _ = self.inference.predict(mel, model_dir=self.key, device=self.device, fast_sampling=fast)
        self.net.train()
        return audio


class Ours(Side):
    def __init__(self, cfg: dict, device, precision, compile_):
        net = audiodiff.DiffWave(cfg["layers"], cfg["channels"], cfg["cycle"], n_mels=N_MELS, hop_length=HOP)
        super().__init__("audiodiff", net, device, precision, compile_)
        self.diffusion = audiodiff.GaussianDiffusion(audiodiff.NoiseSchedule.linear(cfg["num_steps"], 1e-4,
                                                                                    cfg["beta_end"]))
        self._sampling_net = None

    def loss(self, audio, mel):
        return self.diffusion.loss(self.train_net, audio[:, None], mel=mel)

    def sample(self, mel, fast: bool) -> torch.Tensor:
        """What Pipeline.vocode runs: the network at the sampling precision (cast once), compiled if asked."""
        if self._sampling_net is None:
            net = cast_network(self.net.eval(), self.precision)
            self._sampling_net = compile_network(net, self.device) if self.compile else net
        self.net.eval()
        x = self.diffusion.sample(self._sampling_net, (mel.shape[0], 1, mel.shape[-1] * HOP),
                                  sampler="fast" if fast else "ddpm", device=self.device, mel=mel)
        self.net.train()
        return x[:, 0]


# --------------------------------------------------------------------------- timing
def timed(fn, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    if torch.is_tensor(out) and not torch.isfinite(out.float()).all():
        raise RuntimeError("non-finite output")
    return time.perf_counter() - t0


def alternate(sides: list[Side], fn, repeats: int, device, mem: PeakMemory) -> dict[str, dict]:
    """One untimed call per side, then `repeats` rounds of side A, side B; median seconds and peak memory."""
    for side in sides:
        timed(lambda: fn(side), device)
    times: dict[str, list[float]] = {s.name: [] for s in sides}
    peaks: dict[str, float] = {s.name: 0.0 for s in sides}
    for _ in range(repeats):
        for side in sides:
            mem.reset()
            times[side.name].append(timed(lambda: fn(side), device))
            peaks[side.name] = max(peaks[side.name], mem.read_mib())
    return {name: {"seconds": statistics.median(ts), "all_seconds": ts, "peak_memory_mib": peaks[name]}
            for name, ts in times.items()}


def bench_net(name: str, cfg: dict, args, device, precision: str, compile_: bool, mem: PeakMemory) -> dict:
    batch, frames = args.shape or (CUDA_SHAPES if device.type == "cuda" else CPU_SHAPES)[name]
    length = frames * HOP
    torch.manual_seed(0)
    peer, ours = Peer(cfg, device, precision, compile_), Ours(cfg, device, precision, compile_)
    counts = {s.name: sum(p.numel() for p in s.net.parameters()) for s in (peer, ours)}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{name}: the networks differ: {counts} parameters")
    t = torch.arange(length, device=device) / cfg["sample_rate"]
    audio = (0.5 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(batch, length, device=device)).clamp(-1, 1)
    mel = torch.randn(batch, N_MELS, frames, device=device)
    sides = [peer, ours]
    row = {"net": name, "params": counts["audiodiff"], "batch": batch, "length": length,
           "precision": precision, "compile": compile_}
    train = alternate(sides, lambda s: s.train_step(audio, mel), args.repeats, device, mem)
    row["train"] = {k: {**v, "clips_per_s": batch / v["seconds"]} for k, v in train.items()}
    audio_s = batch * length / cfg["sample_rate"]
    chains = {"fast": True}
    if cfg["num_steps"] <= 50 or args.full_chains:
        chains["full"] = False
    row["sample"] = {}
    for chain, fast in chains.items():
        with torch.no_grad():
            res = alternate(sides, lambda s: s.sample(mel, fast), args.repeats, device, mem)
        row["sample"][chain] = {k: {**v, "steps": len(DIFFWAVE_FAST_BETAS) if fast else cfg["num_steps"],
                                    "rtf": v["seconds"] / audio_s} for k, v in res.items()}
    if "full" not in row["sample"]:   # estimated from the fast chain: every step is one network call
        scale = cfg["num_steps"] / len(DIFFWAVE_FAST_BETAS)
        row["sample"]["full"] = {k: {"steps": cfg["num_steps"], "rtf": v["rtf"] * scale, "estimated": True}
                                 for k, v in row["sample"]["fast"].items()}
    del peer.inference.models[peer.key]
    return row


def ratio(row: dict, *path: str) -> float:
    """audiodiff / peer speed for a row's train (clips/s) or a sampling chain (inverse RTF)."""
    a, p = row, row
    for k in path:
        a, p = a[k], p[k]
    if path[0] == "train":
        return a["audiodiff"]["clips_per_s"] / p["diffwave 0.1.7"]["clips_per_s"]
    return p["diffwave 0.1.7"]["rtf"] / a["audiodiff"]["rtf"]


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="vocoder,sc09", help="comma list of vocoder, sc09 (default both; '' for none, e.g. with --trainer)")
    ap.add_argument("--modes", default="fp32,best", help="comma list of fp32, bf16, best (default fp32,best)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    ap.add_argument("--batch", type=int, default=None, help="clips per batch (default: per net and device)")
    ap.add_argument("--frames", type=int, default=None, help="mel frames per clip, ×256 samples (default: per net)")
    ap.add_argument("--repeats", type=int, default=2, help="timed rounds per side (default 2; median reported)")
    ap.add_argument("--full-chains", action="store_true", help="run the SC09 network's 200-step chain too")
    ap.add_argument("--trainer", action="store_true", help="also time audiodiff's Trainer (vocoder) against "
                    "the peer's raw step")
    ap.add_argument("--trainer-steps", type=int, default=8, help="Trainer steps per timed run (default 8)")
    ap.add_argument("--tiny", action="store_true", help=f"smoke test: {TINY['layers']} layers × "
                    f"{TINY['channels']} channels, 4 frames")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks/results/vs_diffwave.json"))
    return ap


def resolve_modes(modes: str, device: torch.device) -> list[tuple[str, str, bool]]:
    """(label, precision, compile) per distinct mode; "best" = precision auto, compiled on CUDA."""
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


def run(args) -> dict:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        args.frames = args.frames or 4
    args.shape = None
    if args.batch or args.frames:
        args.shape = (args.batch or 1, args.frames or 16)
    mem = PeakMemory(device)
    result = {"benchmark": "vs_diffwave", "date": datetime.datetime.now().isoformat(timespec="seconds"),
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
            write_json(args.json, result)   # after every row: a run cut short keeps what it measured
    if args.trainer:
        from trainer_overhead import bench_trainer
        cfg = {**NETS["vocoder"], **(TINY if args.tiny else {})}
        batch, frames = args.shape or (CUDA_SHAPES if device.type == "cuda" else CPU_SHAPES)["vocoder"]
        result["trainer"] = bench_trainer(cfg, batch, frames, device, args.trainer_steps, args.repeats,
                                          Peer, N_MELS, HOP)
        print_trainer(result["trainer"])
    result["memory_kind"] = mem.kind
    result["loadavg_at_end"] = list(os.getloadavg())
    return result


def print_row(r: dict) -> None:
    p, a = "diffwave 0.1.7", "audiodiff"
    head = f"{r['net']} ({r['params'] / 1e6:.2f}M) {r['mode']}, batch {r['batch']} × {r['length']}"
    print(f"\n{head}\n{'':14}{'diffwave 0.1.7':>16}{'audiodiff':>12}{'ratio':>8}")
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


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    result = run(args)
    print(f"\nJSON: {write_json(args.json, result)}")
    return result


if __name__ == "__main__":
    main()
