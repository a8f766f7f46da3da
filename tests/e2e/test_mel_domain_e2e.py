"""The mel and vocoder domains end to end: normalisation statistics fitted once and kept on resume; tiny mel,
vocoder and waveform runs sampled through Griffin-Lim or a vocoder run, exported, and refused in the wrong domain;
`audiodiff sample` / `vocode` around them; and the real trainer on mel and vocoder recipes.  (prepare_batch and the
shipped mel recipes are checked in tests/core/test_mel_domain.py.)"""

from __future__ import annotations

import importlib
import json
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
from helpers.audio import write_tone_wavs
from helpers.measures import read_png_size
from helpers.mel import CLIP, FEATURES, MEL_UNET, RATE, TINY_VOCODER, raw_recipe, tones

runner = CliRunner()


def make_run(path: Path, raw: dict, clips: list[torch.Tensor], train_steps: int = 0) -> Path:
    """A run directory as the trainer writes it: config.json (domain, features + statistics) and weights,
    after `train_steps` hand-written steps of prepare_batch + GaussianDiffusion.loss."""
    recipe = recipe_from_dict(raw)
    config = {**run_config(recipe), **domain_config(recipe)}
    feats = fit_features(config, clips)
    torch.manual_seed(0)
    model = build_network(config["model"])
    diffusion = GaussianDiffusion.from_config(config["diffusion"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batch = torch.stack(clips)
    for _ in range(train_steps):
        x0, cond = prepare_batch(config["domain"], feats, batch)
        loss = diffusion.loss(model, x0, generator=g, **cond)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt.save_config(path, config)
    ckpt.save_weights(path, model)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    loud = [2 * c for c in tones()]                      # other statistics than the mel run's
    return {
        "mel": make_run(root / "mel", raw_recipe("mel", MEL_UNET), tones(), train_steps=3),
        "vocoder": make_run(root / "vocoder", raw_recipe("vocoder", TINY_VOCODER), loud, train_steps=2),
        "vocoder-other-hop": make_run(root / "voc-hop", {**raw_recipe("vocoder", TINY_VOCODER),
                                                         "features": {**FEATURES, "hop_length": 64}}, tones()),
        "waveform": make_run(root / "wave", {**raw_recipe("waveform", TINY_VOCODER), "features": {}}, tones()),
    }


# ----------------------------------------------------------------- statistics in config.json
def test_statistics_are_computed_once_and_reused_on_resume(tmp_path):
    recipe = recipe_from_dict(raw_recipe("mel", MEL_UNET))
    config = {**run_config(recipe), **domain_config(recipe)}
    assert config["domain"] == "mel" and config["features"]["stats"] is None
    fit_features(config, tones())
    stats = config["features"]["stats"]
    assert set(stats) == {"min", "max"} and stats["min"] < stats["max"]
    ckpt.save_config(tmp_path, config)
    fresh = {**run_config(recipe), **domain_config(recipe)}          # what a resumed trainer builds
    f = fit_features(fresh, [torch.zeros(1, CLIP)], run_dir=tmp_path)   # other data: stats must not move
    assert fresh["features"]["stats"] == stats == f.stats
    assert json.loads((tmp_path / "config.json").read_text())["features"]["n_mels"] == 16
    assert fit_features({"domain": "waveform"}, tones()) is None


# ----------------------------------------------------------------- a mel-domain run
def test_mel_run_samples_mels_and_decodes_them(runs):
    pipe = load(runs["mel"], device="cpu")
    assert pipe.domain == "mel" and pipe.model.in_channels == 16
    mel = pipe.sample_mel(2, seed=0)
    assert mel.shape == (2, 16, CLIP // 32) and torch.isfinite(mel).all()
    wave = pipe.sample(2, seed=0)                                     # Griffin-Lim
    assert wave.shape == (2, CLIP) and torch.isfinite(wave).all() and wave.abs().max() <= 1
    assert pipe.sample(1, seed=0, length=700).shape == (1, 700 // 32 * 32)
    assert torch.equal(pipe.sample(1, seed=3), pipe.sample(1, seed=3))


def test_mel_run_through_a_vocoder_run(runs):
    pipe = load(runs["mel"], device="cpu")
    voc = load(runs["vocoder"], device="cpu")
    assert voc.features.stats != pipe.features.stats                # decode renormalises between them
    wave = pipe.sample(2, seed=0, vocoder=runs["vocoder"])
    assert wave.shape == (2, CLIP) and torch.isfinite(wave).all()
    pipe.vocoder = voc
    assert torch.equal(pipe.sample(2, seed=0), wave)
    mel = pipe.sample_mel(1, seed=1)
    assert torch.equal(pipe.decode(mel, seed=5)[0], voc.vocode(mel, features=pipe.features, seed=5)[0])
    with pytest.raises(ValueError, match="hop_length"):
        pipe.sample(1, seed=0, vocoder=runs["vocoder-other-hop"])


def test_tasks_and_vocode_refuse_the_wrong_domain(runs):
    pipe = load(runs["mel"], device="cpu")
    with pytest.raises(ValueError, match="domain is 'mel'"):
        pipe.denoise(np.zeros(CLIP, np.float32), sigma=0.1)
    with pytest.raises(ValueError, match="vocoder run"):
        pipe.vocode(torch.zeros(16, 4))
    with pytest.raises(ValueError, match="mel-domain"):
        load(runs["waveform"], device="cpu").sample_mel(1)


def test_save_pretrained_keeps_the_features(runs, tmp_path):
    pipe = load(runs["mel"], device="cpu")
    again = load(pipe.save_pretrained(tmp_path / "export"), device="cpu")
    assert again.features.to_config() == pipe.features.to_config()


# ----------------------------------------------------------------- CLI
def test_cli_sample_mel_run_with_plots_and_mels(runs, tmp_path):
    out = tmp_path / "wavs"
    result = runner.invoke(app, ["sample", "--model", str(runs["mel"]), "--n", "2", "--out", str(out), "--seed", "0",
                                 "--plot", "--save-mel", "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Griffin-Lim" in result.output
    for i in range(2):
        data, rate = sf.read(str(out / f"sample_{i:03d}.wav"))
        assert rate == RATE and len(data) == CLIP
        assert np.load(out / f"sample_{i:03d}.npy").shape == (16, CLIP // 32)
        w, h = read_png_size(out / f"sample_{i:03d}.png")
        assert w >= CLIP // 32 and h >= 16
    # a saved mel goes back through a vocoder run, renormalised with the mel run's statistics
    result = runner.invoke(app, ["vocode", str(out / "sample_000.npy"), "--model", str(runs["vocoder"]),
                                 "--mel-from", str(runs["mel"]), "--out", str(tmp_path / "v.wav"), "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(sf.read(str(tmp_path / "v.wav"))[0]) == CLIP


def test_cli_sample_chains_a_vocoder(runs, tmp_path):
    result = runner.invoke(app, ["sample", "--model", str(runs["mel"]), "--vocoder", str(runs["vocoder"]), "--n", "1",
                                 "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "vocoder" in result.output and (tmp_path / "sample_000.wav").is_file()


@pytest.mark.parametrize("run, extra, words", [
    ("mel", ["--vocoder", "vocoder-other-hop"], ("other mel settings", "hop_length 64 (vocoder) vs 32")),
    ("mel", ["--vocoder", "mel"], ("not a vocoder run",)),
    ("waveform", ["--vocoder", "vocoder"], ("--vocoder needs a mel-domain model",)),
    ("waveform", ["--save-mel"], ("--save-mel needs a mel-domain model",)),
    ("vocoder", [], ("is a vocoder", "audiodiff vocode")),
])
def test_cli_sample_domain_errors(runs, tmp_path, run, extra, words):
    extra = [str(runs[e]) if e in runs else e for e in extra]
    result = runner.invoke(app, ["sample", "--model", str(runs[run]), "--n", "1", "--out", str(tmp_path), *extra])
    assert result.exit_code == 1, result.output
    for w in words:
        assert w in result.output, (w, result.output)


def test_cli_plot_for_a_waveform_run(runs, tmp_path):
    result = runner.invoke(app, ["sample", "--model", str(runs["waveform"]), "--n", "1", "--out", str(tmp_path),
                                 "--plot", "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert (tmp_path / "sample_000.png").is_file()


def test_cli_vocode_refuses_a_mel_run(runs, tmp_path):
    src = write_tone_wavs(tmp_path / "in", count=1, sample_rate=RATE)[0]
    result = runner.invoke(app, ["vocode", str(src), "--model", str(runs["mel"]), "--out", str(tmp_path / "o.wav")])
    assert result.exit_code == 1 and "not a vocoder" in result.output


# ----------------------------------------------------------------- through the real trainer
train_module = importlib.import_module("audiodiff.training")


@pytest.mark.parametrize("domain, model", [("mel", MEL_UNET), ("vocoder", TINY_VOCODER)])
def test_trainer_trains_mel_and_vocoder_runs(tmp_path, domain, model):
    folder = tmp_path / "audio"
    write_tone_wavs(folder, count=3, sample_rate=RATE, length=CLIP + 100)
    raw = raw_recipe(domain, model, root=str(folder), dataset="folder")
    raw["train"] = {"batch_size": 2, "max_steps": 2, "checkpoint_every": 2, "log_every": 1, "device": "cpu",
                    "preview_every": 2, "preview_n": 1}                    # TensorBoard previews of the domain
    run = tmp_path / "run"
    train_module.train(recipe_from_dict(raw), run, device="cpu", show_progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["domain"] == domain and config["features"]["stats"]
    assert any((run / "tb").iterdir())
    pipe = load(run, device="cpu")
    if domain == "mel":
        assert pipe.sample(1, seed=0).shape == (1, CLIP)
    else:
        assert pipe.vocode(torch.zeros(16, 4), seed=0).shape == (4 * 32,)


def test_a_mel_run_without_statistics_is_refused(runs, tmp_path):
    config = json.loads((runs["mel"] / "config.json").read_text())
    config["features"]["stats"] = None
    ckpt.save_config(tmp_path, config)
    ckpt.save_weights(tmp_path, load(runs["mel"], device="cpu").model)
    with pytest.raises(ValueError, match="statistics"):
        load(tmp_path, device="cpu")
