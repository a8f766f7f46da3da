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
    late = noise.clone()
    late[16960:] *= 0.25                                           # the step 60 ms after the seam: inside a fade
    assert seam_report(late, rate, [16000])["audible_seams"] == 0  # the seam's own frame pair sees nothing
    spanned = seam_report(late, rate, [16000], span=1000)          # a 62 ms cross-fade: its pairs see the step
    assert spanned["audible_seams"] == 1 and spanned["seam_level_db"] > 10 and spanned["seams"] == 1


def test_continuation_seams_are_where_new_material_starts():
    assert tasks.continuation_seams(100, 40, fade=0) == [40, 70]   # overlap 10, hop 30: windows at 0, 30, 60
    assert tasks.continuation_seams(100, 40) == [38, 68]           # the last 2 of the overlap are cross-faded
    assert tasks.continuation_seams(40, 40) == []
    with pytest.raises(ValueError, match="fade"):
        tasks.continuation_seams(100, 40, fade=10)                 # no known part would be left


def test_continuation_cross_fades_each_new_window_in_over_the_end_of_its_overlap(monkeypatch):
    """The first window is all 0.5, every inpainted one all ones outside its known part: the output keeps the
    known part, rises along windows.py's ramp over the fade (two fully correlated signals: the plain linear fade),
    then is the new window's."""
    from audiodiff.windows import taper

    def first(diffusion, model, shape, call, **_):
        return torch.full(shape, 0.5)

    def inpainted(diffusion, model, given, known, **_):
        return torch.where(known.expand_as(given), given, torch.ones_like(given))

    monkeypatch.setattr(tasks, "sample", first)
    monkeypatch.setattr(tasks, "inpaint", inpainted)
    out = tasks.continuation(None, None, (2, 1, 100), 40, overlap=12, fade=4, sampler="ddim")
    ramp = taper(8, 4)[:4].float()
    seam = tasks.continuation_seams(100, 40, overlap=12, fade=4)[0]
    assert seam == 28 + 8                                             # window 1 at 28: 8 known, then the fade
    assert torch.equal(out[..., :seam], torch.full((2, 1, seam), 0.5))   # window 0, and window 1's known part
    assert torch.allclose(out[0, 0, seam:seam + 4], 0.5 + 0.5 * ramp)    # the fade: from 0.5 into 1
    assert torch.equal(out[..., seam + 4:], torch.ones(2, 1, 100 - seam - 4))   # the ones carry on
    assert 0 < float(ramp[0]) < float(ramp[-1]) < 1


def test_continuation_fade_keeps_the_power_of_two_independent_draws(monkeypatch):
    """Each window an independent unit-variance draw: across the fade the output's power stays at 1 (a (1 − w, w)
    fade would fall to 0.5 in its middle: an audible dip at every seam)."""
    g = torch.Generator().manual_seed(0)

    def first(diffusion, model, shape, call, **_):
        return torch.randn(shape, generator=g)

    def inpainted(diffusion, model, given, known, **_):
        return torch.where(known.expand_as(given), given, torch.randn(given.shape, generator=g))

    monkeypatch.setattr(tasks, "sample", first)
    monkeypatch.setattr(tasks, "inpaint", inpainted)
    out = tasks.continuation(None, None, (2000, 1, 1200), 1000, overlap=300, fade=256, sampler="ddim")
    seam = tasks.continuation_seams(1200, 1000, overlap=300, fade=256)[0]
    power = out[:, 0, seam:seam + 256].pow(2).mean(dim=0)
    assert 0.85 < float(power.min()) and float(power.max()) < 1.15, power
    assert abs(float(power[96:160].mean()) - 1) < 0.05, power[96:160].mean()   # the middle, where w = 1/2
