"""Drum one-shots on held-out kits: does the class-conditional model make each instrument, and how close are its
samples to real kits it never heard (issue 26's drum goals)?

    python -m benchmarks.drums --classifier runs/drums-classifier --model runs/drums-cpu \\
        [--data RECIPE] [--per-class 16] [--configs ddim:50,dpm++:10] [--json OUT]

Run from the repository root.  The held-out one-shots are the test split of the classifier's [data] (or --data's
recipe; its test_list: kits neither network trained on), scored by the classifier run (recipes/drums-classifier):
- real held-out: the share of each class the classifier recognises (the bar the samples are held to);
- samples: --per-class clips of every class per sampler configuration (the run's [sample] guidance and trim_db),
  the share recognised as the class asked for, and that share over the real one's (goal ≥ 0.8 for every class);
- FID in the classifier's feature space, at equal sizes and class mix: the held-out clips are split in two halves
  (per class, seeded, --splits times); FID(half B, half A) is the spread of real kits themselves, FID(samples,
  half A) with as many samples of each class as half B holds (class_matched; the samples are made --per-class of
  every class, the kits are not balanced, and a mix that differs from the kits' moves FID as much as the sound
  does); goal: the samples' within 2× of the halves'.  `*_any_mix` keys hold the earlier draw, len(B) clips
  whatever their classes.  FID(training kits, half A) at the
  same size says how far the held-out kits sit from the training ones, and FID(half B through the run's mels and
  Griffin-Lim, half A) what the decoder alone costs (a perfect mel model would score that).
JSON with the shared envelope (benchmarks/lib/envelope.py), a table printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .lib import envelope, write_result

NAME = "drums"


def data_table(data_recipe: Path | None, classifier_config: dict[str, Any]) -> tuple[Any, str]:
    """The [data] table holding the kits: --data's recipe, else the one the classifier was trained with."""
    from audiodiff.eval.evaluate import reference_data
    from audiodiff.recipe import load_recipe

    if data_recipe is not None:
        return load_recipe(data_recipe).data, str(data_recipe)
    return reference_data(None, classifier_config), "the classifier's recipe"


def held_out(data: Any, where: str, split: str, length: int, rate: int) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """The [data] table's `split` clips, first `length` samples at `rate`: (waves [N, L], labels [N], class names)."""
    from audiodiff.data import build_dataset
    from audiodiff.eval.scorer import clips_and_labels, split_data

    cfg = split_data(data, split) if split != "train" else data
    if cfg is None:
        sys.exit(f"{where}: [data] has no {split} split (set [data] {split}_list)")
    cfg = dataclasses.replace(cfg, sample_rate=rate, clip_length=length, domain="waveform")
    ds = build_dataset(cfg, show_progress=False)
    waves, labels = clips_and_labels(ds)
    return waves, labels.numpy(), list(ds.class_names)


def halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two halves with each class split evenly between them (an odd one out goes to either)."""
    a, b = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = len(idx) // 2 + (rng.random() < 0.5 if len(idx) % 2 else 0)
        a += list(idx[:cut])
        b += list(idx[cut:])
    return np.array(a), np.array(b)


def class_matched(labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into `labels` holding as many rows of each class as `wanted` (labels) does: drawn without
    replacement, with it only for a class that has fewer rows than wanted."""
    picks = []
    for c, count in zip(*np.unique(wanted, return_counts=True)):
        pool = np.flatnonzero(labels == c)
        if not len(pool):
            raise ValueError(f"no clips of class {c} to match the real half's {count}")
        picks.append(rng.choice(pool, count, replace=count > len(pool)))
    return np.concatenate(picks)


def per_class_rate(logp: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    predicted = logp.argmax(1)
    return {n: float((predicted[labels == k] == k).mean()) for k, n in enumerate(names) if (labels == k).any()}


def as_written(pipe: Any, waves: torch.Tensor | list[torch.Tensor], length: int) -> torch.Tensor:
    """Clips [N, L] trimmed as `audiodiff sample` writes them (the run's [sample] trim_db), then cropped or
    zero-padded to the classifier's `length`: [N, length]."""
    from audiodiff.audio import crop_or_pad, trim_trailing_silence

    trim = pipe.sample_options.trim_db
    waves = [trim_trailing_silence(w, pipe.sample_rate, trim) if trim < 0 else w for w in waves]
    return torch.stack([crop_or_pad(w[None], length, random=False)[0] for w in waves])


def generate(pipe: Any, config: str, per_class: int, length: int, seed: int) -> tuple[torch.Tensor, np.ndarray, float]:
    """per_class samples of every class with `config` ("sampler:steps", "sampler:steps:guidance" or
    "sampler:steps:guidance:LO-HI", guidance only at noise levels σ in [LO, HI]; else the run's guidance and
    interval; "run[:guidance[:LO-HI]]": the run's own sampler and steps, e.g. a distilled student's levels),
    as_written: (waves [N, length], labels [N], seconds)."""
    parts = config.split(":")
    if parts[0] == "run":
        sampler, steps, scale = None, None, parts[1:]
    else:
        sampler, steps, scale = parts[0], int(parts[1]), parts[2:]
    guidance = float(scale[0]) if scale else None
    interval = [float(v) for v in scale[1].split("-")] if len(scale) > 1 else None
    n_classes = len(pipe.config["class_names"])
    labels = [k for k in range(n_classes) for _ in range(per_class)]
    generator = torch.Generator().manual_seed(seed)
    waves, start = [], time.perf_counter()
    for i in range(0, len(labels), 32):
        batch, _ = pipe.generate(len(labels[i:i + 32]), sampler=sampler, steps=steps, labels=labels[i:i + 32],
                                 guidance=guidance, guidance_interval=interval, generator=generator)
        waves += list(batch)
    seconds = time.perf_counter() - start
    return as_written(pipe, waves, length), np.array(labels), seconds


def griffin_lim_floor(pipe: Any, waves: torch.Tensor) -> torch.Tensor:
    """The held-out clips [N, L] through the run's own mels and back by Griffin-Lim, as_written: what a perfect
    mel model would score behind this decoder."""
    from audiodiff.audio import crop_or_pad

    padded = torch.stack([crop_or_pad(w[None], pipe.clip_length, random=False)[0] for w in waves])
    out = pipe.features.decode_griffin_lim(pipe.features.encode(padded)).float()
    return as_written(pipe, list(out), waves.shape[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--model", type=Path, help="a class-conditional run (recipes/drums-cpu); without it, real kits only")
    p.add_argument("--data", type=Path, help="recipe whose [data] has the kits (default: the classifier's)")
    p.add_argument("--per-class", type=int, default=16)
    p.add_argument("--configs", default="ddim:50", help="sampler:steps[:guidance[:LO-HI]] or run[:guidance[:LO-HI]] "
                   "(the run's own sampler and steps), comma-separated; LO-HI: guidance only at noise levels σ in "
                   "that range")
    p.add_argument("--splits", type=int, default=20, help="random half splits of the held-out kits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/drums.json"))
    args = p.parse_args(argv)

    from audiodiff.eval.metrics import frechet_distance, inception_score
    from audiodiff.eval.scorer import embed, load_classifier

    torch.manual_seed(args.seed)
    net, config = load_classifier(args.classifier)
    rate, length = int(config["sample_rate"]), int(config["clip_length"])
    data, where = data_table(args.data, config)
    test, test_labels, names = held_out(data, where, "test", length, rate)
    if names != list(config["class_names"]):
        sys.exit(f"{where}: classes {names} differ from the classifier's {config['class_names']}")
    train, train_labels, _ = held_out(data, where, "train", length, rate)
    f_test, lp_test = embed(net, test)
    f_train, _ = embed(net, train)
    real = per_class_rate(lp_test, test_labels, names)
    rng = np.random.default_rng(args.seed)
    splits = [halves(test_labels, rng) for _ in range(args.splits)]

    def fid_at_size(features: np.ndarray) -> float:
        """Mean over the splits of FID(len(B) random rows of `features`, half A), whatever their classes."""
        return float(np.mean([frechet_distance(features[rng.choice(len(features), len(b), replace=False)],
                                               f_test[a]) for a, b in splits]))

    def fid_matched(features: np.ndarray, labels: np.ndarray) -> float:
        """Mean over the splits of FID(rows of `features` with half B's count of every class, half A): the same
        size and the same mix of classes as the real halves' FID, so it measures the clips, not the class mix."""
        return float(np.mean([frechet_distance(features[class_matched(labels, test_labels[b], rng)], f_test[a])
                              for a, b in splits]))

    result: dict[str, Any] = {**envelope(NAME, argv=argv), "classes": names, "n_test": len(test),
                              "n_train": len(train), "real_rate": real,
                              "real_accuracy": float((lp_test.argmax(1) == test_labels).mean()),
                              "fid_halves": float(np.mean([frechet_distance(f_test[b], f_test[a]) for a, b in splits])),
                              "fid_train_kits": fid_matched(f_train, train_labels),
                              "fid_train_kits_any_mix": fid_at_size(f_train), "models": {}}
    rows = [("real held-out kits", real, result["fid_halves"], None, "")]
    rows.append(("real training kits (FID only)", {}, result["fid_train_kits"], None, ""))
    if args.model is not None:
        import audiodiff

        pipe = audiodiff.load(args.model, device="cpu", precision="fp32")
        feats, logp = embed(net, griffin_lim_floor(pipe, test))
        floor = per_class_rate(logp, test_labels, names)
        gl_fid = float(np.mean([frechet_distance(feats[b], f_test[a]) for a, b in splits]))   # half B's own clips
        result["griffin_lim_floor"] = {"rate": floor, "fid_vs_half": gl_fid}
        rows.append(("held-out kits → the run's mels → Griffin-Lim", floor, result["griffin_lim_floor"]["fid_vs_half"],
                     None, ""))
        for cfg in args.configs.split(","):
            waves, labels, seconds = generate(pipe, cfg, args.per_class, length, args.seed)
            feats, logp = embed(net, waves)
            rate_of = per_class_rate(logp, labels, names)
            entry = {"per_class": args.per_class, "rate": rate_of,
                     "rate_vs_real": {n: rate_of[n] / real[n] if real.get(n) else None for n in rate_of},
                     "fid_vs_half": fid_matched(feats, labels), "fid_vs_half_any_mix": fid_at_size(feats),
                     "fid_vs_test": frechet_distance(feats, f_test),
                     "is": inception_score(logp), "seconds": seconds,
                     "predicted": {n: int((logp.argmax(1) == k).sum()) for k, n in enumerate(names)}}
            entry["goal_rate"] = all(v is not None and v >= 0.8 for v in entry["rate_vs_real"].values())
            entry["goal_fid"] = entry["fid_vs_half"] <= 2 * result["fid_halves"]
            result["models"][cfg] = entry
            rows.append((f"{args.model.name} {cfg} ({seconds:.0f} s)", rate_of, entry["fid_vs_half"], entry, cfg))
    write_result(args.json, result)
    print_table(result, rows, names)
    return result


def print_table(result: dict[str, Any], rows: list, names: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"drum one-shots on held-out kits ({result['n_test']} clips; FID at equal sizes and "
                        f"class mix, mean of splits)")
    table.add_column("clips")
    for n in names:
        table.add_column(n, justify="right")
    table.add_column("FID vs half A", justify="right")
    table.add_column("goals", justify="right")
    for label, rates, fid, entry, _ in rows:
        goals = "" if entry is None else \
            f"rate {'ok' if entry['goal_rate'] else 'no'}, FID {'ok' if entry['goal_fid'] else 'no'}"
        table.add_row(label, *[f"{100 * rates[n]:.0f}%" if n in rates else "" for n in names], f"{fid:.2f}", goals)
    Console().print(table)


if __name__ == "__main__":
    main()
