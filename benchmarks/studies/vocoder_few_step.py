"""Frozen study (issue 11): do distilled vocoder students beat the teacher at their step counts?  Answer:
benchmarks/LOG.md, "Vocoder students against the fast schedule".

How close a vocoder's output is to its input mel at each step count: a teacher's samplers against its students.

For --n held-out recordings (a folder of WAVs, or the clips a Speech Commands list names), each configuration
re-synthesises every clip from its mel (`pipe.resynthesize`, one seed) and scores the **log-mel distance**: the mean
|log-mel(output) − log-mel(input)| over bins and frames (natural log of the magnitude mel, floored at 1e-5, the
vocoder's own `MelFeatures.log_mel`), averaged over clips.  Lower is better; 0 is a perfect copy.

Configurations: the teacher with its own [sample] settings (DiffWave's 6-step `fast` schedule in the vocoder
recipes), the teacher's every-step `ddpm` chain, the teacher's DDIM at each student's step count (what the student
has to beat), and each --student run at its native steps (`audiodiff distill` writes them).  Network calls are
counted by a forward hook.  Prints a table and writes JSON (default benchmarks/results/vocoder_few_step.json).

    python -m benchmarks.studies.vocoder_few_step runs/vocoder --student runs/vocoder-2step \\
        --data ../shared/data/digits-tts/SpeechCommands/speech_commands_v0.02 --list testing_list.txt --n 32
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

import audiodiff
from audiodiff.audio import load_audio

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name


def pick_files(data: Path, list_file: str | None, n: int, seed: int) -> list[Path]:
    """n WAVs from `data` (those `list_file` names, relative to it, when given), drawn with `seed`, in order."""
    if list_file:
        names = [line.strip() for line in (data / list_file).read_text().splitlines() if line.strip()]
        files = [data / name for name in names]
    else:
        files = sorted(data.rglob("*.wav"))
    if not files:
        raise SystemExit(f"error: no WAV files under {data}" + (f" named by {list_file}" if list_file else ""))
    files = sorted(random.Random(seed).sample(files, min(n, len(files))))
    return files


def log_mel_distance(pipe, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per clip mean |log-mel(out) − log-mel(ref)|; out, ref: [B, L] at the vocoder's rate → [B]."""
    a, b = pipe.features.log_mel(out.float()), pipe.features.log_mel(ref.float())
    return (a - b).abs().flatten(1).mean(1)


def count_calls(pipe) -> list[int]:
    """A forward hook on the pipeline's network; the returned list's one item counts calls."""
    calls = [0]
    pipe.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def score(pipe, audio: torch.Tensor, seed: int, batch: int, **options) -> dict:
    """Re-synthesise `audio` [N, L] in batches with one seed; distance per clip, network calls per batch, time."""
    calls = count_calls(pipe)
    dists, start = [], time.perf_counter()
    for i in range(0, audio.shape[0], batch):
        chunk = audio[i:i + batch]
        out = pipe.resynthesize(chunk, seed=seed + i, **options)
        dists.append(log_mel_distance(pipe, out, chunk))
    seconds = time.perf_counter() - start
    d = torch.cat(dists)
    batches = -(-audio.shape[0] // batch)
    return {"log_mel_distance": round(d.mean().item(), 4), "std": round(d.std().item(), 4) if d.numel() > 1 else 0.0,
            "calls_per_clip": calls[0] // batches, "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teacher", type=Path, help="the vocoder run ([data] domain = \"vocoder\")")
    ap.add_argument("--student", type=Path, action="append", default=[], help="a distilled run (repeatable)")
    ap.add_argument("--data", type=Path, required=True, help="a folder of WAVs (searched recursively)")
    ap.add_argument("--list", dest="list_file", help="a file in --data naming the clips to use (e.g. testing_list.txt)")
    ap.add_argument("--n", type=int, default=32, help="clips (default 32)")
    ap.add_argument("--batch", type=int, default=16, help="clips per vocoder call (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"],
                    help="sampling precision (default fp32: bf16 samples through a copy the call counter misses)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", type=Path, default=RESULTS / "vocoder_few_step.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    teacher = audiodiff.load(args.teacher, device="cpu", precision=args.precision)
    files = pick_files(args.data, args.list_file, args.n, args.seed)
    clips = [load_audio(f, teacher.sample_rate)[0] for f in files]
    length = min(c.shape[-1] for c in clips)
    length -= length % teacher.features.hop_length
    audio = torch.stack([torch.as_tensor(c).reshape(-1)[:length] for c in clips]).float()

    rows = [("teacher, its [sample] settings", teacher, {}),
            ("teacher, ddpm every step", teacher, {"sampler": "ddpm", "steps": teacher.diffusion.num_steps})]
    students = [(s, audiodiff.load(s, device="cpu", precision=args.precision)) for s in args.student]
    for steps in sorted({len(p.sample_defaults["levels"]) for _, p in students}):
        rows.append((f"teacher, ddim {steps} steps", teacher, {"sampler": "ddim", "steps": steps}))
    rows += [(f"student {path}", pipe, {}) for path, pipe in students]

    results = []
    for label, pipe, options in rows:
        r = {"config": label, **options, **score(pipe, audio, args.seed, args.batch, **options)}
        results.append(r)
        print(f"{label:<44} calls {r['calls_per_clip']:>3}  log-mel distance {r['log_mel_distance']:.4f} "
              f"(± {r['std']:.4f})  {r['seconds']:.1f} s", flush=True)
    out = {**envelope("studies.vocoder_few_step", argv=argv), "teacher": str(args.teacher), "clips": len(files), "samples_per_clip": length, "seed": args.seed,
           "precision": args.precision, "cpu": cpu_name(), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "files": [str(f) for f in files], "results": results}
    write_result(args.json, out)
    return out


if __name__ == "__main__":
    main()
