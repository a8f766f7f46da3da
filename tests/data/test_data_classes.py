"""dataset = "classes": a folder of class folders (<class>/<file>.wav, e.g. a drum sample pack) as a labelled
corpus, with its splits from file lists, and its bad layouts refused in one line naming the folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiodiff.data import DataConfig, DatasetError, build_dataset, list_sources
from audiodiff.eval.scorer import split_data


def hit(path: Path, seed: int, rate: int = 16000, n: int = 1600, channels: int = 1, subtype: str = "PCM_16") -> None:
    """A decaying noise hit, as a drum one-shot is."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, channels)) * np.exp(-np.arange(n) / (n / 6))[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), rate, subtype=subtype)


def pack(root: Path) -> Path:
    """root/{kick,snare,unknown}/kit{0,1,2}__x.wav with train_list.txt (kits 0, 1) and test_list.txt (kit 2)."""
    for c, cls in enumerate(("kick", "snare", "unknown")):
        for kit in range(3):
            hit(root / cls / f"kit{kit}__x.wav", 10 * c + kit)
    rel = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))
    (root / "train_list.txt").write_text("".join(f"{r}\n" for r in rel if "kit2" not in r))
    (root / "test_list.txt").write_text("".join(f"{r}\n" for r in rel if "kit2" in r))
    return root


def config(root: Path, **keys) -> DataConfig:
    return DataConfig(**{"dataset": "classes", "root": str(root), "clip_length": 1600, "cache": False, **keys})


def test_labels_follow_the_recipes_class_order_and_splits_follow_the_lists(tmp_path):
    root = pack(tmp_path / "pack")
    data = config(root, classes=["snare", "kick"], skip_classes=["unknown"], file_list="train_list.txt",
                  test_list="test_list.txt")
    train = list_sources(data, show_progress=False)
    assert train.class_names == ["snare", "kick"]
    assert {(s.path.parent.name, s.label) for s in train.sources} == {("snare", 0), ("kick", 1)}
    assert not any("kit2" in s.path.name for s in train.sources) and len(train.sources) == 4
    test = list_sources(split_data(data, "test"), show_progress=False)
    assert sorted(s.path.parent.name for s in test.sources) == ["kick", "snare"]
    assert all("kit2" in s.path.name for s in test.sources)
    assert split_data(data, "valid") is None          # no valid_list: the classifier reports no validation
    ds = build_dataset(data, show_progress=False)
    assert ds.class_names == ["snare", "kick"] and sorted(ds.labels) == [0, 0, 1, 1]


def test_without_a_class_list_every_folder_is_a_class_in_sorted_order(tmp_path):
    root = pack(tmp_path / "pack")
    assert list_sources(config(root), show_progress=False).class_names == ["kick", "snare", "unknown"]


@pytest.mark.parametrize("keys, layout, words", [
    ({"classes": ["kick", "snare"]}, None, ["unknown", "not in [data] classes", "skip_classes"]),
    ({"classes": ["kick", "snare", "clap"], "skip_classes": ["unknown"]}, None, ["clap", "no audio file"]),
    ({}, "loose", ["loose.wav", "not inside a class folder"]),
    ({}, "empty", ["no audio files"]),
])
def test_bad_layouts_are_refused_in_one_line_naming_the_folder(tmp_path, keys, layout, words):
    root = tmp_path / "pack"
    if layout == "empty":
        (root / "kick").mkdir(parents=True)
    else:
        pack(root)
    if layout == "loose":
        hit(root / "loose.wav", 99)
    with pytest.raises(DatasetError) as info:
        list_sources(config(root, **keys), show_progress=False)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_stereo_high_rate_and_24_bit_one_shots_are_read_as_mono_at_the_recipes_rate(tmp_path):
    """A sample pack's usual files (stereo, 96 kHz, 24-bit) train as they are: mixed to mono and resampled."""
    root = tmp_path / "pack"
    hit(root / "kick" / "a.wav", 1, rate=96000, n=9600, channels=2, subtype="PCM_24")
    hit(root / "snare" / "b.wav", 2, rate=44100, n=4410, channels=2, subtype="FLOAT")
    ds = build_dataset(config(root), show_progress=False)
    assert ds.class_names == ["kick", "snare"]
    for i in range(2):
        audio = ds[i]["audio"]
        assert audio.shape == (1, 1600) and float(audio.abs().max()) > 0.05
