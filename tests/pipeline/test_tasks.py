"""Denoising, inpainting and bandwidth extension on the analytic Gaussian oracle (no training), and upsample through
the Pipeline on it.  Denoise / inpaint / upsample through the Pipeline and the CLI on a tiny trained run are checked in
tests/e2e/test_tasks_e2e.py."""

import math

import pytest
import torch

import audiodiff
from audiodiff import GaussianDiffusion, NoiseSchedule
from audiodiff.tasks import bandwidth_extension, denoise, denoising_start, estimate_noise_sigma, inpaint, lowpass
from helpers.audio import tone
from helpers.oracle import MU, SIGMA, GaussianOracle, OracleNet, assert_moments
from helpers.recipes import SAMPLE_RATE


def prior(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mu = torch.tensor(MU).reshape(1, -1, 1)
    sd = torch.tensor(SIGMA).reshape(1, -1, 1)
    return mu + sd * torch.randn(n, len(MU), length, generator=g)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.2])
def test_sigma_estimate_within_ten_percent(sigma):
    g = torch.Generator().manual_seed(1)
    t = torch.arange(16000) / 16000
    clean = 0.5 * torch.sin(2 * math.pi * 220 * t) + 0.2 * torch.sin(2 * math.pi * 330 * t)
    noisy = clean + sigma * torch.randn(3, 16000, generator=g)
    est = estimate_noise_sigma(noisy)
    assert torch.all((est / sigma - 1).abs() < 0.10), est


def test_denoising_start_matches_the_noise_level():
    d = GaussianDiffusion(NoiseSchedule.linear(1000))
    for sigma in (0.05, 0.3, 1.0):
        t, level = denoising_start(d, sigma)
        assert 0 < t < 999
        assert level == pytest.approx(1 / (1 + sigma ** 2), rel=1e-9)
    with pytest.raises(ValueError):
        denoising_start(d, 0.0)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_denoise_beats_the_input_and_reaches_the_posterior(prediction):
    sched = NoiseSchedule.linear(1000)
    d = GaussianDiffusion(sched, prediction=prediction)
    model = GaussianOracle(sched, prediction)
    sigma_n = 0.3
    clean = prior(1500, 4, seed=2)
    noisy = clean + sigma_n * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    var = torch.tensor(SIGMA) ** 2
    post_var = var * sigma_n ** 2 / (var + sigma_n ** 2)          # Var[x0 | y], the MMSE per channel

    def mse(x):
        return ((x - clean) ** 2).transpose(0, 1).reshape(2, -1).mean(dim=1)

    # one DDIM step from the matched level returns E[x0 | y]: the posterior optimum (MMSE)
    mean_est = denoise(d, model, noisy, sigma_n, sampler="ddim", steps=1)
    assert torch.allclose(mse(mean_est), post_var, rtol=0.08)
    # the full DDIM chain (denoise's default) is the probability-flow map: MSE 2σ²(1 − σ/√(σ² + σn²)),
    # always below the input's σn² and here within 25% of the MMSE
    sd = torch.tensor(SIGMA)
    flow = denoise(d, model, noisy, sigma_n, sampler="ddim")
    expected = 2 * sd ** 2 * (1 - sd / (sd ** 2 + sigma_n ** 2).sqrt())
    assert torch.all(mse(flow) < sigma_n ** 2)
    assert torch.allclose(mse(flow), expected, rtol=0.1)
    assert torch.all(mse(flow) < 1.25 * post_var)
    # ancestral sampling draws from p(x0 | y): MSE ≈ 2·Var[x0 | y]
    g = torch.Generator().manual_seed(4)
    sampled = denoise(d, model, noisy, sigma_n, sampler="ddpm", steps=100, generator=g)
    assert torch.allclose(mse(sampled), 2 * post_var, rtol=0.12)


@pytest.mark.parametrize("resample", [1, 3])
def test_inpaint_keeps_known_samples_and_fills_with_prior_statistics(resample):
    sched = NoiseSchedule.linear(200)
    d = GaussianDiffusion(sched, prediction="eps")
    model = GaussianOracle(sched, "eps")
    audio = prior(1500, 8, seed=5)
    known = torch.ones_like(audio, dtype=torch.bool)
    known[..., 2:6] = False
    out = inpaint(d, model, audio, known, sampler="ddpm", resample=resample,
                  generator=torch.Generator().manual_seed(6))
    assert torch.equal(out[known], audio[known])
    filled = out[..., 2:6]
    var = torch.tensor(SIGMA) ** 2
    if resample == 1:
        # T = 200 ancestral sampling is close to, not exactly, the data law: 6 standard errors
        assert_moments(filled, MU, var.tolist(), z=6.0, label="inpaint")
    else:
        # each RePaint jump adds β̃'s small variance deficit again: means exact, variances within 15%
        flat = filled.transpose(0, 1).reshape(2, -1)
        assert torch.allclose(flat.mean(dim=1), torch.tensor(MU), atol=0.02)
        assert torch.allclose(flat.var(dim=1), var, rtol=0.15)


def test_inpaint_resample_rejects_dpmpp():
    sched = NoiseSchedule.linear(20)
    d = GaussianDiffusion(sched)
    audio = torch.zeros(1, 1, 4)
    with pytest.raises(ValueError, match="resample"):
        inpaint(d, GaussianOracle(sched, "eps"), audio, torch.ones_like(audio, dtype=torch.bool), sampler="dpm++",
                resample=2)


def test_bandwidth_extension_keeps_the_low_band_and_fills_the_high_band():
    sched = NoiseSchedule.linear(200)
    d = GaussianDiffusion(sched, prediction="v")
    model = GaussianOracle(sched, "v")
    length, fraction = 32, 0.5
    audio = lowpass(prior(1500, length, seed=7), fraction)        # a band-limited input
    out = bandwidth_extension(d, model, audio, fraction, sampler="ddpm", generator=torch.Generator().manual_seed(8))
    assert torch.allclose(lowpass(out, fraction), lowpass(audio, fraction), atol=1e-5)
    high = out - lowpass(out, fraction)
    reference = prior(1500, length, seed=9)
    ref_high = reference - lowpass(reference, fraction)
    power = high.pow(2).mean(dim=(0, 2))
    ref_power = ref_high.pow(2).mean(dim=(0, 2))
    assert torch.allclose(power, ref_power, rtol=0.1), (power, ref_power)


# ----------------------------------------------------------------- through the Pipeline, on the oracle
def test_upsample_keeps_the_input_band():
    sched = audiodiff.NoiseSchedule.linear(100, 1e-4, 0.1)
    config = {"sample_rate": SAMPLE_RATE, "clip_length": 400, "sample": {"sampler": "ddpm"}}
    pipe = audiodiff.Pipeline.for_config(OracleNet(sched), audiodiff.GaussianDiffusion(sched), config)
    low_rate = SAMPLE_RATE // 2
    audio = torch.from_numpy(tone(200, low_rate, freq=400.0))
    out = pipe.upsample(audio, low_rate, seed=0)
    assert out.shape == (400,) and out.abs().max() < 1      # nothing clipped, so the band is exact
    ref = audiodiff.audio.resample(audio, low_rate, SAMPLE_RATE)
    assert torch.allclose(lowpass(out[None], 0.5), lowpass(ref[None], 0.5), atol=1e-4)
    high = out - lowpass(out[None], 0.5)[0]
    assert 0.5 * 0.2 ** 2 / 2 < high.pow(2).mean() < 2 * 0.2 ** 2 / 2    # about half the prior's power
    with pytest.raises(ValueError, match="below the model"):
        pipe.upsample(audio, SAMPLE_RATE)
