"""benchmarks/vocoder_real.py's scoring path end to end on generated speech: an untrained audiodiff vocoder and its
snapshot, Griffin-Lim, and lmnt-com/diffwave 0.1.7 shrunk to a toy and trained one step (when the bench extra's
diffwave is installed), each scored on every voice; Griffin-Lim beats the untrained net.  (The snapshot watcher and a
voice folder's errors are checked in tests/bench/test_bench_vocoder_real.py.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiodiff import checkpoint as ckpt
from audiodiff.run_features import domain_config, fit_features
from audiodiff.nets import build_network
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import run_config
from benchmarks import vocoder_real as bench
from helpers.speech_like import RATE, speech_like, voice
from helpers.vocoder import vocoder_recipe

HAS_PEER = importlib.util.find_spec("diffwave") is not None


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
