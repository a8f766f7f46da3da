"""Audio I/O (formats, resampling, bad files), crops, folder datasets, generated notes, batch order / resume."""

from __future__ import annotations

import math
import os
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiodiff.audio import AudioReadError, crop_or_pad, load_audio, resample, save_wav
from audiodiff.data import (ClipDataset, DatasetError, EpochBatchSampler, class_balanced_weights, find_audio_files,
                            generate_notes)
from helpers.corpora import load_folder


def sine(n: int, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def peak_freq(wave: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spec.argmax()])


# ----------------------------------------------------------------- load_audio
@pytest.mark.parametrize("subtype,tol", [("PCM_16", 1 / 32768), ("PCM_24", 1 / 2 ** 23), ("FLOAT", 1e-7),
                                         ("PCM_U8", 1 / 128)])
def test_load_audio_pcm_widths(tmp_path, subtype, tol):
    x = sine(300, 8000, amp=0.7)
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(str(path), x, 8000, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    wave, rate = load_audio(path)
    assert rate == 8000
    assert wave.dtype == torch.float32 and wave.shape == (300,)
    np.testing.assert_allclose(wave.numpy(), x, atol=tol * 1.01 + 1e-7)


def test_load_audio_24bit_keeps_precision_beyond_16bit(tmp_path):
    x = np.full(50, 0.123456, dtype=np.float32)
    sf.write(str(tmp_path / "a.wav"), x, 16000, subtype="PCM_24")
    wave, _ = load_audio(tmp_path / "a.wav")
    assert abs(float(wave[0]) - 0.123456) < 1e-6      # 16-bit would be off by up to 1.5e-5


def test_load_audio_float_out_of_range_is_clipped(tmp_path):
    x = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    sf.write(str(tmp_path / "f.wav"), x, 8000, subtype="FLOAT")
    wave, _ = load_audio(tmp_path / "f.wav")
    assert wave.tolist() == [1.0, -1.0, 0.25]


def test_load_audio_stereo_to_mono(tmp_path):
    left, right = np.full(100, 0.6, np.float32), np.full(100, 0.2, np.float32)
    sf.write(str(tmp_path / "s.wav"), np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    wave, _ = load_audio(tmp_path / "s.wav")
    assert wave.shape == (100,)
    torch.testing.assert_close(wave, torch.full((100,), 0.4))


def test_load_audio_flac(tmp_path):
    x = sine(500, 8000)
    sf.write(str(tmp_path / "x.flac"), x, 8000)
    wave, rate = load_audio(tmp_path / "x.flac")
    assert rate == 8000 and wave.shape == (500,)


def test_load_audio_resamples_44k1_to_16k(tmp_path):
    x = sine(44100, 44100, freq=1000.0, amp=0.5)
    sf.write(str(tmp_path / "cd.wav"), x, 44100, subtype="PCM_16")
    wave, rate = load_audio(tmp_path / "cd.wav", sample_rate=16000)
    assert rate == 16000
    assert wave.shape == (16000,)
    assert abs(peak_freq(wave.numpy(), 16000) - 1000.0) <= 2.0
    assert abs(float(wave[2000:14000].abs().max()) - 0.5) < 0.01     # pass-band gain ≈ 1
    # shorter, non-integer ratio: length is the rounded-up rate ratio
    sf.write(str(tmp_path / "short.wav"), sine(4411, 44100), 44100)
    assert load_audio(tmp_path / "short.wav", 16000)[0].shape == (math.ceil(4411 * 16000 / 44100),)


def test_load_audio_same_rate_not_resampled(tmp_path):
    x = sine(123, 16000)
    sf.write(str(tmp_path / "a.wav"), x, 16000, subtype="FLOAT")
    wave, rate = load_audio(tmp_path / "a.wav", sample_rate=16000)
    assert rate == 16000 and torch.equal(wave, torch.from_numpy(x))


def test_resample_identity_and_length():
    w = torch.randn(800).clamp(-1, 1)
    assert resample(w, 8000, 8000) is w
    assert resample(w, 8000, 16000).shape == (1600,)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("this is not audio, just a text file named .wav\n" * 5)
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT")
    header_only = tmp_path / "no_frames.wav"
    sf.write(str(header_only), np.zeros(0, np.float32), 8000)
    return {"empty": empty, "text": text, "nan": nan, "header_only": header_only}


@pytest.mark.parametrize("kind", ["empty", "text", "nan", "header_only"])
def test_load_audio_bad_file_raises_naming_file(tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioReadError) as info:
        load_audio(path)
    assert path.name in str(info.value)


def test_load_audio_missing_file(tmp_path):
    with pytest.raises(AudioReadError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")


# ----------------------------------------------------------------- crop / pad / save
def test_crop_or_pad_random_crop_is_window():
    wave = torch.arange(100, dtype=torch.float32)
    starts = set()
    for s in range(20):
        out = crop_or_pad(wave, 10, generator=torch.Generator().manual_seed(s))
        assert out.shape == (10,)
        start = int(out[0])
        assert 0 <= start <= 90
        assert torch.equal(out, wave[start:start + 10])
        starts.add(start)
    assert len(starts) > 5                       # crops really are random
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(crop_or_pad(wave, 10, generator=g1), crop_or_pad(wave, 10, generator=g2))


def test_crop_or_pad_fixed_crop_pad_and_exact():
    wave = torch.arange(1, 11, dtype=torch.float32)
    assert torch.equal(crop_or_pad(wave, 4, random=False), wave[:4])
    padded = crop_or_pad(wave, 15)
    assert torch.equal(padded[:10], wave) and torch.equal(padded[10:], torch.zeros(5))
    assert torch.equal(crop_or_pad(wave, 10), wave)
    # any number of leading dims
    assert crop_or_pad(torch.ones(2, 3, 5), 8).shape == (2, 3, 8)


def test_save_wav_16bit_clipped_atomic(tmp_path):
    path = tmp_path / "deep" / "dir" / "out.wav"
    save_wav(path, torch.tensor([[0.0, 0.5, -0.25, 2.0, -3.0]]), 12345)
    info = sf.info(str(path))
    assert info.subtype == "PCM_16" and info.format == "WAV"
    assert info.samplerate == 12345 and info.channels == 1 and info.frames == 5
    data, _ = sf.read(str(path), dtype="int16")
    assert data[3] == 32767 and data[4] <= -32767          # clipped, not wrapped around
    np.testing.assert_allclose(sf.read(str(path))[0][:3], [0.0, 0.5, -0.25], atol=1 / 32767)
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]   # no temp file left behind
    save_wav(path, np.zeros(3), 8000)                      # numpy input, overwrite
    assert sf.info(str(path)).frames == 3


# ----------------------------------------------------------------- load_folder
def test_load_folder_recursive_and_skips_bad(tmp_path, audiodiff_log):
    root = tmp_path / "data"
    (root / "sub" / "deeper").mkdir(parents=True)
    sf.write(str(root / "a.wav"), sine(300, 8000), 8000)
    sf.write(str(root / "sub" / "b.flac"), sine(200, 8000), 8000)
    sf.write(str(root / "sub" / "deeper" / "C.WAV"), sine(500, 16000), 16000)   # resampled to 250
    (root / "notes.txt").write_text("not counted")
    bad = _bad_files(root / "sub")
    waves = load_folder(root, 8000, show_progress=False)
    assert sorted(w.shape[0] for w in waves) == [200, 250, 300]
    warnings = [r.getMessage() for r in audiodiff_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "skipped 4 unreadable file(s) of 7" in warnings[0]
    for p in bad.values():
        assert p.name in warnings[0]


def test_find_audio_files_stable_order(tmp_path):
    for name in ["b.wav", "a.ogg", "z/c.flac", "x.txt"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)] == ["a.ogg", "b.wav",
                                                                                          "z/c.flac"]


def test_load_folder_missing(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_folder(tmp_path / "nowhere", 8000, show_progress=False)


def test_load_folder_empty(tmp_path):
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(DatasetError, match="no audio files"):
        load_folder(tmp_path, 8000, show_progress=False)


def test_load_folder_all_bad(tmp_path, audiodiff_log):
    _bad_files(tmp_path)
    with pytest.raises(DatasetError, match="none of the 4"):
        load_folder(tmp_path, 8000, show_progress=False)


# ----------------------------------------------------------------- generated notes
def test_generate_notes_count_format_idempotent(tmp_path):
    root = tmp_path / "notes"
    generate_notes(root, [60, 64, 67], 8000, 800, 5, seed=3)
    files = sorted(root.glob("*.wav"))
    assert len(files) == 5
    assert [f.name.split("_midi")[1] for f in files] == ["60.wav", "64.wav", "67.wav", "60.wav", "64.wav"]
    for f in files:
        info = sf.info(str(f))
        assert (info.samplerate, info.frames, info.subtype) == (8000, 800, "PCM_16")
        peak = np.abs(sf.read(str(f))[0]).max()
        assert 0.45 < peak <= 0.9 + 1e-4
    old = 1_000_000_000
    for f in files:
        os.utime(f, (old, old))
    generate_notes(root, [60, 64, 67], 8000, 800, 5, seed=3)
    assert all(f.stat().st_mtime == old for f in files)        # nothing rewritten
    # other parameters: regenerated, stale files removed
    generate_notes(root, [60, 64, 67], 8000, 800, 3, seed=3)
    assert len(list(root.glob("*.wav"))) == 3
    assert all(f.stat().st_mtime != old for f in root.glob("*.wav"))


def test_generate_notes_deterministic(tmp_path):
    generate_notes(tmp_path / "a", [62], 8000, 400, 2, seed=1)
    generate_notes(tmp_path / "b", [62], 8000, 400, 2, seed=1)
    for fa in (tmp_path / "a").glob("*.wav"):
        assert fa.read_bytes() == (tmp_path / "b" / fa.name).read_bytes()


def test_generate_notes_fundamental_is_strongest(tmp_path):
    notes = [48, 60, 69, 72]
    generate_notes(tmp_path, notes, 16000, 4000, 8, seed=0)
    for f in sorted(tmp_path.glob("*.wav")):
        midi = int(f.stem.split("_midi")[1])
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        x, rate = sf.read(str(f))
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        freqs = np.fft.rfftfreq(len(x), 1 / rate)
        partials = [spec[np.abs(freqs - k * f0) < 0.03 * f0].max() for k in (1, 2, 3)]
        assert partials[0] > partials[1] > partials[2] > 0
        assert abs(peak_freq(x, rate) - f0) < 0.03 * f0           # the spectrum's peak is f0


# ----------------------------------------------------------------- batch order and crops
def take(sampler, k):
    return list(islice(iter(sampler), k))


@pytest.mark.parametrize("n,bs", [(10, 3), (12, 4), (2, 5)])
def test_epoch_batch_sampler_resume_is_exact(n, bs):
    full = take(EpochBatchSampler(n, bs, seed=5), 25)
    for k in (0, 1, 2, 3, 4, 7, 12, 24):
        assert take(EpochBatchSampler(n, bs, seed=5, start_step=k), 25 - k) == full[k:], k


def test_epoch_batch_sampler_epochs_are_permutations():
    n, bs = 12, 4
    batches = take(EpochBatchSampler(n, bs, seed=1), 3 * 5)
    orders = []
    for e in range(5):
        epoch = batches[3 * e:3 * e + 3]
        assert all(len(b) == bs and all(ep == e for _, ep in b) for b in epoch)
        idx = [i for b in epoch for i, _ in b]
        assert sorted(idx) == list(range(n))
        orders.append(idx)
    assert len({tuple(o) for o in orders}) == 5                      # reshuffled every epoch
    other_seed = take(EpochBatchSampler(n, bs, seed=2), 3)
    assert [i for b in other_seed for i, _ in b] != orders[0]


def test_class_balanced_weights_make_rare_classes_as_likely():
    labels = [0] * 2 + [1] * 10 + [2] * 40
    w = class_balanced_weights(labels)
    assert w.shape == (52,)
    shares = [float(w[torch.tensor(labels) == c].sum() / w.sum()) for c in range(3)]
    assert shares == pytest.approx([1 / 3] * 3)


def test_weighted_epoch_batch_sampler_balances_classes_and_resumes_exactly():
    labels = [0] * 4 + [1] * 16 + [2] * 80
    sampler = EpochBatchSampler(len(labels), 10, seed=3, weights=class_balanced_weights(labels))
    batches = take(sampler, 300)
    counts = np.bincount([labels[i] for b in batches for i, _ in b], minlength=3)
    assert counts.sum() == 3000
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.04), counts     # in proportion to the clips: 0.04 / 0.16 / 0.8
    assert [b[0][1] for b in batches[::10]] == list(range(30))       # 10 batches an epoch, as unweighted
    for k in (1, 9, 10, 37):
        resumed = EpochBatchSampler(len(labels), 10, seed=3, start_step=k, weights=class_balanced_weights(labels))
        assert take(resumed, 20) == batches[k:k + 20], k
    plain = take(EpochBatchSampler(len(labels), 10, seed=3), 10)
    assert sorted(i for b in plain for i, _ in b) == list(range(100))   # without weights: still a permutation


@pytest.mark.parametrize("weights", [[1.0] * 5, [1.0] * 5 + [-1.0], [0.0] * 6])
def test_epoch_batch_sampler_refuses_bad_weights(weights):
    with pytest.raises(ValueError, match="weights must be 6 numbers"):
        EpochBatchSampler(6, 2, weights=weights)


def test_epoch_batch_sampler_drops_remainder_without_repeats():
    batches = take(EpochBatchSampler(10, 3, seed=0), 6)
    for e in range(2):
        idx = [i for b in batches[3 * e:3 * e + 3] for i, _ in b]
        assert len(idx) == 9 and len(set(idx)) == 9


def test_epoch_batch_sampler_tiny_dataset_fills_batch():
    batches = take(EpochBatchSampler(3, 8, seed=0), 4)
    assert all(len(b) == 8 for b in batches)
    assert all(sorted(set(i for i, _ in b)) == [0, 1, 2] for b in batches)
    assert [b[0][1] for b in batches] == [0, 1, 2, 3]


def test_epoch_batch_sampler_ranks_disjoint_halves():
    n, bs = 16, 4
    glob = take(EpochBatchSampler(n, bs, seed=9), 8)
    r0 = take(EpochBatchSampler(n, bs, seed=9, rank=0, world_size=2), 8)
    r1 = take(EpochBatchSampler(n, bs, seed=9, rank=1, world_size=2), 8)
    for g, a, b in zip(glob, r0, r1):
        assert len(a) == len(b) == bs // 2
        assert not set(a) & set(b)
        assert a + b == g
    # resuming a rank is exact too
    assert take(EpochBatchSampler(n, bs, seed=9, start_step=5, rank=1, world_size=2), 3) == r1[5:]


def test_clip_dataset_crops_deterministic_per_epoch():
    waves = [torch.arange(1000, dtype=torch.float32) + 10_000 * i for i in range(3)] + [torch.ones(40)]
    ds = ClipDataset(waves, 100, seed=4)
    assert len(ds) == 4
    a = ds[(1, 0)]["audio"]
    assert a.shape == (1, 100)
    assert torch.equal(a, ds[(1, 0)]["audio"]) and torch.equal(ds[1]["audio"], a)
    assert torch.equal(a, ClipDataset(waves, 100, seed=4)[(1, 0)]["audio"])      # a fresh dataset agrees
    start = int(a[0, 0]) - 10_000
    assert torch.equal(a[0], waves[1][start:start + 100])
    starts = {int(ds[(1, e)]["audio"][0, 0]) for e in range(6)}
    assert len(starts) >= 5                                              # differs across epochs
    assert not torch.equal(ClipDataset(waves, 100, seed=5)[(1, 0)]["audio"], a)   # seed matters
    short = ds[(3, 2)]["audio"]
    assert torch.equal(short[0, :40], torch.ones(40)) and torch.equal(short[0, 40:], torch.zeros(60))


def test_clip_dataset_no_random_crop_and_empty():
    ds = ClipDataset([torch.arange(50, dtype=torch.float32)], 20, random_crop=False)
    assert torch.equal(ds[(0, 3)]["audio"][0], torch.arange(20, dtype=torch.float32))
    with pytest.raises(DatasetError):
        ClipDataset([], 20)


def test_dataloader_with_epoch_batch_sampler():
    waves = [torch.full((300,), float(i) / 10) for i in range(5)]
    ds = ClipDataset(waves, 64, seed=0)
    loader = DataLoader(ds, batch_sampler=EpochBatchSampler(len(ds), 2, seed=0))
    batches = [batch["audio"] for batch in islice(iter(loader), 4)]
    assert all(b.shape == (2, 1, 64) and b.dtype == torch.float32 for b in batches)
    resumed = [batch["audio"] for batch in islice(iter(DataLoader(ds, batch_sampler=EpochBatchSampler(
        len(ds), 2, seed=0, start_step=2))), 2)]
    assert all(torch.equal(a, b) for a, b in zip(batches[2:], resumed))
