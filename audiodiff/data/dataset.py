"""The dataset a recipe's [data] table names: its files listed (downloaded or generated first), decoded once
into the cache, and served as fixed-length clips [1, clip_length], float32 in [−1, 1], in dict items.

Randomness (crop offsets) is a pure function of (seed, epoch, index), so a resumed run sees exactly the clips
an uninterrupted one would.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..audio import crop_or_pad
from .cache import CachedWaves, InMemory, prepare_clips, report_unreadable, usable_cache_root
from .data_config import DataConfig
from .corpora import CACHE_DIRNAME, CORPORA, DatasetError, SourceList
from .download import download_dataset

log = logging.getLogger("audiodiff")


class ClipDataset(Dataset):
    """Mono waveforms (tensors in memory, or cached arrays on disk) served as random crops / zero-padded
    clips [1, clip_length].

    Every item is a dict: {"audio": Tensor [1, clip_length]}, plus "label": int (the class index) when the
    corpus has classes.  `labels` (class index per clip) and `class_names` are None when it has none.  A
    DataLoader collates items into {"audio": [B, 1, clip_length], "label": [B] int64}.
    """

    def __init__(self, waves: Sequence[Tensor] | CachedWaves, clip_length: int, seed: int = 0,
                 random_crop: bool = True, labels: list[int] | None = None, class_names: list[str] | None = None,
                 names: list[str] | None = None, texts: list[str] | None = None, level_rms: float = 0.0):
        if not len(waves):
            raise DatasetError("the dataset holds no audio")
        self.waves = waves if isinstance(waves, CachedWaves) else list(waves)
        self.gains = file_gains(self.waves, level_rms) if level_rms > 0 else None
        self.clip_length = clip_length
        self.seed = seed
        self.random_crop = random_crop
        self.labels = labels
        self.class_names = class_names
        self.names = names           # source file of each clip, for messages
        self.texts = texts           # transcripts (LJSpeech)

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def clips(self) -> ClipView:
        """The items' "audio" alone, as a sequence of tensors [1, clip_length] (for code that reads clips only:
        mel statistics, previews)."""
        return ClipView(self)

    def length(self, index: int) -> int:
        """Samples in clip `index` before cropping / padding."""
        if isinstance(self.waves, CachedWaves):
            return self.waves.lengths[index]
        return int(self.waves[index].shape[-1])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """key: an index, or (index, epoch) so each epoch crops differently yet reproducibly."""
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
        if isinstance(self.waves, CachedWaves):
            n, size = self.waves.lengths[index], self.clip_length
            # the same draw crop_or_pad makes, so cached and in-memory datasets give identical clips
            start = int(torch.randint(0, n - size + 1, (1,), generator=g)) if n > size and self.random_crop else 0
            segment = torch.from_numpy(self.waves.read(index, start, size))
            clip = torch.nn.functional.pad(segment, (0, size - segment.shape[0]))[None]
        else:
            clip = crop_or_pad(self.waves[index], self.clip_length, generator=g, random=self.random_crop)[None]
        if self.gains is not None:
            clip = clip * self.gains[index]
        if self.labels is None:
            return {"audio": clip}
        return {"audio": clip, "label": self.labels[index]}


SILENT_RMS = 1e-4   # a file quieter than this (−80 dBFS) is scaled as if it had this RMS: silence stays near silent


def file_gains(waves: Sequence[Tensor] | CachedWaves, level_rms: float) -> list[float]:
    """The gain that brings each whole file to RMS `level_rms` ([data] level_rms): files keep their own dynamics
    (pauses stay quiet), and the corpus sits at one level, the level the pipeline brings its inputs to."""
    gains = []
    for i in range(len(waves)):
        wave = torch.from_numpy(waves.read(i, 0, waves.lengths[i])) if isinstance(waves, CachedWaves) else waves[i]
        rms = float(wave.double().pow(2).mean().sqrt()) if wave.numel() else 0.0
        gains.append(level_rms / max(rms, SILENT_RMS))
    return gains


class ClipView(SequenceABC):
    """`dataset.clips`: item i's "audio" [1, clip_length] (epoch 0's crop)."""

    def __init__(self, dataset: ClipDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Tensor:
        return self.dataset[i]["audio"]


def list_sources(data_cfg: DataConfig, seed: int = 0, show_progress: bool = True) -> SourceList:
    """A recipe's [data] table → the files of its dataset and split (downloading or generating them first)."""
    root = Path(data_cfg.root)
    kind = data_cfg.dataset
    if kind not in CORPORA:
        raise DatasetError(f"unknown dataset {kind!r}: choose {', '.join(CORPORA)}")
    corpus = CORPORA[kind]
    if data_cfg.download and corpus.find is not None and corpus.find(root) is None:
        url = data_cfg.url or corpus.default_url
        download_dataset(kind, root, url=url, show_progress=show_progress, sha256=data_cfg.sha256)
        if corpus.find(root) is None:
            raise DatasetError(f"the archive from {url} does not hold the {kind} layout (see the error without "
                               f"download); its files were extracted into {root}")
    return corpus.list_files(root, data_cfg, seed)


def build_dataset(data_cfg: DataConfig, seed: int = 0, show_progress: bool = True) -> ClipDataset:
    """A recipe's [data] table → ClipDataset of its dataset and split.

    Downloads (download = true) or generates (notes) the corpus if needed, decodes every file once into
    the on-disk cache (cache = true, the default) and memory-maps it from then on.
    """
    sources = list_sources(data_cfg, seed=seed, show_progress=show_progress)
    rate = int(data_cfg.sample_rate)
    cache_root = None
    if data_cfg.cache:
        cache_dir = data_cfg.cache_dir or Path(data_cfg.root) / CACHE_DIRNAME
        cache_root = usable_cache_root(Path(cache_dir), rate)
    total = len(sources.sources)
    kept, payloads, lengths, bad, decoded = prepare_clips(
        sources, rate, cache_root, num_workers=data_cfg.num_workers, show_progress=show_progress)
    report_unreadable(bad, total)
    if not kept:
        first = f" (first: {bad[0]})" if bad else ""
        raise DatasetError(f"none of the {total} audio files {sources.where} could be decoded{first}")
    spilled = next((p for p in payloads if isinstance(p, InMemory)), None)
    if spilled is not None:
        log.warning("cannot write the audio cache in %s (%s): keeping the decoded audio in memory instead; free "
                    "some space or set [data] cache_dir to another disk", cache_root / str(rate), spilled.reason)
        payloads = [p.wave if isinstance(p, InMemory) else np.load(p) for p in payloads]
        cache_root = None
    chosen = [sources.sources[i] for i in kept]
    waves = CachedWaves(payloads, lengths) if cache_root is not None else [torch.from_numpy(w) for w in payloads]
    labels = [s.label for s in chosen] if sources.class_names is not None else None
    texts = [s.text or "" for s in chosen] if any(s.text is not None for s in chosen) else None
    clip_length = int(data_cfg.clip_length)
    short = sum(n < clip_length for n in lengths)
    where = f"cache {cache_root / str(rate)}" if cache_root is not None else "memory"
    log.info("%s: %d clips %s at %d Hz (%d decoded now, %d from the %s)%s", data_cfg.dataset, len(kept),
             sources.where, rate, decoded, len(kept) - decoded, where,
             f"; {short} shorter than clip_length {clip_length} are zero-padded" if short else "")
    return ClipDataset(waves, clip_length, seed=seed, labels=labels, class_names=sources.class_names,
                       names=[str(s.path) for s in chosen], texts=texts, level_rms=float(data_cfg.level_rms))
