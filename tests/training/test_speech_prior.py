"""The training-free path's speech prior: SpectralPrior (nets/spectral_prior.py), [diffusion] loss = "spectral",
[data] level_rms, and a tiny run through `denoise` (white and coloured noise), `inpaint` and `upsample`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import audiodiff
from audiodiff import tasks
from audiodiff.data import build_dataset
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.nets import SpectralPrior, build_network, network_objective
from audiodiff.noise_spectrum import frame_size, stft
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.schedule import NoiseSchedule
from helpers.audio import write_tone_wavs
from helpers.recipes import SAMPLE_RATE, tiny_recipe_dict

TINY_PRIOR = {"type": "spectral_prior", "n_fft": 64, "hop_length": 16, "channels": 16, "hidden": 32, "layers": 2,
              "stacks": 1}
LEVEL = 0.2


def _prior_recipe(wav_folder, **train):
    raw = tiny_recipe_dict(wav_folder, model=TINY_PRIOR, **train)
    raw["data"]["level_rms"] = LEVEL
    raw["diffusion"].update(prediction="x0", loss="spectral")
    raw["sample"] = {"sampler": "ddim", "steps": 4}
    return raw


# ----------------------------------------------------------------- the network
@pytest.mark.parametrize("length", [1, 100, 4099])
def test_prior_answers_any_length_in_float32(length):
    net = build_network(TINY_PRIOR)
    out = net(torch.randn(2, 1, length), torch.tensor([0.0, 17.0]))
    assert out.shape == (2, 1, length) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert network_objective(TINY_PRIOR) == "diffusion"


def test_prior_runs_as_a_bf16_copy():
    net = build_network(TINY_PRIOR).to(torch.bfloat16)
    out = net(torch.randn(2, 1, 500), torch.tensor([1.0, 9.0]))
    assert out.shape == (2, 1, 500) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_the_step_reaches_the_mask_and_the_gain():
    net = build_network(TINY_PRIOR)
    x = torch.randn(1, 1, 600, generator=torch.Generator().manual_seed(0)).expand(2, 1, 600)
    t = torch.tensor([2.0, 15.0])
    same = net(x, t)
    assert torch.allclose(same[0], same[1])            # zero-initialised step layers: the step changes nothing yet
    with torch.no_grad():
        net.step_gain.bias.fill_(float(np.log(2.0)))
    assert torch.allclose(net(x, t), 2 * same, atol=1e-5)   # g(t) = e^{bias}: the whole answer doubles
    with torch.no_grad():
        torch.nn.init.normal_(net.step_bias.weight, std=0.5)
    moved = net(x, t)
    assert not torch.allclose(moved[0], moved[1], atol=1e-4)   # now two steps give two masks


def test_prior_refuses_labels():
    with pytest.raises(ValueError, match="no classes"):
        SpectralPrior(n_fft=64, hop_length=16, channels=8, hidden=8, layers=1, stacks=1)(
            torch.randn(1, 1, 100), torch.zeros(1), labels=torch.zeros(1, dtype=torch.long))


# ----------------------------------------------------------------- the spectral diffusion loss
@pytest.mark.parametrize("prediction", ["x0", "eps", "v"])
def test_spectral_loss_is_zero_for_the_true_answer_in_any_parameterisation(prediction):
    diffusion = GaussianDiffusion(NoiseSchedule.cosine(100), prediction=prediction, loss_type="spectral")
    gen = torch.Generator().manual_seed(1)
    x0 = 0.2 * torch.randn(3, 1, 800, generator=gen)
    noise = torch.randn(3, 1, 800, generator=gen)
    t = torch.tensor([5, 40, 90])

    def oracle(x_t, step):          # knows x0 and the noise: answers exactly in the run's own terms
        return diffusion.target(x0, noise, t)

    terms, _ = diffusion.loss_terms(oracle, x0, t=t, noise=noise)
    assert terms.shape == (3,) and float(terms.max()) < 1e-6
    wrong, _ = diffusion.loss_terms(lambda x_t, step: torch.zeros_like(x_t), x0, t=t, noise=noise)
    assert float(wrong.min()) > 1e-3


def test_spectral_loss_refuses_min_snr_and_the_mel_domain(wav_folder):
    with pytest.raises(ValueError, match="min_snr_gamma.*spectral"):
        GaussianDiffusion(NoiseSchedule.cosine(10), prediction="x0", loss_type="spectral", min_snr_gamma=5.0)
    raw = tiny_recipe_dict(wav_folder, model={"type": "unet1d", "in_channels": 16, "base_channels": 8,
                                              "channel_mults": [1], "down_factors": []})
    raw["data"]["domain"] = "mel"
    raw["features"] = {"n_mels": 16, "n_fft": 128, "hop_length": 32, "win_length": 128}
    raw["diffusion"]["loss"] = "spectral"
    with pytest.raises(RecipeError, match="loss = \"spectral\".*mel"):
        recipe_from_dict(raw, source="r.toml")


# ----------------------------------------------------------------- [data] level_rms
def test_level_rms_brings_every_file_to_one_level(wav_folder):
    raw = tiny_recipe_dict(wav_folder)
    raw["data"].update(level_rms=LEVEL, clip_length=2000, cache=False)
    dataset = build_dataset(recipe_from_dict(raw).data)
    plain = build_dataset(recipe_from_dict({**raw, "data": {**raw["data"], "level_rms": 0.0}}).data)
    for i in range(len(dataset)):
        n = dataset.length(i)                            # the whole file fits the clip: its RMS over n samples
        clip = dataset[i]["audio"][0, :n]
        assert float(clip.pow(2).mean().sqrt()) == pytest.approx(LEVEL, rel=1e-4)
        assert torch.allclose(clip / dataset.gains[i], plain[i]["audio"][0, :n], atol=1e-6)
    assert len({round(g, 3) for g in dataset.gains}) > 1  # the tones differ in level: each has its own gain


def test_level_rms_is_refused_outside_the_waveform_domain(wav_folder):
    raw = tiny_recipe_dict(wav_folder)
    raw["data"].update(level_rms=LEVEL, domain="denoiser", noise_root=str(wav_folder))
    with pytest.raises(RecipeError, match="level_rms is for waveform priors"):
        recipe_from_dict(raw, source="r.toml")


# ----------------------------------------------------------------- a tiny run through the pipeline
@pytest.fixture(scope="module")
def prior_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prior")
    write_tone_wavs(root / "audio", length=1200)
    audiodiff.train(recipe_from_dict(_prior_recipe(root / "audio", max_steps=6)), root / "run", device="cpu",
                    show_progress=False)
    return root / "run"


def _tone(n: int = 1600, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    noise = np.random.default_rng(seed).standard_normal(n)
    return (0.05 * np.sin(2 * np.pi * 300 * t) + 0.01 * noise).astype(np.float32)


def test_the_network_hears_the_clean_part_at_the_runs_level_whatever_the_input_gain(prior_run, monkeypatch):
    pipe = audiodiff.load(prior_run, device="cpu", precision="fp32")
    assert pipe.config["level_rms"] == LEVEL
    heard = []
    real = tasks.denoise

    def spy(diffusion, model, noisy, sigma, **kw):
        heard.append((float(noisy.pow(2).mean()), sigma))
        return real(diffusion, model, noisy, sigma, **kw)

    monkeypatch.setattr(tasks, "denoise", spy)
    y, whole = _tone(), 10 * SAMPLE_RATE
    out, (sigma,) = pipe.denoise(y, return_sigma=True, seed=0, window=whole)
    loud = pipe.denoise(4 * y, seed=0, window=whole)
    power, heard_sigma = heard[0]
    assert power - heard_sigma ** 2 == pytest.approx(LEVEL ** 2, rel=1e-3)   # clean part at level_rms
    assert heard[1][0] == pytest.approx(power, rel=1e-4)                     # 4× the input: the same heard
    assert np.allclose(loud, 4 * out, atol=1e-4)                             # and 4× the answer back
    assert out.shape == y.shape and np.isfinite(out).all()


def test_coloured_noise_is_whitened_for_the_prior_and_filtered_back(prior_run, monkeypatch):
    """With the reverse chain replaced by the identity, whitening and filtering back must return the input; what
    the chain is given must be white where the recording's noise was brown."""
    pipe = audiodiff.load(prior_run, device="cpu", precision="fp32")
    given = []

    def identity(diffusion, model, noisy, sigma, **kw):
        given.append(noisy.detach().clone())
        return noisy

    monkeypatch.setattr(tasks, "denoise", identity)
    white = np.random.default_rng(3).standard_normal(3 * SAMPLE_RATE)
    brown = np.zeros_like(white)
    for i in range(1, len(white)):                     # a leaky integrator: about −6 dB an octave, centred
        brown[i] = 0.98 * brown[i - 1] + white[i]
    brown = (0.05 * brown / brown.std()).astype(np.float32)
    out, (sigma,) = pipe.denoise(brown, noise="coloured", return_sigma=True, window=10 * SAMPLE_RATE)
    assert np.mean((out - brown) ** 2) < 1e-3 * np.mean(brown ** 2)   # −30 dB: the STFT filter's own error
    n_fft, hop = frame_size(SAMPLE_RATE)

    def spread_db(wave) -> float:
        power = stft(torch.as_tensor(wave).double().reshape(-1), n_fft, hop).abs().pow(2).mean(1)[2:-2]
        bands = 10 * torch.log10(torch.stack([b.mean() for b in power.chunk(6)]))
        return float(bands.max() - bands.min())

    assert spread_db(brown) > 15 and spread_db(given[0]) < 3     # brown in, white to the chain
    white_out, (white_sigma,) = pipe.denoise(brown, return_sigma=True, window=10 * SAMPLE_RATE)
    assert np.array_equal(white_out, brown) or np.abs(white_out - brown).max() < 1e-5   # identity either way
    assert sigma > 3 * white_sigma   # the high-pass σ of brown noise is a fraction of its whitened level


def test_the_runs_denoise_noise_is_the_default(prior_run, tmp_path):
    """[sample] denoise_noise picks the noise model when none is asked for; a given σ means white noise."""
    import json
    import shutil

    y = _tone(4000)
    white_run = audiodiff.load(prior_run, device="cpu", precision="fp32")
    coloured = shutil.copytree(prior_run, tmp_path / "coloured")
    config = json.loads((coloured / "config.json").read_text())
    config["sample"]["denoise_noise"] = "coloured"
    (coloured / "config.json").write_text(json.dumps(config))
    coloured_run = audiodiff.load(coloured, device="cpu", precision="fp32")
    _, (default_white,) = white_run.denoise(y, return_sigma=True, seed=0)
    _, (asked_coloured,) = white_run.denoise(y, noise="coloured", return_sigma=True, seed=0)
    _, (default_coloured,) = coloured_run.denoise(y, return_sigma=True, seed=0)
    assert default_coloured == asked_coloured != default_white
    assert coloured_run.noise_kind(None, sigma=0.1) == "white" and coloured_run.noise_kind(None) == "coloured"


def test_noise_options_are_checked(prior_run):
    pipe = audiodiff.load(prior_run, device="cpu", precision="fp32")
    with pytest.raises(ValueError, match="noise = 'pink'.*white, coloured"):
        pipe.denoise(_tone(), noise="pink")
    with pytest.raises(ValueError, match="sigma is the level of white noise.*coloured"):
        pipe.denoise(_tone(), sigma=0.1, noise="coloured")


def test_inpaint_and_upsample_run_at_the_runs_level(prior_run, monkeypatch):
    pipe = audiodiff.load(prior_run, device="cpu", precision="fp32")
    y = _tone(1200)
    mask = np.zeros(1200, dtype=bool)
    mask[500:600] = True
    seen = []
    real_inpaint, real_bwe = tasks.inpaint, tasks.bandwidth_extension
    monkeypatch.setattr(tasks, "inpaint", lambda d, m, audio, known, **kw: seen.append(audio) or real_inpaint(
        d, m, audio, known, **kw))
    monkeypatch.setattr(tasks, "bandwidth_extension", lambda d, m, audio, ratio, **kw: seen.append(audio) or real_bwe(
        d, m, audio, ratio, **kw))
    filled = pipe.inpaint(y, mask, seed=0, steps=2, window=4000)
    assert np.array_equal(filled[~mask], y[~mask]) and np.isfinite(filled).all()
    known = seen[0][0, 0, torch.as_tensor(~mask)]
    assert float(known.pow(2).mean().sqrt()) == pytest.approx(LEVEL, rel=1e-3)
    wide = pipe.upsample(y[::2], from_rate=SAMPLE_RATE // 2, seed=0, steps=2, window=4000)
    assert wide.shape == (1200,) and np.isfinite(wide).all()
    assert float(seen[1].pow(2).mean().sqrt()) == pytest.approx(LEVEL, rel=1e-3)


# ----------------------------------------------------------------- the CLI
def test_cli_denoise_takes_the_noise_model_and_says_it(prior_run, tmp_path):
    from audiodiff.audio import load_audio, save_wav
    from helpers.cli import assert_one_line_error, run_cli

    noisy = tmp_path / "noisy.wav"
    save_wav(noisy, _tone(4000), SAMPLE_RATE)
    proc = run_cli("denoise", str(noisy), "--model", str(prior_run), "--out", str(tmp_path / "c.wav"),
                   "--noise", "coloured", "--steps", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "coloured noise, σ = " in proc.stdout and "estimated after whitening" in proc.stdout
    assert load_audio(tmp_path / "c.wav")[0].shape[-1] == 4000
    proc = run_cli("denoise", str(noisy), "--model", str(prior_run), "--out", str(tmp_path / "w.wav"),
                   "--sigma", "0.01", "--steps", "2", "--no-progress")
    assert proc.returncode == 0 and "white noise, σ = 0.01)" in proc.stdout, proc.stdout + proc.stderr
    bad = run_cli("denoise", str(noisy), "--model", str(prior_run), "--out", str(tmp_path / "x.wav"),
                  "--noise", "pink")
    assert_one_line_error(bad, "--noise", "'pink'", "white, coloured")
    both = run_cli("denoise", str(noisy), "--model", str(prior_run), "--out", str(tmp_path / "y.wav"),
                   "--noise", "coloured", "--sigma", "0.1")
    assert_one_line_error(both, "sigma", "coloured")
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()
