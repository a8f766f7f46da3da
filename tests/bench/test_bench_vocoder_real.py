"""benchmarks/vocoder_real.py on generated speech: the snapshot watcher, a voice folder's one-line errors, and the
scoring path end to end (an untrained audiodiff vocoder and its snapshot, Griffin-Lim, and lmnt-com/diffwave 0.1.7
shrunk to a toy and trained one step, when the bench extra's diffwave is installed)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiodiff import checkpoint as ckpt
from audiodiff.domains import domain_config, fit_features
from audiodiff.nets import build_network
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import run_config
from benchmarks import vocoder_real as bench
from helpers.speech_like import speech_like
from helpers.vocoder import vocoder_recipe

RATE = 16000
HAS_PEER = importlib.util.find_spec("diffwave") is not None


def voice(root: Path, name: str, seed: int) -> Path:
    """root/<name>/16000: two training and two held-out utterances, with build_speech.py's list files."""
    folder = root / name / str(RATE)
    (folder / "wavs").mkdir(parents=True)
    names = []
    for i in range(4):
        sf.write(folder / "wavs" / f"u{i}.wav", speech_like(1.0 + 0.25 * i, RATE, seed=seed + i), RATE,
                 subtype="PCM_16")
        names.append(f"wavs/u{i}.wav")
    (folder / "train_list.txt").write_text("\n".join(names[:2]) + "\n")
    (folder / "test_list.txt").write_text("\n".join(names[2:]) + "\n")
    return folder


def untrained_vocoder(run: Path, clip: np.ndarray) -> Path:
    """The tests' tiny vocoder recipe at 16 kHz, saved untrained (its samples are noise)."""
    spec = vocoder_recipe()
    spec["data"]["sample_rate"] = RATE
    recipe = recipe_from_dict(spec)
    config = {**run_config(recipe), **domain_config(recipe)}
    fit_features(config, [torch.from_numpy(clip)[None]])
    torch.manual_seed(0)
    ckpt.save_config(run, config)
    ckpt.save_weights(run, build_network(config["model"]))
    return run


def test_the_watcher_copies_the_first_checkpoint_past_each_mark(tmp_path):
    run, out = tmp_path / "run", tmp_path / "snaps"
    run.mkdir()

    def checkpoint(step: int, minutes: float) -> None:
        (run / "model.safetensors").write_bytes(f"weights at {step}".encode())
        (run / "config.json").write_text(json.dumps({"step": step, "trained_minutes": minutes}))

    checkpoint(100, 0.4)
    stop = threading.Event()
    watcher = threading.Thread(target=bench._watch, args=(run, out, [0.5, 1.0, 5.0], stop, 0.05))
    watcher.start()
    try:
        time.sleep(0.3)
        assert not out.exists()                                   # 0.4 min: no mark passed yet
        checkpoint(200, 1.2)                                      # past 0.5 and 1.0 at once
        time.sleep(0.3)
        checkpoint(300, 1.9)
    finally:
        stop.set()
        watcher.join(5)
    assert not watcher.is_alive()
    assert sorted(p.name for p in out.iterdir()) == ["0.5min", "1min"]
    for mark in ("0.5min", "1min"):
        assert (out / mark / "model.safetensors").read_bytes() == b"weights at 200"
        assert json.loads((out / mark / "config.json").read_text())["step"] == 200


def test_a_voice_folder_with_a_missing_file_is_one_line(tmp_path):
    folder = voice(tmp_path, "v", 0)
    (folder / "wavs" / "u3.wav").unlink()
    with pytest.raises(bench.InputError, match=r"1 listed files missing, first .*u3\.wav.*build_speech"):
        bench.voice_files(folder, "test_list.txt")
    with pytest.raises(SystemExit, match="error: .*u3.wav"):
        bench.main(["score", "--ours", str(tmp_path), "--voices", str(folder), "--out", str(tmp_path / "o")])


@pytest.mark.slow
def test_scoring_runs_every_system_on_every_voice_and_griffin_lim_beats_an_untrained_net(tmp_path, monkeypatch):
    heard, unheard = voice(tmp_path, "heard", 0), voice(tmp_path, "unheard", 10)
    run = untrained_vocoder(tmp_path / "ours", speech_like(1.0, RATE, seed=0))
    snap = run / "snapshots" / "1min"
    snap.mkdir(parents=True)
    (snap / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    config = json.loads((run / "config.json").read_text())
    (snap / "config.json").write_text(json.dumps({**config, "step": 7, "trained_minutes": 1.5}))
    argv = ["score", "--ours", str(run), "--voices", f"{heard},{unheard}", "--n", "2",
            "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json")]
    peer_rows: list[str] = []
    if HAS_PEER:                                                  # diffwave 0.1.7 at toy size, one step
        from diffwave.params import params

        toy = dict(sample_rate=RATE, n_mels=16, residual_layers=2, residual_channels=8, dilation_cycle_length=1,
                   batch_size=2, crop_mel_frames=8)
        for key, value in toy.items():
            monkeypatch.setitem(params, key, value)
        record = bench.main(["train-peer", "--data", str(heard), "--minutes", "0.0001", "--snapshots", "",
                             "--out", str(tmp_path / "peer")])
        assert record["steps"] == 1 and (tmp_path / "peer" / "snapshots" / "0.0001min.pt").is_file()
        assert list((tmp_path / "peer" / "data").glob("*.spec.npy"))       # its own preprocessing, beside links
        assert not list(heard.rglob("*.spec.npy"))                         # not beside the data
        argv += ["--peer", str(tmp_path / "peer")]
        peer_rows = ["peer 0.0001min 6-step"]
    result = bench.main(argv)

    rows = result["voices"]["heard"]["rows"]
    final = "audiodiff final ours"                                # no training record: named by its folder
    assert list(rows) == ["audiodiff 1.5 min, step 7", final, *peer_rows, "Griffin-Lim"]
    assert list(result["voices"]["unheard"]["rows"]) == [final, *peer_rows, "Griffin-Lim"]
    for name, voice_result in result["voices"].items():
        assert voice_result["files"] == ["u2.wav", "u3.wav"]
        for row, cells in voice_result["rows"].items():
            assert set(cells) >= {"pesq", "mr_stft", "log_mel_l1", "estoi", "rtf"}, row
            assert cells["pesq"]["n"] == 2 and cells["rtf"]["mean"] > 0
            out = tmp_path / "out" / name / bench.row_folder(row)
            for f in voice_result["files"]:
                assert sf.info(out / f).frames == sf.info(tmp_path / "out" / name / "reference" / f).frames
        gl, ours = voice_result["rows"]["Griffin-Lim"], voice_result["rows"][final]
        assert gl["pesq"]["mean"] > ours["pesq"]["mean"] + 0.1
        assert gl["log_mel_l1"]["mean"] < ours["log_mel_l1"]["mean"]
        assert gl["mr_stft"]["mean"] < ours["mr_stft"]["mean"]
    assert json.loads((tmp_path / "r.json").read_text())["voices"]["heard"]["files"] == ["u2.wav", "u3.wav"]
