"""The corpus registry (audiodiff/data/corpora.py) and the [data] table it feeds (audiodiff/data/data_config.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiodiff.data import (ARCHIVE_SHA256, CORPORA, DOWNLOAD_DATASETS, SPLIT_DATASETS, DataConfig, DatasetError,
                            build_dataset, check_data, list_sources)
from audiodiff.domains import DOMAINS
from audiodiff.options import RecipeError, option_meta
from audiodiff.recipe import recipe_from_dict


def wav(path: Path, n: int = 400, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.3 * np.sin(np.arange(n) / 5)).astype(np.float32), rate)


# One tiny on-disk layout per registered corpus, as its own files are laid out: (the corpus's folder under
# root, or None; the [data] keys it needs).
def folder_layout(root: Path) -> tuple[Path | None, dict]:
    for name in ("a.wav", "sub/b.flac"):
        wav(root / name)
    return None, {}


def classes_layout(root: Path) -> tuple[Path | None, dict]:
    for cls in ("snare", "kick", "unknown"):
        for k in range(2):
            wav(root / cls / f"kit{k}.wav")
    return None, {"classes": ["snare", "kick"], "skip_classes": ["unknown"]}


def notes_layout(root: Path) -> tuple[Path | None, dict]:
    return None, {"notes": [60, 64], "num_clips": 3, "clip_length": 800}   # generated on first use


def speechcommands_layout(root: Path) -> tuple[Path | None, dict]:
    base = root / "SpeechCommands" / "speech_commands_v0.02"
    for word in ("zero", "nine", "yes"):
        for k in range(2):
            wav(base / word / f"s{k}_nohash_0.wav")
    (base / "validation_list.txt").write_text("zero/s1_nohash_0.wav\n")
    (base / "testing_list.txt").write_text("nine/s1_nohash_0.wav\n")
    return base, {}


def ljspeech_layout(root: Path) -> tuple[Path | None, dict]:
    base = root / "LJSpeech-1.1"
    ids = [f"LJ001-{i:04d}" for i in range(60)]      # enough ids for the 98 % train bucket to hold some
    for uid in ids:
        wav(base / "wavs" / f"{uid}.wav", n=200)
    (base / "metadata.csv").write_text("".join(f"{u}|text {u}|text {u}\n" for u in ids), encoding="utf-8")
    return base, {"sample_rate": 16000}


def gtzan_layout(root: Path) -> tuple[Path | None, dict]:
    base = root / "genres"
    for genre in ("blues", "rock"):
        for k in (0, 85):
            wav(base / genre / f"{genre}.{k:05d}.wav")
    return base, {}


LAYOUTS = {"folder": folder_layout, "classes": classes_layout, "notes": notes_layout, "speechcommands": speechcommands_layout,
           "ljspeech": ljspeech_layout, "gtzan": gtzan_layout}


def test_every_registered_corpus_has_a_layout_here():
    """A new record must come with a layout in this file, so the next test lists it."""
    assert set(LAYOUTS) == set(CORPORA)


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_corpus_lister_finds_its_layout(tmp_path, name):
    corpus = CORPORA[name]
    root = tmp_path / name
    root.mkdir()
    base, keys = LAYOUTS[name](root)
    data = DataConfig(dataset=name, root=str(root), **keys)
    if corpus.find is not None:
        assert corpus.find(root) == base
        assert corpus.find(tmp_path / "empty") is None
    sources = list_sources(data, show_progress=False)
    assert sources.sources and all(s.path.is_file() for s in sources.sources)
    names = corpus.class_names or keys.get("classes")    # a corpus's own classes, or the recipe's
    if names is not None:
        assert sources.class_names == list(names)
        assert all(0 <= s.label < len(names) for s in sources.sources)
    else:
        assert sources.class_names is None and all(s.label is None for s in sources.sources)
    ds = build_dataset(data, show_progress=False)
    assert len(ds) == len(sources.sources)
    assert set(ds[0]) == ({"audio", "label"} if names is not None else {"audio"})


@pytest.mark.parametrize("name", sorted(n for n in CORPORA if CORPORA[n].find is not None))
def test_a_missing_corpus_says_how_to_fetch_it(tmp_path, name):
    corpus = CORPORA[name]
    with pytest.raises(DatasetError, match=f"{corpus.title} not found under") as info:
        list_sources(DataConfig(dataset=name, root=str(tmp_path)), show_progress=False)
    assert corpus.url in str(info.value)


def test_the_recipe_schema_reads_the_registry_and_the_domains():
    assert option_meta(DataConfig, "dataset")["choices"] == tuple(CORPORA)
    assert option_meta(DataConfig, "domain")["choices"] == DOMAINS
    assert SPLIT_DATASETS == tuple(n for n, c in CORPORA.items() if c.splits)
    assert DOWNLOAD_DATASETS == tuple(n for n, c in CORPORA.items() if c.url)
    assert ARCHIVE_SHA256 == {c.archive: c.sha256 for c in CORPORA.values() if c.sha256}
    assert CORPORA["speechcommands"].archive == "speech_commands_v0.02.tar.gz"
    assert CORPORA["gtzan"].default_url == "" and CORPORA["ljspeech"].default_url == CORPORA["ljspeech"].url


def test_a_recipe_naming_an_unknown_dataset_lists_the_registry():
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"data": {"dataset": "librispeech"}}, source="r.toml")
    message = str(info.value)
    assert message.startswith("r.toml: [data] dataset = 'librispeech'")
    assert all(name in message for name in CORPORA)


@pytest.mark.parametrize("keys, words", [
    ({"dataset": "folder", "split": "valid"}, ["[data] split = 'valid'", "[data] valid_list"]),
    ({"dataset": "notes", "split": "test"}, ["[data] split = 'test'", *SPLIT_DATASETS]),
    ({"dataset": "ljspeech", "test_list": "t.txt"}, ["[data] test_list", "'folder' or 'classes'"]),
    ({"dataset": "folder", "classes": ["kick"]}, ["[data] classes", "dataset = 'classes'"]),
    ({"dataset": "classes", "classes": ["kick", "kick"]}, ["[data] classes", "'kick' twice"]),
    ({"dataset": "classes", "classes": ["a/b"]}, ["[data] classes", "without '/'"]),
    ({"dataset": "classes", "classes": ["kick"], "skip_classes": ["kick"]}, ["'kick'", "classes and skip_classes"]),
    ({"dataset": "notes", "download": True}, ["[data] download = true", *DOWNLOAD_DATASETS]),
    ({"dataset": "gtzan", "download": True}, ["[data] url", "recipes/gtzan/README.md"]),
    ({"dataset": "folder", "sha256": "abc"}, ["[data] sha256 = 'abc'", "64 hex digits"]),
    ({"dataset": "gtzan", "file_list": "x.txt"}, ["[data] file_list"]),
    ({"dataset": "notes", "notes": [60, 128]}, ["[data] notes", "0..127"]),
])
def test_data_cross_checks_are_the_data_codes_and_the_recipe_names_the_file(keys, words):
    data = DataConfig(**keys)
    with pytest.raises(ValueError) as direct:
        check_data(data)
    assert all(w in str(direct.value) for w in words), direct.value
    with pytest.raises(RecipeError) as via_recipe:
        recipe_from_dict({"data": keys}, source="r.toml")
    assert str(via_recipe.value) == f"r.toml: {direct.value}"


def test_good_data_tables_pass_the_checks():
    for data in (DataConfig(), DataConfig(dataset="speechcommands", split="test", download=True),
                 DataConfig(dataset="gtzan", download=True, url="https://example.org/g.tar.gz", sha256="a" * 64),
                 dataclasses.replace(DataConfig(), file_list="list.txt")):
        check_data(data)


def test_file_list_includes_other_lists_and_globs(tmp_path):
    """`@voice/train_list.txt` includes a corpus's own split list (paths relative to it), `noise/*.wav` globs,
    and a list that includes itself is refused rather than looping."""
    from audiodiff.data.corpora import list_folder

    for voice in ("a", "b"):
        for i in range(3):
            wav(tmp_path / voice / "wavs" / f"{i}.wav")
        (tmp_path / voice / "train_list.txt").write_text("wavs/0.wav\nwavs/1.wav\n")
    for i in range(2):
        wav(tmp_path / "noise" / f"n{i}.wav")
    (tmp_path / "all.txt").write_text("# two voices' train splits and every noise file\n@a/train_list.txt\n"
                                      "@b/train_list.txt\nnoise/*.wav\n")
    names = [s.path.relative_to(tmp_path).as_posix() for s in list_folder(tmp_path, "all.txt").sources]
    assert names == ["a/wavs/0.wav", "a/wavs/1.wav", "b/wavs/0.wav", "b/wavs/1.wav", "noise/n0.wav", "noise/n1.wav"]
    (tmp_path / "loop.txt").write_text("@loop.txt\n")
    with pytest.raises(DatasetError, match="includes itself"):
        list_folder(tmp_path, "loop.txt")
    (tmp_path / "none.txt").write_text("nothing/*.wav\n")
    with pytest.raises(DatasetError, match="matches no file"):
        list_folder(tmp_path, "none.txt")
