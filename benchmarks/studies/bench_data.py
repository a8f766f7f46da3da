"""Frozen study: is loading the bottleneck of SC09 training on a CPU?  Answer: benchmarks/LOG.md, "Loader throughput".

Loader throughput: clips/s from a generated fake Speech Commands tree through the real SC09 loader.

For each worker count (default 0 and 2), with a fresh cache folder:

  1. cold start: `build_dataset` decodes every digit clip and writes the .npy cache;
  2. epoch 0 through the trainer's DataLoader (EpochBatchSampler, the same worker count);
  3. later epochs: the same loader, reading only the memory-mapped cache;
  4. warm start: `build_dataset` again, now finding every clip in the cache.

"first epoch" clips/s = clips of one epoch / (cold start + epoch 0); "later epochs" = clips of one epoch /
mean epoch time from epoch 1 on.  No-cache rows (cache = false: decode into memory on every start, with
the same worker count) are given for reference.  The fake tree: `--clips` digit clips (1 s, 16-bit,
`--source-rate`) spread over zero … nine, plus non-digit words and the two list files, so listing works as
on the real corpus.

    python -m benchmarks.studies.bench_data                            # 1000 clips at 16 kHz, workers 0 and 2
    python -m benchmarks.studies.bench_data --source-rate 44100        # include resampling to 16 kHz
    python -m benchmarks.studies.bench_data --clips 200 --epochs 2     # smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiodiff.data import SC09_WORDS, EpochBatchSampler, build_dataset
from audiodiff.recipe import DataConfig

from ..lib import RESULTS, envelope, write_result
from ..lib.device import cpu_name


def make_tree(root: Path, clips: int, rate: int, seed: int = 0) -> int:
    """Speech Commands layout: <word>/<speaker>_nohash_<k>.wav, 10 % of the digit clips in each list."""
    rng = np.random.default_rng(seed)
    words = list(SC09_WORDS) + ["yes", "no"]
    valid, test = [], []
    t = np.arange(rate) / rate
    for i in range(clips + clips // 5):                    # + 20 % non-digit clips
        word = words[i % 10] if i < clips else words[10 + i % 2]
        rel = f"{word}/{i:08x}_nohash_0.wav"
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(rate)
        (root / word).mkdir(parents=True, exist_ok=True)
        sf.write(str(root / rel), wave.astype(np.float32), rate, subtype="PCM_16")
        if i < clips and i % 10 == 3:
            valid.append(rel)
        elif i < clips and i % 10 == 7:
            test.append(rel)
    (root / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return clips - len(valid) - len(test)


def run_epochs(ds, workers: int, batch_size: int, epochs: int) -> list[float]:
    """Seconds per epoch through the trainer's DataLoader setup."""
    sampler = EpochBatchSampler(len(ds), batch_size, seed=0)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for _ in range(sampler.batches_per_epoch):
            batch = next(it)
            assert batch["audio"].shape == (batch_size, 1, ds.clip_length)
        times.append(time.perf_counter() - t0)
    del it, loader
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=1000, help="digit clips in the fake tree")
    ap.add_argument("--source-rate", type=int, default=16000, help="rate of the fake WAVs (16000 = like SC09)")
    ap.add_argument("--sample-rate", type=int, default=16000, help="the recipe's rate")
    ap.add_argument("--clip-length", type=int, default=16000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per worker count (>= 2)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the main process")
    ap.add_argument("--root", type=Path, default=None, help="where to build the fake tree (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=RESULTS / "bench_data.json")
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (epoch 0 decodes, later ones read the cache)")
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    tmp = Path(tempfile.mkdtemp(prefix="bench-data-")) if args.root is None else args.root
    tree = tmp / "speechcommands"
    t0 = time.perf_counter()
    n_train = make_tree(tree, args.clips, args.source_rate)
    gen_s = time.perf_counter() - t0
    base = dict(dataset="speechcommands", root=str(tree), sample_rate=args.sample_rate,
                clip_length=args.clip_length)
    rows = []
    try:
        for w in args.workers:
            t0 = time.perf_counter()
            ds = build_dataset(DataConfig(**base, cache=False, num_workers=w), show_progress=False)
            nocache_s = time.perf_counter() - t0
            epoch_clips = (len(ds) // args.batch_size) * args.batch_size
            epoch_times = run_epochs(ds, w, args.batch_size, 2)
            rows.append({"mode": "no cache (memory)", "workers": w, "clips": len(ds), "epoch_clips": epoch_clips,
                         "start_s": nocache_s, "epoch0_s": epoch_times[0], "later_epoch_s": epoch_times[1],
                         "first_epoch_clips_per_s": epoch_clips / (nocache_s + epoch_times[0]),
                         "later_epochs_clips_per_s": epoch_clips / epoch_times[1]})
        del ds
        for w in args.workers:
            cache_dir = tmp / f"cache-w{w}"
            shutil.rmtree(cache_dir, ignore_errors=True)
            cfg = DataConfig(**base, num_workers=w, cache_dir=str(cache_dir))
            t0 = time.perf_counter()
            ds = build_dataset(cfg, show_progress=False)
            cold_s = time.perf_counter() - t0
            epoch_times = run_epochs(ds, w, args.batch_size, args.epochs)
            t0 = time.perf_counter()
            again = build_dataset(cfg, show_progress=False)
            warm_s = time.perf_counter() - t0
            assert len(again) == len(ds) == n_train
            later = float(np.mean(epoch_times[1:]))
            rows.append({"mode": "cache", "workers": w, "clips": len(ds), "epoch_clips": epoch_clips,
                         "start_s": cold_s, "warm_start_s": warm_s, "epoch0_s": epoch_times[0],
                         "later_epoch_s": later, "epoch_times_s": epoch_times,
                         "first_epoch_clips_per_s": epoch_clips / (cold_s + epoch_times[0]),
                         "later_epochs_clips_per_s": epoch_clips / later})
    finally:
        if args.root is None:
            shutil.rmtree(tmp, ignore_errors=True)

    result = {
        **envelope("studies.bench_data"),
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "threads": args.threads,
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__, "python": platform.python_version(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "tree_generation_s": gen_s, "rows": rows,
    }
    write_result(args.json, result)

    print(f"fake SC09 tree: {args.clips} digit clips at {args.source_rate} Hz → {args.sample_rate} Hz, "
          f"{n_train} in the train split, batch {args.batch_size}, clip {args.clip_length}")
    print("| mode | workers | start (s) | epoch 0 (s) | first epoch clips/s | later epochs clips/s | warm start (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        warm = f"{r['warm_start_s']:.2f}" if "warm_start_s" in r else "–"
        print(f"| {r['mode']} | {r['workers']} | {r['start_s']:.2f} | {r['epoch0_s']:.2f} | "
              f"{r['first_epoch_clips_per_s']:.0f} | {r['later_epochs_clips_per_s']:.0f} | {warm} |")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
