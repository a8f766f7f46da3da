"""Issue 25: an audiodiff vocoder against lmnt-com/diffwave on a real voice, each trained for the same wall-clock
minutes on the same machine, then both re-synthesising the same held-out utterances; Griffin-Lim from the same mels.

The peer is the PyPI package diffwave==0.1.7 (the `bench` extra; `pip install --no-deps diffwave==0.1.7`) run with
its own defaults (params.py: 30 × 64, T = 50, batch 16, Adam lr 2e-4, L1 on ε, 62-frame crops), its own
preprocessing (preprocess.transform: 80-band mel, 20 Hz – sr/2, log10 in [0, 1]), its own DataLoader and its own
learner.train_step; only its loop is ours, so that it stops on the wall clock like `audiodiff train --minutes`.
(diffwave 0.1.7 reads WAVs with `torchaudio.load_wav`, which torchaudio no longer has: a shim gives it the same
int16-valued tensor through soundfile.)

    # 1. train each side alone, one after the other (measurements own the machine)
    python -m benchmarks.vocoder_real train-peer --data data/real/speech/allison-en/22050 --minutes 40 \\
        --snapshots 10,20 --out runs/peer-vocoder
    python -m benchmarks.vocoder_real train-ours recipes/vocoder-cpu --out runs/vocoder-cpu --snapshots 10,20
    # 2. re-synthesise held-out utterances of the voice and of voices it never heard, score, print the table
    python -m benchmarks.vocoder_real score --ours runs/vocoder-cpu --peer runs/peer-vocoder \\
        --voices data/real/speech/allison-en/22050,data/real/speech/carlo-it/22050,data/real/speech/june-fr/22050

Snapshots: the peer's weights are copied at the first step boundary past each mark; audiodiff's run writes a
checkpoint every `checkpoint_every` steps and a watcher copies the first one past each mark (its learning rate then
is that of the full budget's schedule, not of a run budgeted to the mark: the curve understates a shorter budget).

Scores (audiodiff/eval/speech.py, against the original recording, both at the voice's rate; PESQ at 16 kHz): PESQ
wide-band, MR-STFT distance, log-mel L1, ESTOI, optional DNSMOS; RTF = synthesis seconds / audio seconds, one
utterance at a time, after one untimed call.  Output: a table and JSON (benchmarks/results/vocoder_real.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf
import torch

from audiodiff.audio import load_audio, save_wav
from audiodiff.data.corpora import DatasetError, list_folder
from audiodiff.eval.metrics import mean_ci
from audiodiff.eval.speech import score_speech
from audiodiff.precision import PRECISIONS

from .lib import envelope, write_result
from .lib.cli import InputError, run_cli
from .lib.envelope import RESULTS

NAME = "vocoder_real"
SCORED = ("pesq", "mr_stft", "log_mel_l1", "estoi")
BUILD = "build the voices with: python3 ../shared/data/real/build_speech.py"


# ---------------------------------------------------------------------------------------------------- the peer
def _peer_modules():
    """diffwave 0.1.7's modules, with torchaudio.load_wav (removed from torchaudio) given back through soundfile."""
    try:
        import torchaudio
        from diffwave import dataset, inference, learner, model, params, preprocess
    except ImportError:
        raise InputError("the peer is missing: pip install --no-deps diffwave==0.1.7 (the bench extra)") from None

    def load_wav(path: str) -> tuple[torch.Tensor, int]:   # torchaudio < 0.8: int16 values as float, [1, L]
        data, rate = sf.read(path, dtype="int16", always_2d=True)
        return torch.from_numpy(data[:, 0].astype(np.float32))[None], rate
    torchaudio.load_wav = load_wav
    return dataset, inference, learner, model, params, preprocess


def voice_files(folder: Path, listing: str) -> list[Path]:
    """The files a build_speech.py voice folder's `listing` (train_list.txt / test_list.txt) names, or without it
    every audio file under the folder (the project's own lister, corpora.list_folder), each checked to exist."""
    lst = folder / listing
    try:
        files = [s.path for s in list_folder(folder, str(lst) if lst.is_file() else "").sources]
    except DatasetError as exc:
        raise InputError(f"{exc} ({BUILD})") from None
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InputError(f"{folder}: {len(missing)} listed files missing, first {missing[0]} ({BUILD})")
    return files


def _link_all(files: list[Path], into: Path) -> list[Path]:
    """Symlinks to files in `into` (so the peer's .spec.npy files land there, not beside the data)."""
    into.mkdir(parents=True, exist_ok=True)
    links = []
    for f in files:
        link = into / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
        links.append(link)
    return links


def train_peer(data: Path, out: Path, minutes: float, marks: list[float], seed: int = 0) -> dict:
    """Train diffwave 0.1.7 at its defaults for `minutes` of training (its preprocessing not counted); copy its
    weights to out/snapshots/<mark>min.pt at the first step past each mark and at the end."""
    dataset, _, learner_mod, model_mod, params_mod, preprocess = _peer_modules()
    torch.manual_seed(seed)
    params = params_mod.params
    links = _link_all(voice_files(data, "train_list.txt"), out / "data")
    start = time.perf_counter()
    for link in links:
        if not Path(f"{link}.spec.npy").exists():
            preprocess.transform(str(link))
    print(f"peer: preprocessed {len(links)} files in {time.perf_counter() - start:.0f} s (not counted)", flush=True)
    loader = dataset.from_path([str(out / "data")], params)
    model = model_mod.DiffWave(params)
    opt = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    learner = learner_mod.DiffWaveLearner(str(out), model, loader, opt, params)
    snaps = out / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    pending = sorted(m for m in marks if m < minutes) + [minutes]
    log: list[dict] = []
    elapsed, began = 0.0, time.perf_counter()
    while pending:
        for features in loader:
            loss = float(learner.train_step(features).detach())
            learner.step += 1
            elapsed = time.perf_counter() - began
            log.append({"step": learner.step, "seconds": round(elapsed, 1), "loss": round(loss, 4)})
            print(f"peer step {learner.step}  loss {loss:.4f}  {elapsed / 60:.1f} min", flush=True)
            while pending and elapsed >= 60 * pending[0]:
                mark = pending.pop(0)
                torch.save({"model": model.state_dict(), "step": learner.step, "minutes": elapsed / 60},
                           snaps / f"{mark:g}min.pt")
            if not pending:
                break
    record = {**envelope(NAME), "steps": learner.step, "minutes": elapsed / 60,
              "params": {k: v for k, v in params.items()}, "log": log}
    (out / "peer_training.json").write_text(json.dumps(record, indent=1))
    print(f"peer: {learner.step} steps in {elapsed / 60:.1f} min", flush=True)
    return record


class PeerVocoder:
    """diffwave 0.1.7's own inference.predict on its own mel of a recording (6-step fast schedule or all 50)."""

    def __init__(self, weights: Path, fast: bool, work: Path):
        _, self.inference, _, _, _, self.preprocess = _peer_modules()
        self.weights, self.fast, self.work = str(weights), fast, work

    def __call__(self, path: Path, wave: np.ndarray, rate: int) -> np.ndarray:
        folder = hashlib.sha1(str(path.resolve().parent).encode()).hexdigest()[:12]   # voices share file names
        link = _link_all([path], self.work / folder)[0]
        spec = Path(f"{link}.spec.npy")
        if not spec.exists():
            self.preprocess.transform(str(link))
        mel = torch.from_numpy(np.load(spec))
        audio, _ = self.inference.predict(mel, model_dir=self.weights, device=torch.device("cpu"),
                                          fast_sampling=self.fast)
        return audio[0, :len(wave)].numpy()


# ---------------------------------------------------------------------------------------------------- ours
def _snapshot_due(run: Path, out: Path, pending: list[float]) -> None:
    """Copy run's weights + config to out/<mark>min/ for every pending mark its config says it has trained past."""
    try:
        cfg = json.loads((run / "config.json").read_text())
        if not pending or cfg.get("trained_minutes", 0) < pending[0]:
            return
        weights = (run / "model.safetensors").read_bytes()
        if json.loads((run / "config.json").read_text()).get("step") != cfg.get("step"):
            return                           # a checkpoint landed between the reads: the next poll takes it
    except (OSError, ValueError):
        return
    while pending and cfg.get("trained_minutes", 0) >= pending[0]:
        dest = out / f"{pending.pop(0):g}min"
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "model.safetensors").write_bytes(weights)
        (dest / "config.json").write_text(json.dumps(cfg, indent=2))
        print(f"ours: snapshot {dest.name} at step {cfg.get('step')} ({cfg.get('trained_minutes')} min)", flush=True)


def _watch(run: Path, out: Path, marks: list[float], stop: threading.Event, every: float = 2.0) -> None:
    """Poll run every `every` seconds until `stop`, then once more, snapshotting each mark it passes."""
    pending = sorted(marks)
    while pending:
        stopped = stop.wait(every)
        _snapshot_due(run, out, pending)
        if stopped:
            return


def train_ours(recipe: str, out: Path, marks: list[float], minutes: float | None, precision: str | None = None) -> int:
    """`audiodiff train RECIPE` as a user runs it (its budget, or --minutes; its precision, or --precision), with a
    snapshot watcher beside it → the command's exit status."""
    command = [sys.executable, "-m", "audiodiff", "train", recipe, "--out", str(out), "--no-progress"]
    if minutes is not None:
        command += ["--minutes", f"{minutes:g}"]
    if precision is not None:
        command += ["--precision", precision]
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(out, out / "snapshots", marks, stop), daemon=True)
    watcher.start()
    try:
        return subprocess.run(command).returncode
    finally:
        stop.set()
        watcher.join()


# ---------------------------------------------------------------------------------------------------- scoring
def resynthesise(name: str, call: Callable[[Path, np.ndarray, int], np.ndarray], files: list[Path],
                 out_dir: Path) -> dict[str, float]:
    """Write call's re-synthesis of every file to out_dir/<name>.wav → {file: RTF}; one untimed call first."""
    shutil.rmtree(out_dir, ignore_errors=True)
    rtf = {}
    with torch.no_grad():
        for i, path in enumerate(files):
            wave, rate = load_audio(path)
            wave = wave.numpy()
            if i == 0:
                call(path, wave[:rate // 2], rate)          # warm-up (allocation, first-call costs)
            start = time.perf_counter()
            out = np.asarray(call(path, wave, rate), dtype=np.float32)
            rtf[path.name] = (time.perf_counter() - start) / (len(wave) / rate)
            if out.shape != wave.shape or not np.isfinite(out).all():
                raise RuntimeError(f"{name} on {path}: shape {out.shape} (input {wave.shape}) or non-finite samples")
            save_wav(out_dir / path.name, out, rate)
    print(f"  {name}: {len(files)} files, RTF {np.mean(list(rtf.values())):.3f}", flush=True)
    return rtf


def ours_call(run: Path) -> Callable[[Path, np.ndarray, int], np.ndarray]:
    import audiodiff as ad

    pipe = ad.load(run, device="cpu", precision="fp32")
    return lambda path, wave, rate: pipe.resynthesize(wave, sample_rate=rate, seed=0)


def griffin_lim_call(run: Path) -> Callable[[Path, np.ndarray, int], np.ndarray]:
    """Griffin-Lim from the audiodiff run's own mel of the recording (its features, its iterations)."""
    import audiodiff as ad

    features = ad.load(run, device="cpu", precision="fp32").features

    def call(path: Path, wave: np.ndarray, rate: int) -> np.ndarray:
        x = torch.from_numpy(wave).float()[None]
        padded = torch.nn.functional.pad(x, (0, -x.shape[-1] % features.hop_length))
        return features.decode_griffin_lim(features.encode(padded))[0, :len(wave)].numpy()
    return call


def _snapshots(folder: Path, suffix: str) -> list[Path]:
    """folder's `<minutes>min<suffix>` snapshots, by minutes."""
    found = [p for p in folder.glob(f"*min{suffix}") if p.name[:-len(f"min{suffix}")].replace(".", "", 1).isdigit()]
    return sorted(found, key=lambda p: float(p.name[:-len(f"min{suffix}")]))


def _trained(run: Path) -> str:
    """'<minutes> min, step <n>' from a run's (or snapshot's) config.json, for row names."""
    try:
        cfg = json.loads((run / "config.json").read_text())
        return f"{cfg['trained_minutes']:g} min, step {cfg['step']}"
    except (OSError, ValueError, KeyError):
        return run.name


def systems(args: argparse.Namespace) -> list[tuple[str, Callable[[], Callable], bool]]:
    """(row name, factory, on every voice) for every system the options ask for; factories load lazily.  The
    training curve's snapshots and the peer's 50-step chain run on the trained voice only (the peer is slow)."""
    ours, rows = Path(args.ours), []
    for snap in _snapshots(ours / "snapshots", ""):
        rows.append((f"audiodiff {_trained(snap)}", lambda s=snap: ours_call(s), False))
    rows.append((f"audiodiff final {_trained(ours)}", lambda: ours_call(ours), True))
    for student in args.student or []:
        rows.append((f"audiodiff student {Path(student).name}", lambda s=student: ours_call(Path(s)), True))
    if args.peer:
        work = Path(args.out) / "peer-mels"
        snaps = _snapshots(Path(args.peer) / "snapshots", ".pt")
        if not snaps:
            raise InputError(f"--peer {args.peer}: no snapshots/<minutes>min.pt (run train-peer first)")
        for snap in snaps:
            rows.append((f"peer {snap.stem} 6-step", lambda s=snap: PeerVocoder(s, True, work), snap == snaps[-1]))
        if args.peer_full:
            rows.append((f"peer {snaps[-1].stem} 50-step", lambda s=snaps[-1]: PeerVocoder(s, False, work), False))
    rows.append(("Griffin-Lim", lambda: griffin_lim_call(ours), True))
    return rows


def row_folder(row: str) -> str:
    """A row's output folder name: its name with every run of other characters than letters, digits, '.' and
    '-' made one '_'."""
    return re.sub(r"[^\w.-]+", "_", row)


def score(args: argparse.Namespace, argv: list[str] | None) -> dict:
    out = Path(args.out)
    voices = [Path(v) for v in args.voices.split(",")]
    metrics = ",".join(SCORED + (("dnsmos",) if args.dnsmos else ()))
    result: dict[str, Any] = {**envelope(NAME, argv=argv), "threads": torch.get_num_threads(), "n": args.n,
                              "ours": args.ours, "peer": args.peer, "voices": {}}
    rows = systems(args)
    for voice in voices:
        files = voice_files(voice, "test_list.txt")[: args.n]
        name = voice.parent.name if voice.name.isdigit() else voice.name
        table: dict[str, dict] = {}
        ref_dir = out / name / "reference"
        ref_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, ref_dir / f.name)
        for row, factory, every_voice in rows:
            if not every_voice and voice != voices[0]:
                continue
            sys_dir = out / name / row_folder(row)
            rtf = resynthesise(row, factory(), files, sys_dir)
            per_file = score_speech(sys_dir, ref_dir, metrics=metrics)["files"]
            keys = dict.fromkeys(k for f in per_file for k in f if k != "file")
            table[row] = {k: mean_ci(f[k] for f in per_file if f.get(k) is not None) for k in keys}
            table[row]["rtf"] = mean_ci(rtf.values())
        result["voices"][name] = {"files": [f.name for f in files], "rows": table}
        print_table(name, table)
    return result


def _cell(cell: dict | None) -> str:
    if not cell or cell.get("mean") is None:
        return "–"
    ci = cell.get("ci95")
    return f"{cell['mean']:.3f}" + ("" if ci is None else f" ± {ci:.3f}")


def print_table(voice: str, table: dict[str, dict]) -> None:
    columns = list(dict.fromkeys(k for row in table.values() for k in row))
    print(f"\n{voice}:")
    print("| system | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for row, cells in table.items():
        print(f"| {row} | " + " | ".join(_cell(cells.get(c)) for c in columns) + " |")


# ---------------------------------------------------------------------------------------------------- CLI
def _marks(text: str) -> list[float]:
    try:
        return [float(m) for m in text.split(",") if m.strip()]
    except ValueError:
        raise InputError(f"--snapshots takes minutes separated by commas (e.g. 10,20), got {text!r}") from None


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("train-peer", help="train diffwave 0.1.7 at its defaults for --minutes")
    tp.add_argument("--data", required=True, help="a voice folder at 22.05 kHz (train_list.txt, or every WAV)")
    tp.add_argument("--minutes", type=float, required=True)
    tp.add_argument("--snapshots", default="10,20", help="minutes at which to copy its weights")
    tp.add_argument("--out", default="runs/peer-vocoder")
    to = sub.add_parser("train-ours", help="audiodiff train RECIPE, with weight snapshots at minute marks")
    to.add_argument("recipe")
    to.add_argument("--out", default="runs/vocoder-cpu")
    to.add_argument("--snapshots", default="10,20")
    to.add_argument("--minutes", type=float, default=None, help="override the recipe's budget")
    to.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="audiodiff train --precision (fp32: a laptop CPU's figure on a CPU with bf16)")
    sc = sub.add_parser("score", help="re-synthesise held-out utterances with every system and score them")
    sc.add_argument("--ours", required=True, help="the audiodiff vocoder run (its snapshots/ are scored too)")
    sc.add_argument("--student", action="append", help="a distilled student of it (repeatable)")
    sc.add_argument("--peer", help="the train-peer output folder")
    sc.add_argument("--peer-full", action="store_true", help="also the peer's 50-step chain (final, first voice)")
    sc.add_argument("--voices", required=True, help="voice folders at 22.05 kHz, comma-separated; the first is "
                                                    "the one both trained on")
    sc.add_argument("--n", type=int, default=6, help="held-out utterances per voice (test_list.txt order)")
    sc.add_argument("--dnsmos", action="store_true", help="also DNSMOS (about 1 s per second of audio)")
    sc.add_argument("--out", default="/tmp/vocoder_real")
    sc.add_argument("--json", default=str(RESULTS / "vocoder_real.json"))
    return p.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """The subcommand args.command → its result (train-peer: the training record; score: the scores)."""
    if args.command == "train-peer":
        return train_peer(Path(args.data), Path(args.out), args.minutes, _marks(args.snapshots))
    if args.command == "train-ours":
        code = train_ours(args.recipe, Path(args.out), _marks(args.snapshots), args.minutes, args.precision)
        if code:
            raise SystemExit(code)
        return {}
    result = score(args, argv)
    print(f"\nwritten {write_result(args.json, result)}")
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command line → the subcommand's result; bad input exits with one `error: …` line."""
    return run_cli(parse, run, argv)


if __name__ == "__main__":
    main()
