"""Dataset items (audiodiff/data/dataset.py): always a dict, {"audio": [1, L]} plus "label" where the corpus
has classes, collated into a dict of tensors; and the consumers that read them."""

from __future__ import annotations

from itertools import islice

import torch
from torch.utils.data import DataLoader

from audiodiff.data import ClipDataset, EpochBatchSampler
from audiodiff.domains import split_item
from audiodiff.features import clip_sample


def waves(count: int = 5, n: int = 300) -> list[torch.Tensor]:
    return [torch.full((n,), float(i) / 10) for i in range(count)]


def test_an_unlabelled_item_is_a_dict_of_audio():
    ds = ClipDataset(waves(), 64, seed=0)
    item = ds[(2, 1)]
    assert set(item) == {"audio"}
    assert item["audio"].shape == (1, 64) and item["audio"].dtype == torch.float32
    assert torch.equal(item["audio"], torch.full((1, 64), 0.2))


def test_a_labelled_item_carries_its_label():
    ds = ClipDataset(waves(), 64, labels=[4, 3, 2, 1, 0], class_names=list("abcde"))
    item = ds[1]
    assert set(item) == {"audio", "label"} and item["label"] == 3 and isinstance(item["label"], int)


def test_batches_collate_to_a_dict_of_tensors():
    labelled = ClipDataset(waves(), 64, labels=[0, 1, 2, 3, 4], class_names=list("abcde"))
    batch = next(iter(DataLoader(labelled, batch_sampler=EpochBatchSampler(5, 3, seed=1))))
    assert set(batch) == {"audio", "label"}
    assert batch["audio"].shape == (3, 1, 64) and batch["label"].shape == (3,) and batch["label"].dtype == torch.int64
    # each label travels with its own clip (clip i is filled with i / 10)
    assert torch.allclose(batch["audio"][:, 0, 0], batch["label"].float() / 10)
    clips, labels = split_item(batch)
    assert clips is batch["audio"] and labels is batch["label"]

    plain = ClipDataset(waves(), 64)
    batches = list(islice(iter(DataLoader(plain, batch_sampler=EpochBatchSampler(5, 2, seed=1))), 2))
    assert all(set(b) == {"audio"} for b in batches)
    clips, labels = split_item(batches[0])
    assert clips.shape == (2, 1, 64) and labels is None


def test_clips_view_serves_the_audio_alone():
    ds = ClipDataset(waves(), 64, labels=[0, 1, 2, 3, 4], class_names=list("abcde"))
    view = ds.clips
    assert len(view) == len(ds)
    assert all(torch.equal(view[i], ds[i]["audio"]) for i in range(len(ds)))
    picked = list(clip_sample(view, 3, seed=0))
    assert len(picked) == 3 and all(c.shape == (1, 64) for c in picked)
