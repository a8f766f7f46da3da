"""Dataset loaders on tiny generated trees in each corpus's real layout: SC09 splits and labels, LJSpeech,
GTZAN, folder + file_list, the decode cache (creation, invalidation), bad audio, downloads (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

import audiodiff.data as data
from audiodiff.audio import load_audio
from audiodiff.data import (CACHE_DIRNAME, GTZAN_GENRES, LJSPEECH_URL, SC09_WORDS, SPEECHCOMMANDS_URL, ClipDataset,
                            DatasetError, EpochBatchSampler, build_dataset, hash_split)
from audiodiff.recipe import RecipeError, load_recipe, recipe_from_dict
from helpers.corpora import cfg, make_speechcommands, tar_of, tone, write
from helpers.recipes import REPO, tiny_recipe_dict


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a URL fails the test; download tests install their own opener."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"test tried to use the network: {args}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(data.download, "_open_url", refuse)


def rel_names(ds: ClipDataset, root: Path) -> list[str]:
    return [Path(n).relative_to(root).as_posix() for n in ds.names]


# =================================================================== Speech Commands / SC09
def test_sc09_splits_labels_and_padding(tmp_path):
    root = tmp_path / "sc"
    expected = make_speechcommands(root)
    seen = {}
    for split in ("train", "valid", "test"):
        ds = build_dataset(cfg(root, "speechcommands", split=split, clip_length=16000), show_progress=False)
        names = rel_names(ds, root)
        assert sorted(names) == sorted(expected[split]), split
        assert ds.class_names == list(SC09_WORDS)
        assert ds.labels == [SC09_WORDS.index(n.split("/")[0]) for n in names]
        seen[split] = set(names)
        clip = ds[(0, 0)]["audio"]
        assert clip.shape == (1, 16000) and clip.dtype == torch.float32
        n = ds.length(0)
        assert n < 16000 and torch.equal(clip[0, n:], torch.zeros(16000 - n))     # 1 s, zero-padded
        assert clip[0, :n].abs().max() > 0.4
    assert not (seen["train"] & seen["valid"]) and not (seen["train"] & seen["test"])
    assert len(seen["train"]) == 4 * 3 - 4                 # 4 digit words × 3 clips, 4 of them held out
    assert all(n.split("/")[0] in SC09_WORDS for s in seen.values() for n in s)


def test_sc09_resampled_to_recipe_rate_and_torchaudio_layout(tmp_path):
    root = tmp_path / "sc"
    make_speechcommands(root / "SpeechCommands" / "speech_commands_v0.02", rate=48000, n=4800)
    ds = build_dataset(cfg(root, "speechcommands", sample_rate=16000, clip_length=16000), show_progress=False)
    assert len(ds) == 8
    assert sorted(ds.length(i) for i in range(len(ds)))[-1] == 1600          # 4800 samples at 48 k → 1600


def test_sc09_missing_error_says_where_and_how(tmp_path):
    root = tmp_path / "nothing-here"
    with pytest.raises(DatasetError) as info:
        build_dataset(cfg(root, "speechcommands"), show_progress=False)
    msg = str(info.value)
    assert "\n" not in msg
    for part in (str(root), "<word>/<file>.wav", "validation_list.txt", "testing_list.txt", "download = true",
                 SPEECHCOMMANDS_URL):
        assert part in msg, part
    assert not root.exists()                       # nothing created when download is off


def test_sc09_recipe_uses_speechcommands():
    r = load_recipe(REPO / "recipes" / "sc09")
    assert r.data.dataset == "speechcommands" and r.data.split == "train"
    assert (r.data.sample_rate, r.data.clip_length) == (16000, 16000)
    assert SPEECHCOMMANDS_URL.startswith("https://") and SPEECHCOMMANDS_URL.endswith("speech_commands_v0.02.tar.gz")


# =================================================================== downloads (a fake URL opener)
class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def serve(monkeypatch, payload: bytes) -> list[str]:
    calls = []

    def opener(url):
        calls.append(url)
        return FakeResponse(payload)
    monkeypatch.setattr(data.download, "_open_url", opener)
    return calls


def no_leftovers(root: Path) -> None:
    left = [p.name for p in root.iterdir() if p.name.endswith((".part", ".tmp", ".tar.gz", ".tar.bz2", ".zip"))]
    assert not left, left


def test_sc09_download_extracts_atomically_and_verifies(tmp_path, monkeypatch):
    make_speechcommands(tmp_path / "src")
    payload = tar_of(tmp_path / "src")
    monkeypatch.setitem(data.ARCHIVE_SHA256, "speech_commands_v0.02.tar.gz", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, payload)
    root = tmp_path / "data" / "sc"
    ds = build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    assert calls == [SPEECHCOMMANDS_URL]
    assert len(ds) == 8 and (root / "zero").is_dir() and (root / "validation_list.txt").is_file()
    no_leftovers(root)
    build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    assert calls == [SPEECHCOMMANDS_URL]                              # present now: not fetched again


def test_download_checksum_mismatch_and_network_error(tmp_path, monkeypatch):
    make_speechcommands(tmp_path / "src")
    serve(monkeypatch, tar_of(tmp_path / "src"))                     # the real checksum will not match
    root = tmp_path / "sc"
    with pytest.raises(DatasetError, match="corrupt: sha256"):
        build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    assert list(root.iterdir()) == []                                # no .part, no archive, no half tree

    def down(url):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(data.download, "_open_url", down)
    with pytest.raises(DatasetError, match=r"download of .*speech_commands_v0.02.tar.gz failed"):
        build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    assert list(root.iterdir()) == []


def test_download_merges_into_partial_tree_and_refuses_unsafe_members(tmp_path, monkeypatch):
    make_speechcommands(tmp_path / "src")
    payload = tar_of(tmp_path / "src")
    monkeypatch.setitem(data.ARCHIVE_SHA256, "speech_commands_v0.02.tar.gz", hashlib.sha256(payload).hexdigest())
    serve(monkeypatch, payload)
    root = tmp_path / "sc"
    write(root / "zero" / "spk000ab_nohash_0.wav", n=10)            # left by an interrupted extraction
    ds = build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    assert len(ds) == 8 and sf.info(str(root / "zero" / "spk000ab_nohash_0.wav")).frames == 1600

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "evil.tar.gz").write_bytes(evil.getvalue())
    with pytest.raises(DatasetError, match="outside"):
        data.extract_archive(tmp_path / "evil.tar.gz", tmp_path / "out", show_progress=False)
    assert not (tmp_path / "escaped.txt").exists()


def test_archive_placed_by_hand_is_verified_and_kept_and_wrong_layout_refused(tmp_path, monkeypatch):
    make_speechcommands(tmp_path / "src")
    payload = tar_of(tmp_path / "src")
    root = tmp_path / "sc"
    root.mkdir()
    (root / "speech_commands_v0.02.tar.gz").write_bytes(payload)
    serve(monkeypatch, b"")                                          # must not be called
    with pytest.raises(DatasetError, match="not the standard speechcommands archive"):
        build_dataset(cfg(root, "speechcommands", download=True), show_progress=False)
    monkeypatch.setitem(data.ARCHIVE_SHA256, "speech_commands_v0.02.tar.gz", hashlib.sha256(payload).hexdigest())
    ds = build_dataset(cfg(root, "speechcommands", download=True), show_progress=True)   # with progress bars
    assert len(ds) == 8 and (root / "speech_commands_v0.02.tar.gz").is_file()   # the user's file is kept

    write(tmp_path / "other" / "x.wav")                              # an archive without the layout
    serve(monkeypatch, tar_of(tmp_path / "other"))
    with pytest.raises(DatasetError, match="does not hold the ljspeech layout"):
        build_dataset(cfg(tmp_path / "lj", "ljspeech", download=True, url="https://x.example/lj.tgz"),
                      show_progress=False)


# =================================================================== LJSpeech
def make_ljspeech(root: Path, count: int = 40, rate: int = 22050) -> list[str]:
    base = root / "LJSpeech-1.1"
    ids = [f"LJ{1 + i // 10:03d}-{i % 10 + 1:04d}" for i in range(count)]
    rows = []
    for i, uid in enumerate(ids):
        write(base / "wavs" / f"{uid}.wav", n=300 + 10 * i, rate=rate)
        rows.append(f"{uid}|Text {i}, Mr. Smith.|Text {i}, mister Smith.")
    (base / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return ids


def test_ljspeech_layout_split_texts_and_rate(tmp_path):
    root = tmp_path / "lj"
    ids = make_ljspeech(root, count=150)
    splits = {s: [u for u in ids if hash_split(u) == s] for s in ("train", "valid", "test")}
    assert splits["valid"] and splits["test"]                      # 150 ids reach every bucket
    for split, members in splits.items():
        ds = build_dataset(cfg(root, "ljspeech", split=split, sample_rate=22050, clip_length=4000),
                           show_progress=False)
        assert [Path(n).stem for n in ds.names] == members
        assert ds.labels is None and ds.class_names is None
        i = ids.index(members[0])
        assert ds.texts[0] == f"Text {i}, mister Smith."
        raw, _ = load_audio(root / "LJSpeech-1.1" / "wavs" / f"{members[0]}.wav")
        assert torch.equal(ds[(0, 0)]["audio"][0, :raw.shape[0]], raw)        # 22.05 kHz kept as is


def test_ljspeech_missing_wav_reported_and_missing_dataset_error(tmp_path, audiodiff_log):
    root = tmp_path / "lj"
    ids = make_ljspeech(root, count=20)
    train = [u for u in ids if hash_split(u) == "train"]
    (root / "LJSpeech-1.1" / "wavs" / f"{train[3]}.wav").unlink()
    ds = build_dataset(cfg(root, "ljspeech"), show_progress=False)
    assert len(ds) == len(train) - 1
    warnings = [r.getMessage() for r in audiodiff_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"skipped 1 unreadable file(s) of {len(train)}" in warnings[0]
    assert f"{train[3]}.wav: file not found" in warnings[0]
    with pytest.raises(DatasetError) as info:
        build_dataset(cfg(tmp_path / "none", "ljspeech"), show_progress=False)
    for part in ("LJSpeech-1.1/metadata.csv", "LJSpeech-1.1/wavs/*.wav", "download = true", LJSPEECH_URL):
        assert part in str(info.value)


def test_ljspeech_download_tar_bz2(tmp_path, monkeypatch):
    make_ljspeech(tmp_path / "src", count=12)
    payload = tar_of(tmp_path / "src" / "LJSpeech-1.1", mode="w:bz2", arc_prefix="LJSpeech-1.1")
    monkeypatch.setitem(data.ARCHIVE_SHA256, "LJSpeech-1.1.tar.bz2", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, payload)
    root = tmp_path / "lj"
    ds = build_dataset(cfg(root, "ljspeech", download=True, sample_rate=22050), show_progress=False)
    assert calls == [LJSPEECH_URL] and len(ds) == sum(hash_split(u) == "train" for u in
                                                      [f"LJ{1 + i // 10:03d}-{i % 10 + 1:04d}" for i in range(12)])
    assert (root / "LJSpeech-1.1" / "metadata.csv").is_file()
    no_leftovers(root)


# =================================================================== GTZAN
def make_gtzan(root: Path, genres=("blues", "jazz", "rock"), numbers=(0, 5, 85, 95), rate: int = 22050,
               n: int = 2205) -> None:
    for genre in genres:
        for k in numbers:
            ext = ".au" if (genre, k) == ("jazz", 5) else ".wav"        # the original archive holds .au files
            write(root / f"{genre}.{k:05d}{ext}".replace(f"{genre}.", f"{genre}/{genre}.", 1), n=n, rate=rate,
                  freq=300.0 + k)
    if "blues" in genres:
        (root / "blues" / "notes.txt").write_text("not audio")
        write(root / "blues" / "blues_extra.wav", n=100, rate=rate)      # not <genre>.<number>: ignored


def test_gtzan_layout_split_labels_resampling(tmp_path):
    root = tmp_path / "gtzan"
    make_gtzan(root / "genres")
    recipe = load_recipe(REPO / "recipes" / "gtzan")
    expected = {"train": (0, 5), "valid": (85,), "test": (95,)}
    for split, numbers in expected.items():
        dc = replace(recipe.data, root=str(root), split=split, num_workers=0)
        ds = build_dataset(dc, show_progress=False)
        names = rel_names(ds, root / "genres")
        want = sorted(f"{g}/{g}.{k:05d}" for g in ("blues", "jazz", "rock") for k in numbers)
        assert sorted(n.rsplit(".", 1)[0] for n in names) == want
        assert ds.class_names == list(GTZAN_GENRES)
        assert ds.labels == [GTZAN_GENRES.index(n.split("/")[0]) for n in names]
        assert all(ds.length(i) == 1600 for i in range(len(ds)))        # 0.1 s at 22.05 k → 16 k
        assert ds[(0, 0)]["audio"].shape == (1, 65536)
    ds = build_dataset(replace(recipe.data, root=str(root), num_workers=0), show_progress=False)
    assert any(n.endswith(".au") for n in rel_names(ds, root / "genres"))


def test_gtzan_random_crops_of_long_clips(tmp_path):
    root = tmp_path / "gtzan"
    make_gtzan(root / "genres_original", genres=("pop",), numbers=(1,), rate=16000, n=16000)
    ds = build_dataset(cfg(root, "gtzan", clip_length=4000), seed=3, show_progress=False)
    full = np.load(ds.waves.paths[0])
    starts = set()
    for epoch in range(6):
        clip = ds[(0, epoch)]["audio"][0].numpy()
        start = int(np.argmin([np.abs(full[s:s + 4000] - clip).max() for s in range(0, 12001)]))
        assert np.array_equal(full[start:start + 4000], clip)
        starts.add(start)
    assert len(starts) >= 4


def test_gtzan_missing_error_and_download_from_mirror_zip(tmp_path, monkeypatch, audiodiff_log):
    with pytest.raises(DatasetError) as info:
        build_dataset(cfg(tmp_path / "g", "gtzan"), show_progress=False)
    assert "genres/<genre>/<genre>.000NN.wav" in str(info.value) and "url" in str(info.value)
    with pytest.raises(RecipeError, match="url"):
        recipe_from_dict({**tiny_recipe_dict(tmp_path), "data": {"dataset": "gtzan", "download": True}})
    # a Kaggle-style zip from a mirror: Data/genres_original/<genre>/...
    make_gtzan(tmp_path / "src" / "Data" / "genres_original", genres=("metal",), numbers=(3,))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((tmp_path / "src").rglob("*")):
            zf.write(p, p.relative_to(tmp_path / "src").as_posix())
    calls = serve(monkeypatch, buf.getvalue())
    url = "https://mirror.example/gtzan/archive.zip?download=1"
    ds = build_dataset(cfg(tmp_path / "g", "gtzan", download=True, url=url), show_progress=False)
    assert calls == [url] and len(ds) == 1 and ds.labels == [GTZAN_GENRES.index("metal")]
    assert any("unverified" in r.getMessage() for r in audiodiff_log.records)
    no_leftovers(tmp_path / "g")


# =================================================================== folder + file_list
def test_folder_recursive_and_file_list(tmp_path, monkeypatch):
    root = tmp_path / "audio"
    for rel in ("a.wav", "sub/b.wav", "sub/deep/c.flac", "d.wav"):
        write(root / rel, n=500)
    ds = build_dataset(cfg(root), show_progress=False)
    assert rel_names(ds, root) == ["a.wav", "d.wav", "sub/b.wav", "sub/deep/c.flac"]
    assert ds.labels is None and ds.class_names is None
    assert build_dataset(cfg(root), show_progress=False).names == ds.names     # the cache is never listed

    (root / "list.txt").write_text("# picked files\nsub/deep/c.flac\n\n  a.wav  \n")
    ds = build_dataset(cfg(root, file_list="list.txt"), show_progress=False)   # found under root
    assert rel_names(ds, root) == ["sub/deep/c.flac", "a.wav"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("d.wav\nmissing.wav\n")
    ds = build_dataset(cfg(root, file_list="mine.txt"), show_progress=False)   # relative to the working dir
    assert rel_names(ds, root) == ["d.wav"]
    with pytest.raises(DatasetError, match="file_list nope.txt not found"):
        build_dataset(cfg(root, file_list="nope.txt"), show_progress=False)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DatasetError, match="names no files"):
        build_dataset(cfg(root, file_list="empty.txt"), show_progress=False)


def test_recipe_data_keys_validated(tmp_path):
    def raw(**data_kw):
        r = tiny_recipe_dict(tmp_path)
        r["data"].update(data_kw)
        return r
    assert recipe_from_dict(raw(file_list="x.txt")).data.file_list == "x.txt"
    assert recipe_from_dict(raw(dataset="ljspeech", split="valid", download=True)).data.split == "valid"
    for bad, match in [({"split": "dev"}, "allowed values"), ({"split": "test"}, "needs \\[data\\] test_list"),
                       ({"download": True}, "nothing to download"), ({"download": "yes"}, "true or false"),
                       ({"dataset": "speechcommands", "file_list": "x"}, "only for dataset = 'folder'"),
                       ({"dataset": "sc09"}, "allowed values"), ({"cache": 1}, "true or false")]:
        with pytest.raises(RecipeError, match=match):
            recipe_from_dict(raw(**bad))
    loaded = load_recipe(REPO / "recipes" / "gtzan")
    assert loaded.data.dataset == "gtzan" and loaded.model["type"] == "unet1d"


# =================================================================== the decode cache
def count_decodes(monkeypatch) -> list[str]:
    calls = []
    real = data.cache.load_audio

    def counting(path, sample_rate=None):
        calls.append(Path(path).name)
        return real(path, sample_rate)
    monkeypatch.setattr(data.cache, "load_audio", counting)
    return calls


def test_cache_created_reused_and_invalidated(tmp_path, monkeypatch):
    root = tmp_path / "audio"
    for i in range(4):
        write(root / f"f{i}.wav", n=800 + i, rate=48000, freq=1000.0)
    calls = count_decodes(monkeypatch)
    first = build_dataset(cfg(root), show_progress=False)
    cache = root / CACHE_DIRNAME / "16000"
    assert sorted(calls) == ["f0.wav", "f1.wav", "f2.wav", "f3.wav"]
    assert len(list(cache.glob("*.npy"))) == 4 and not list(cache.glob("*.tmp"))
    assert isinstance(first.waves, data.CachedWaves)
    np.testing.assert_array_equal(np.load(first.waves.paths[0]), load_audio(root / "f0.wav", 16000)[0].numpy())

    calls.clear()
    again = build_dataset(cfg(root), show_progress=False)
    assert calls == []                                           # everything from the cache
    assert all(torch.equal(first[(i, 2)]["audio"], again[(i, 2)]["audio"]) for i in range(4))

    st = (root / "f1.wav").stat()                                # touch: same bytes, new mtime → decoded again
    os.utime(root / "f1.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    build_dataset(cfg(root), show_progress=False)
    assert calls == ["f1.wav"] and len(list(cache.glob("*.npy"))) == 4     # the stale entry is gone

    calls.clear()                                                # rewrite: new content served
    write(root / "f2.wav", n=4800, rate=48000, freq=3000.0, amp=0.25)
    ds = build_dataset(cfg(root), show_progress=False)
    assert calls == ["f2.wav"] and ds.length(2) == 1600 \
        and abs(float(ds[(2, 0)]["audio"].abs().max()) - 0.25) < 0.01

    calls.clear()                                                # another rate: a new cache beside the old
    ds8 = build_dataset(cfg(root, sample_rate=8000), show_progress=False)
    assert len(calls) == 4 and len(list((root / CACHE_DIRNAME / "8000").glob("*.npy"))) == 4
    assert ds8.length(2) == 800 and len(list(cache.glob("*.npy"))) == 4


def test_cache_off_custom_dir_and_unwritable_dir_agree(tmp_path, audiodiff_log):
    root = tmp_path / "audio"
    for i in range(3):
        write(root / f"f{i}.wav", n=3000 + 500 * i, rate=44100)
    cached = build_dataset(cfg(root, clip_length=1000), seed=7, show_progress=False)
    memory = build_dataset(cfg(root, clip_length=1000, cache=False), seed=7, show_progress=False)
    custom = build_dataset(cfg(root, clip_length=1000, cache_dir=str(tmp_path / "c")), seed=7, show_progress=False)
    assert isinstance(memory.waves, list) and len(list((tmp_path / "c" / "16000").glob("*.npy"))) == 3
    (tmp_path / "blocked").write_text("a file where the cache folder should go")
    fallback = build_dataset(cfg(root, clip_length=1000, cache_dir=str(tmp_path / "blocked")), seed=7,
                             show_progress=False)
    assert isinstance(fallback.waves, list)
    assert any("cannot write the audio cache" in r.getMessage() for r in audiodiff_log.records)
    for i in range(3):
        for epoch in range(3):
            a = cached[(i, epoch)]["audio"]
            assert a.shape == (1, 1000) and a.dtype == torch.float32
            assert torch.equal(a, memory[(i, epoch)]["audio"]) and torch.equal(a, custom[(i, epoch)]["audio"])
            assert torch.equal(a, fallback[(i, epoch)]["audio"])


def test_loader_workers_match_and_resume(tmp_path):
    root = tmp_path / "sc"
    make_speechcommands(root)
    ds0 = build_dataset(cfg(root, "speechcommands", clip_length=1200, num_workers=0), show_progress=False)
    ds2 = build_dataset(replace(cfg(root, "speechcommands", clip_length=1200, num_workers=2),
                                cache_dir=str(tmp_path / "c2")), show_progress=False)   # decoded by 2 workers
    assert ds0.names == ds2.names and ds0.labels == ds2.labels

    def batches(ds, workers, start=0, k=6):
        loader = DataLoader(ds, batch_sampler=EpochBatchSampler(len(ds), 3, seed=1, start_step=start),
                            num_workers=workers)
        return [batch["audio"] for batch in islice(iter(loader), k)]
    a, b = batches(ds0, 0), batches(ds2, 2)
    assert all(x.shape == (3, 1, 1200) and torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(x, y) for x, y in zip(a[4:], batches(ds0, 0, start=4, k=2)))

    batch = next(iter(DataLoader(ds0, batch_sampler=EpochBatchSampler(len(ds0), 4, seed=1))))
    clips, labels = batch["audio"], batch["label"]
    assert clips.shape == (4, 1, 1200) and labels.dtype == torch.int64
    assert all(0 <= int(y) <= 9 for y in labels)


def test_build_dataset_leaves_global_rng_alone(tmp_path):
    """Cold (decoding, with workers) or warm cache: the trainer's dropout stream must not depend on it."""
    root = tmp_path / "audio"
    for i in range(3):
        write(root / f"f{i}.wav", n=500)
    for workers in (2, 0):                       # cold with 2 decode workers, then warm
        state = torch.get_rng_state()
        build_dataset(cfg(root, num_workers=workers), show_progress=False)
        assert torch.equal(torch.get_rng_state(), state), workers


def test_truncated_cache_file_is_a_clear_error(tmp_path):
    root = tmp_path / "audio"
    write(root / "a.wav", n=2000)
    ds = build_dataset(cfg(root), show_progress=False)
    path = Path(ds.waves.paths[0])
    path.write_bytes(path.read_bytes()[:-400])
    with pytest.raises(DatasetError, match="truncated: delete the cache folder"):
        ds[(0, 0)]


# =================================================================== bad audio
def make_bad_and_odd(root: Path) -> dict[str, Path]:
    """Every kind of file the loaders meet: readable odd ones and unreadable ones."""
    p = {}
    p["pcm16_16k"] = write(root / "ok16.wav", n=1600)
    p["stereo"] = write(root / "stereo.wav", n=1600, channels=2)
    p["u8"] = write(root / "u8.wav", n=1600, subtype="PCM_U8")
    p["pcm24"] = write(root / "pcm24.wav", n=1600, subtype="PCM_24")
    p["float"] = write(root / "float.wav", n=1600, subtype="FLOAT", amp=1.5)   # out of range: clipped
    p["44k1"] = write(root / "cd.wav", n=4410, rate=44100, freq=1000.0)
    p["48k"] = write(root / "dat.wav", n=4800, rate=48000, freq=1000.0)
    p["short"] = write(root / "short.wav", n=10)
    full = write(root / "x.wav", n=1000).read_bytes()
    (root / "x.wav").unlink()
    p["truncated"] = root / "truncated.wav"
    p["truncated"].write_bytes(full[:44 + 500])           # cut inside the data: the first 250 samples remain
    p["truncated_header"] = root / "truncated_header.wav"
    p["truncated_header"].write_bytes(full[:30])
    bad = bytearray(full)
    bad[20:36] = b"\xff" * 16
    p["corrupt"] = root / "corrupt.wav"
    p["corrupt"].write_bytes(bytes(bad))
    p["empty"] = root / "empty.wav"
    p["empty"].write_bytes(b"")
    p["text"] = root / "readme.wav"
    p["text"].write_text("this is a text file named .wav\n" * 4)
    p["nan"] = root / "nan.wav"
    sf.write(str(p["nan"]), np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    return p


UNREADABLE = ("truncated_header", "corrupt", "empty", "text", "nan")


def test_bad_audio_converted_or_skipped_with_one_warning(tmp_path, audiodiff_log):
    root = tmp_path / "mixed"
    files = make_bad_and_odd(root)
    ds = build_dataset(cfg(root, clip_length=1600), show_progress=False)
    by_name = {Path(n).name: i for i, n in enumerate(ds.names)}
    assert set(by_name) == {files[k].name for k in files if k not in UNREADABLE}
    warnings = [r.getMessage() for r in audiodiff_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"skipped {len(UNREADABLE)} unreadable file(s) of {len(files)}" in warnings[0]
    for k in UNREADABLE:
        assert files[k].name in warnings[0], k
    ref = torch.from_numpy(tone(1600, 16000))

    def clip(key):
        return ds[(by_name[files[key].name], 0)]["audio"][0]
    for key, tol in [("pcm16_16k", 1 / 32768), ("stereo", 1 / 32768), ("u8", 1 / 128), ("pcm24", 1e-6)]:
        assert torch.allclose(clip(key), ref, atol=tol * 1.01), key
    assert float(clip("float").abs().max()) == 1.0                           # clipped to [−1, 1]
    for key in ("44k1", "48k"):                                              # resampled: 0.1 s → 1600 samples
        assert ds.length(by_name[files[key].name]) == 1600
        spec = np.abs(np.fft.rfft(clip(key).numpy() * np.hanning(1600)))
        assert abs(np.fft.rfftfreq(1600, 1 / 16000)[spec.argmax()] - 1000.0) <= 10.0
    short = clip("short")
    assert short.shape == (1600,) and torch.equal(short[10:], torch.zeros(1590)) and short[:10].abs().max() > 0
    assert ds.length(by_name[files["truncated"].name]) == 250
    assert all(torch.isfinite(ds[(i, 0)]["audio"]).all() for i in range(len(ds)))


@pytest.mark.parametrize("kind", UNREADABLE)
def test_each_unreadable_kind_is_skipped_and_named(tmp_path, kind, audiodiff_log):
    root = tmp_path / "one"
    files = make_bad_and_odd(tmp_path / "all")
    root.mkdir()
    os.replace(files[kind], root / files[kind].name)
    write(root / "good.wav", n=300)
    ds = build_dataset(cfg(root), show_progress=False)
    assert [Path(n).name for n in ds.names] == ["good.wav"]
    warnings = [r.getMessage() for r in audiodiff_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "skipped 1 unreadable file(s) of 2" in warnings[0]
    assert files[kind].name in warnings[0]


def test_nothing_usable_is_one_line_error(tmp_path):
    files = make_bad_and_odd(tmp_path / "all")
    root = tmp_path / "bad"
    root.mkdir()
    for k in UNREADABLE:
        os.replace(files[k], root / files[k].name)
    with pytest.raises(DatasetError) as info:
        build_dataset(cfg(root), show_progress=False)
    msg = str(info.value)
    assert f"none of the {len(UNREADABLE)} audio files under {root} could be decoded" in msg and "\n" not in msg
