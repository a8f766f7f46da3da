"""Audio longer than a run's clips by windowed continuation (tasks.continuation, `sample(seconds=…)`,
`audiodiff sample --seconds`): each window inpainted from the end of the one before, so the seams carry the
signal on as the inside of a window does."""

from __future__ import annotations

import soundfile as sf
import pytest
import torch

import audiodiff
from audiodiff import tasks
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.recipe import load_recipe
from helpers.audio import write_tone_wavs
from helpers.cli import run_cli
from helpers.recipes import CLIP_LENGTH, SAMPLE_RATE, tiny_recipe_dict, write_recipe

WINDOW, OVERLAP, RHO = 32, 8, 0.9


class SmoothProcessOracle:
    """The exact ε-predictor for data that is a stationary Gaussian process along time, x0 ~ N(0, C) with
    C_ij = ρ^|i−j| (an AR(1) process, unit variance) in windows of WINDOW samples: E[ε | x_t] = s (a²C + s²I)⁻¹ x_t."""

    def __init__(self, diffusion: GaussianDiffusion):
        self.schedule = diffusion.schedule
        i = torch.arange(WINDOW, dtype=torch.float64)
        self.cov = RHO ** (i[:, None] - i[None, :]).abs()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **_) -> torch.Tensor:
        a = self.schedule.sqrt_alpha_cumprod_at(t.to(torch.float64))
        s = (1 - a * a).clamp_min(0).sqrt()
        eye = torch.eye(WINDOW, dtype=torch.float64)
        system = a[:, None, None] ** 2 * self.cov + s[:, None, None] ** 2 * eye           # [B, W, W]
        eps = s[:, None] * torch.linalg.solve(system, x[:, 0].to(torch.float64))           # [B, W]
        return eps[:, None].to(x.dtype)


def lag1(x: torch.Tensor, i: int) -> float:
    """Correlation over the batch of x[:, 0, i] and x[:, 0, i + 1]."""
    pair = x[:, 0, i:i + 2].to(torch.float64)
    return float(torch.corrcoef(pair.T)[0, 1])


@pytest.mark.slow      # 600 chains over four windows, twice
def test_seams_carry_the_process_on_and_jumps_tighten_them():
    """With the exact predictor of a smooth process, the inside of every window has the process's lag-1
    correlation ρ; at a seam (last known sample | first new one) plain replacement keeps most of the correlation
    that independent windows lose entirely (0.72 of 0.9 here), and RePaint's jumps bring it closer to ρ (0.85+).
    The level stays within 2 dB everywhere (replacement dips it by about that on the first new samples)."""
    diffusion = GaussianDiffusion.from_config({"schedule": "linear", "num_steps": 50, "beta_start": 1e-4,
                                               "beta_end": 0.2, "prediction": "eps"})
    oracle = SmoothProcessOracle(diffusion)
    length = WINDOW + 3 * (WINDOW - OVERLAP)                      # four windows, three seams
    seams = [WINDOW + k * (WINDOW - OVERLAP) - 1 for k in range(3)]
    inside = [WINDOW // 2, WINDOW + 10, length - 10]
    seam_corr = {}
    for jumps in (1, 5):
        g = torch.Generator().manual_seed(0)
        x = tasks.continuation(diffusion, oracle, (600, 1, length), WINDOW, overlap=OVERLAP, sampler="ddpm",
                               generator=g, resample=jumps, jump_length=5)
        assert x.shape == (600, 1, length)
        assert all(abs(lag1(x, i) - RHO) < 0.08 for i in inside)
        level = x[:, 0].to(torch.float64).pow(2).mean(0).sqrt()     # RMS at each position, over the batch
        assert float(level.min()) > 0.75 and float(level.max()) < 1.2  # no step in level beyond 2.5 dB
        seam_corr[jumps] = min(lag1(x, i) for i in seams)
    apart = torch.cat([diffusion.sample(oracle, (600, 1, WINDOW), generator=g) for _ in range(2)], dim=-1)
    assert abs(lag1(apart, WINDOW - 1)) < 0.15                    # independent windows break the process
    assert seam_corr[1] > 0.6 and seam_corr[5] > seam_corr[1] + 0.05, seam_corr


def test_continuation_checks_its_overlap():
    diffusion = GaussianDiffusion.from_config({"schedule": "linear", "num_steps": 10})
    with pytest.raises(ValueError, match="overlap"):
        tasks.continuation(diffusion, lambda x, t, **_: x, (1, 1, 100), 16, overlap=16)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A tiny waveform run and a tiny mel run, each trained two steps on generated tones."""
    root = tmp_path_factory.mktemp("long")
    write_tone_wavs(root / "tones", count=3)
    raw = tiny_recipe_dict(root / "tones", max_steps=2)
    wave = write_recipe(root / "wave-recipe", raw)
    audiodiff.train(load_recipe(wave), root / "wave", device="cpu", show_progress=False)
    mel_raw = tiny_recipe_dict(root / "tones", max_steps=2, model={
        "type": "unet1d", "base_channels": 8, "channel_mults": [1, 2], "down_factors": [2], "blocks_per_level": 1,
        "attention_heads": 2})
    mel_raw["data"]["domain"] = "mel"
    mel_raw["features"] = {"n_fft": 128, "hop_length": 32, "n_mels": 16, "griffin_lim_iters": 4}
    mel = write_recipe(root / "mel-recipe", mel_raw)
    audiodiff.train(load_recipe(mel), root / "mel", device="cpu", show_progress=False)
    return {"wave": root / "wave", "mel": root / "mel"}


@pytest.mark.parametrize("kind", ["wave", "mel"])
def test_seconds_makes_audio_of_that_length_window_by_window(runs, kind):
    pipe = audiodiff.load(runs[kind], device="cpu")
    seconds = 3.5 * CLIP_LENGTH / SAMPLE_RATE
    out = pipe.sample(2, steps=3, seed=0, seconds=seconds)
    expected = round(seconds * SAMPLE_RATE)
    if kind == "mel":
        expected = pipe.features.frames(expected) * pipe.features.hop_length
    assert out.shape == (2, expected) and torch.isfinite(out).all()
    again = pipe.sample(2, steps=3, seed=0, seconds=seconds)
    assert torch.equal(out, again)                                   # seeded like any sampling
    with pytest.raises(ValueError, match="not both"):
        pipe.sample(1, steps=2, length=CLIP_LENGTH, seconds=1.0)


def test_the_cli_writes_long_clips_with_seconds(runs, tmp_path):
    out = tmp_path / "long"
    proc = run_cli("sample", "--model", str(runs["wave"]), "--n", "1", "--steps", "2", "--seconds", "0.1",
                   "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert sf.info(str(out / "sample_000.wav")).frames == round(0.1 * SAMPLE_RATE)
    bad = run_cli("sample", "--model", str(runs["wave"]), "--n", "1", "--seconds", "0", "--out", str(tmp_path / "x"))
    assert bad.returncode != 0 and "--seconds" in bad.stderr and "Traceback" not in bad.stderr


def test_seam_report_finds_a_step_in_level_or_spectrum_and_nothing_in_steady_audio():
    from audiodiff.eval.seams import seam_report

    rate = 16000
    g = torch.Generator().manual_seed(3)
    noise = 0.1 * torch.randn(rate * 2, generator=g)
    seams = [8000, 16000, 24000]
    steady = seam_report(noise, rate, seams)
    assert steady["seams"] == 3 and steady["seam_level_db"] < 1.5 and steady["spread_level_db"] < 1.5
    stepped = noise.clone()
    stepped[16000:] *= 0.25                                        # −12 dB from the second seam on
    report = seam_report(stepped, rate, seams)
    assert report["audible_seams"] >= 1 and report["seam_level_db"] > 10
    t = torch.arange(rate * 2) / rate
    tones = torch.where(t < 1.0, torch.sin(2 * torch.pi * 300 * t), torch.sin(2 * torch.pi * 3000 * t)) * 0.3
    switch = seam_report(tones, rate, [16000])                      # same level, another pitch
    assert switch["audible_seams"] == 1 and switch["seam_spectral_db"] > 5 * switch["spread_spectral_db"]
    with pytest.raises(ValueError, match="no seam"):
        seam_report(noise, rate, [10 ** 7])


def test_continuation_seams_are_where_new_material_starts():
    assert tasks.continuation_seams(100, 40) == [40, 70]     # overlap 10, hop 30: windows at 0, 30, 60
    assert tasks.continuation_seams(40, 40) == []
