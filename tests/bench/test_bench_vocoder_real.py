"""benchmarks/vocoder_real.py on generated speech: the snapshot watcher and a voice folder's one-line errors.  The
scoring path end to end is checked in tests/e2e/test_bench_vocoder_real_e2e.py."""

from __future__ import annotations

import json
import threading
import time

import pytest

from benchmarks import vocoder_real as bench
from helpers.speech_like import voice


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


def test_train_ours_runs_audiodiff_train_with_the_budget_and_precision_given(tmp_path, monkeypatch):
    commands = []

    class Done:
        returncode = 0

    monkeypatch.setattr(bench.subprocess, "run", lambda command: commands.append(command) or Done())
    assert bench.train_ours("recipes/vocoder-cpu", tmp_path / "run", [], 5.0, "fp32") == 0
    assert bench.train_ours("recipes/vocoder-cpu", tmp_path / "run", [], None) == 0
    first, second = commands
    assert first[first.index("train") + 1] == "recipes/vocoder-cpu"
    assert first[first.index("--minutes") + 1] == "5" and first[first.index("--precision") + 1] == "fp32"
    assert "--minutes" not in second and "--precision" not in second
    with pytest.raises(SystemExit):
        bench.parse(["train-ours", "recipes/vocoder-cpu", "--precision", "fp16"])
