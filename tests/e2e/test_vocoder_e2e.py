"""The end-to-end tests of tests/nets/test_vocoder.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/nets/test_vocoder.py's docstring."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audiodiff import checkpoint as ckpt
from audiodiff.cli import app
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.domains import prepare_batch
from audiodiff.run_features import domain_config, fit_features
from audiodiff.nets import build_network
from audiodiff.pipeline import load
from audiodiff.recipe import recipe_from_dict
from audiodiff.training import run_config
from helpers.measures import mel_distance, spectral_convergence
from helpers.vocoder import CLIP, RATE, training_clip, vocoder_recipe


runner = CliRunner()


@pytest.fixture(scope="module")
def overfit_run(tmp_path_factory) -> tuple[Path, torch.Tensor, float]:
    """Train the tiny vocoder on one clip (1200 Adam steps, batch 4, ~20 s on one core) with the same
    prepare_batch + GaussianDiffusion.loss the trainer uses, and save it as a run directory."""
    recipe = recipe_from_dict(vocoder_recipe())
    config = {**run_config(recipe), **domain_config(recipe)}
    clip = training_clip()
    features = fit_features(config, [clip[None]])
    torch.manual_seed(0)
    model = build_network(config["model"])
    diffusion = GaussianDiffusion.from_config(config["diffusion"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    x0, cond = prepare_batch(config["domain"], features, clip.expand(4, 1, CLIP).contiguous())
    start = time.perf_counter()
    for _ in range(1200):
        loss = diffusion.loss(model, x0, generator=g, **cond)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    run = tmp_path_factory.mktemp("runs") / "vocoder"
    ckpt.save_config(run, config)
    ckpt.save_weights(run, model)
    return run, clip, seconds


def test_vocoder_reproduces_its_training_clip_better_than_griffin_lim(overfit_run):
    run, clip, seconds = overfit_run
    pipe = load(run, device="cpu")
    mel = pipe.features.encode(clip)                              # [16 mels, 16 frames]
    vocoded = pipe.vocode(mel, seed=0)                            # the run's default: fast, 6 steps
    griffin_lim = pipe.features.decode_griffin_lim(mel)           # 64 iterations
    assert vocoded.shape == griffin_lim.shape == (CLIP,)
    f = pipe.features
    d_voc, d_gl = mel_distance(f, clip, vocoded), mel_distance(f, clip, griffin_lim)
    full_voc, full_gl = mel_distance(f, clip, vocoded, None), mel_distance(f, clip, griffin_lim, None)
    ref = f.log_mel(clip).exp()
    sc_voc = spectral_convergence(ref, f.log_mel(vocoded).exp())
    sc_gl = spectral_convergence(ref, f.log_mel(griffin_lim).exp())
    print(f"\ntrained in {seconds:.1f} s; mel distance (60 dB range) vocoder {d_voc:.4f} vs Griffin-Lim {d_gl:.4f}; "
          f"full range {full_voc:.4f} vs {full_gl:.4f}; spectral convergence {sc_voc:.4f} vs {sc_gl:.4f}")
    assert d_voc < d_gl
    assert full_voc < full_gl
    assert sc_voc < sc_gl


def test_pipe_vocode_types_and_wrong_bins(overfit_run):
    pipe = load(overfit_run[0], device="cpu")
    mel = pipe.features.encode(overfit_run[1])
    batch = pipe.vocode(torch.stack([mel, mel]).numpy(), steps=None, seed=1)
    assert isinstance(batch, np.ndarray) and batch.shape == (2, CLIP) and np.isfinite(batch).all()
    with pytest.raises(ValueError, match="expects mel spectrograms with 16 mel bins, got 12"):
        pipe.vocode(torch.zeros(12, 16))
    with pytest.raises(ValueError, match="vocoder"):
        pipe.sample(1)


def test_resynthesize_keeps_the_length_and_resamples_with_a_log_message(overfit_run, audiodiff_log):
    pipe = load(overfit_run[0], device="cpu")
    wave = pipe.resynthesize(torch.zeros(1000).numpy() + 0.1 * np.sin(np.arange(1000) / 5), seed=0)
    assert wave.shape == (1000,) and np.isfinite(wave).all()
    assert not any("resampling" in r.message for r in audiodiff_log.records)
    out = pipe.resynthesize(torch.zeros(2, 1600), sample_rate=16000, seed=0)
    assert out.shape == (2, 800)
    assert any("resampling" in r.message and "16000" in r.message and "8000" in r.message
               for r in audiodiff_log.records)


def test_a_long_recording_is_vocoded_in_windows_no_longer_than_the_window(overfit_run):
    run, clip, _ = overfit_run
    pipe = load(run, device="cpu")
    long = clip.repeat(6)                                         # 3,072 samples = 96 frames of 32
    lengths: list[int] = []
    hook = pipe.model.register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[-1]))
    try:
        whole = pipe.resynthesize(long, seed=0)                   # default window (10 s): one pass
        assert max(lengths) == len(long)
        lengths.clear()
        windowed = pipe.resynthesize(long, seed=0, window=700)    # 700 is not a whole number of hops
    finally:
        hook.remove()
    assert whole.shape == windowed.shape == long.shape and torch.isfinite(windowed).all()
    assert max(lengths) <= 700 + 2 * pipe.features.hop_length < len(long)
    d_whole = mel_distance(pipe.features, long, whole)
    d_windowed = mel_distance(pipe.features, long, windowed)
    d_gl = mel_distance(pipe.features, long, pipe.features.decode_griffin_lim(pipe.features.encode(long)))
    assert d_windowed < d_gl and d_windowed < 1.5 * d_whole, (d_windowed, d_whole, d_gl)


def test_cli_vocode_a_wav_at_another_rate(overfit_run, tmp_path, audiodiff_log):
    run, clip, _ = overfit_run
    src = tmp_path / "in16k.wav"
    t = np.arange(3200) / 16000
    sf.write(str(src), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, subtype="PCM_16")
    out = tmp_path / "out.wav"
    result = runner.invoke(app, ["vocode", str(src), "--model", str(run), "--out", str(out), "--seed", "0",
                                 "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    data, rate = sf.read(str(out))
    assert rate == RATE and len(data) == 1600 and np.isfinite(data).all()
    assert any("resampling the input from 16000 Hz to the vocoder's 8000 Hz" in r.message
               for r in audiodiff_log.records)


def test_cli_vocode_a_silent_file(overfit_run, tmp_path):
    src = tmp_path / "silence.wav"
    sf.write(str(src), np.zeros(700, np.float32), RATE, subtype="PCM_16")
    out = tmp_path / "out.wav"
    result = runner.invoke(app, ["vocode", str(src), "--model", str(overfit_run[0]), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    data, _ = sf.read(str(out))
    assert len(data) == 700 and np.isfinite(data).all()


def test_cli_vocode_a_saved_mel(overfit_run, tmp_path):
    run, clip, _ = overfit_run
    pipe = load(run, device="cpu")
    good = tmp_path / "mel.npy"
    np.save(good, pipe.features.encode(clip).numpy())
    out = tmp_path / "out.wav"
    result = runner.invoke(app, ["vocode", str(good), "--model", str(run), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(sf.read(str(out))[0]) == CLIP
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((12, 16), np.float32))
    result = runner.invoke(app, ["vocode", str(bad), "--model", str(run), "--out", str(tmp_path / "bad.wav"),
                                 "--no-progress"])
    assert isinstance(result.exception, ValueError)               # main() prints it as a one-line error
    assert "expects mel spectrograms with 16 mel bins, got 12" in str(result.exception)
    raw = tmp_path / "raw.npy"                                    # a log-mel never normalised: down to −11.5
    np.save(raw, pipe.features.log_mel(clip).numpy())
    result = runner.invoke(app, ["vocode", str(raw), "--model", str(run), "--out", str(tmp_path / "raw.wav"),
                                 "--no-progress"])
    assert result.exit_code == 1 and not (tmp_path / "raw.wav").exists()
    assert "raw.npy: the vocoder expects a mel normalised with its statistics" in result.output
    assert "features.encode(audio), not log_mel" in result.output
    louder = tmp_path / "louder.npy"                              # a louder recording's mel is still in range
    np.save(louder, pipe.features.encode(clip * 1.25).numpy())
    result = runner.invoke(app, ["vocode", str(louder), "--model", str(run), "--out", str(tmp_path / "l.wav"),
                                 "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)


def test_cli_sample_refuses_a_vocoder_run(overfit_run, tmp_path):
    result = runner.invoke(app, ["sample", "--model", str(overfit_run[0]), "--out", str(tmp_path), "--n", "1"])
    assert result.exit_code == 1
    assert "vocoder" in result.output and "audiodiff vocode" in result.output


def test_bench_vocoder_smoke(tmp_path):
    from benchmarks.speed import main as speed

    out = tmp_path / "b.json"
    result = speed(["vocoder", "--device", "cpu", "--seconds", "0.02", "--schedules", "full,fast", "--json", str(out)])
    assert out.is_file() and result["model"]["params"] == 2_619_971
    assert result["frames"] == 2 and result["samples"] == 512
    assert result["schedules"]["full"]["steps"] == 50 and result["schedules"]["fast"]["steps"] == 6
    assert all(s["rtf"] > 0 for s in result["schedules"].values())
