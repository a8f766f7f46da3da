"""A tiny gap-filling run trained on generated harmonic tones ([data] domain = "gapfill") and used as a user would:
`load(run).inpaint`, the `inpaint` command, the gap-filling benchmark's "conditional" row, and their refusals."""

from __future__ import annotations

import functools
import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff
from audiodiff.eval.gaps import gap_lsd
from audiodiff.pipeline import GapFillPipeline, WrongDomainError
from audiodiff.recipe import recipe_from_dict
from benchmarks import gap_fill
from helpers.audio import harmonic_buzz
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import TINY_UNET, tiny_recipe_dict, write_clips

RATE = 8000


_harmonic = functools.partial(harmonic_buzz, rate=RATE, top=3500.0)   # (f0, n, seed): harmonics up to 3.5 kHz


@pytest.fixture(scope="module")
def gapfill_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gapfill")
    write_clips(root / "audio", (_harmonic(f0, 6000, i) for i, f0 in enumerate((180.0, 220.0, 260.0, 310.0))), RATE)
    raw = tiny_recipe_dict(root / "audio", model={**TINY_UNET, "dropout": 0.0, "base_channels": 8}, max_steps=150, learning_rate=3e-3,
                           batch_size=8, checkpoint_every=1000)
    raw["data"].update(domain="gapfill", clip_length=2048, gap_min_ms=20.0, gap_max_ms=60.0)
    raw["diffusion"].update(prediction="v")
    raw["sample"].update(sampler="ddim", steps=10)
    audiodiff.train(recipe_from_dict(raw), root / "run", device="cpu", show_progress=False)
    return root / "run"


def _with_gap(n: int = 2048, start: int = 900, length: int = 320) -> tuple[np.ndarray, np.ndarray]:
    audio = _harmonic(240.0, n, 7)                                      # a pitch it never heard
    mask = np.zeros(n, dtype=bool)
    mask[start:start + length] = True
    return audio, mask


def test_the_run_fills_the_gap_and_keeps_everything_else(gapfill_run):
    pipe = audiodiff.load(gapfill_run, device="cpu", precision="fp32")
    assert isinstance(pipe, GapFillPipeline)
    audio, mask = _with_gap()
    filled = pipe.inpaint(audio, mask, seed=0)
    assert isinstance(filled, np.ndarray) and filled.shape == audio.shape
    assert np.array_equal(filled[~mask], audio[~mask])                  # the context comes back exactly
    assert np.array_equal(filled, pipe.inpaint(audio, mask, seed=0))    # seeded
    level = np.sqrt(np.mean(filled[mask] ** 2)) / np.sqrt(np.mean(audio[mask] ** 2))
    assert 0.5 < level < 2, level                                       # at the context's level
    noise = audio.copy()                                                # white noise at the fill's level
    noise[mask] = np.random.default_rng(0).standard_normal(int(mask.sum())) * np.sqrt(np.mean(filled[mask] ** 2))
    lsd = gap_lsd(audio, filled, 900, 320)
    assert lsd < gap_lsd(audio, noise, 900, 320) - 2, lsd              # shaped like the tone, not like noise
    loud = pipe.inpaint(audio * 0.25, mask, seed=0)                     # level-normalised by the known part
    assert np.allclose(loud[mask], np.clip(filled[mask], -1, 1) * 0.25, atol=2e-3)
    long = np.concatenate([audio, audio, audio])                       # cross-faded windows; a gap-free one is kept
    long_mask = np.concatenate([np.zeros_like(mask), np.zeros_like(mask), mask])
    out = pipe.inpaint(long, long_mask, seed=0)
    assert np.array_equal(out[~long_mask], long[~long_mask]) and np.abs(out[long_mask]).max() > 0.05


def test_the_training_preview_fills_the_middle_fifth_of_each_clip(gapfill_run):
    from audiodiff.domains import preview_clips

    pipe = audiodiff.load(gapfill_run, device="cpu", precision="fp32")
    clips = [torch.from_numpy(_harmonic(f0, 2000, 3))[None] for f0 in (200.0, 300.0, 250.0)]
    out = preview_clips(pipe, 2, clips, seed=0)
    assert out.shape == (2, 2000)
    for heard, clip in zip(out, clips):
        assert torch.equal(heard[:800], clip[0, :800]) and torch.equal(heard[1200:], clip[0, 1200:])
        assert not torch.equal(heard[800:1200], clip[0, 800:1200])
    with pytest.raises(ValueError, match="gapfill preview needs training clips"):
        preview_clips(pipe, 2, [])


def test_inpaint_refuses_what_the_run_cannot_do(gapfill_run):
    pipe = audiodiff.load(gapfill_run, device="cpu")
    audio, mask = _with_gap()
    with pytest.raises(ValueError, match="resample_jumps.*RePaint"):
        pipe.inpaint(audio, mask, resample_jumps=10)
    with pytest.raises(ValueError, match="mask shape"):
        pipe.inpaint(audio, mask[:100])
    with pytest.raises(ValueError, match="NaN"):
        pipe.inpaint(np.full(2048, np.nan, dtype=np.float32), mask)
    with pytest.raises(WrongDomainError, match="pipe.inpaint"):
        pipe.sample(n=1)


def test_the_inpaint_command_and_the_benchmark_use_the_run(gapfill_run, tmp_path):
    audio, _ = _with_gap(n=4000)
    sf.write(str(tmp_path / "song.wav"), audio, RATE, subtype="PCM_16")
    proc = run_cli("inpaint", str(tmp_path / "song.wav"), "--gap", "0.20:0.24", "--model", str(gapfill_run),
                   "--out", str(tmp_path / "fixed.wav"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    fixed, rate = sf.read(str(tmp_path / "fixed.wav"), dtype="float32")
    song, _ = sf.read(str(tmp_path / "song.wav"), dtype="float32")
    assert rate == RATE and fixed.shape == song.shape
    assert np.array_equal(fixed[:1600], song[:1600]) and np.array_equal(fixed[1920:], song[1920:])
    assert not np.array_equal(fixed[1600:1920], song[1600:1920])
    assert_one_line_error(run_cli("inpaint", str(tmp_path / "song.wav"), "--gap", "0.20:0.24", "--model",
                                  str(gapfill_run), "--jumps", "10", "--out", str(tmp_path / "j.wav"),
                                  "--no-progress"), "resample_jumps")
    assert not (tmp_path / "j.wav").exists()

    write_clips(tmp_path / "clips", (_harmonic(f0, 4000, 9) for f0 in (200.0, 280.0)), RATE)
    result = gap_fill.main(["--clips", str(tmp_path / "clips"), "--out", str(tmp_path / "r.json"), "--gaps", "40",
                            "--rate", str(RATE), "--context", "0.1", "--methods", "silence", "--model",
                            str(gapfill_run), "--no-progress"])
    assert list(result["rows"]) == ["silence", "conditional"]
    assert "gapfill run" in result["methods"]["conditional"]
    scores = [(item["snr_db"]["conditional"], item["lsd_db"]["conditional"]) for item in result["items"]]
    assert len(scores) == 2 and all(snr is not None and lsd is not None and snr != 0.0 for snr, lsd in scores)
