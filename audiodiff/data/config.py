"""The recipe's `[data]` table, declared by the data code that reads it: `DataConfig` and its checks.

The dataset choices come from the corpus registry (corpora.CORPORA), the domain choices from
audiodiff.domains.DOMAINS.  `check_data` holds the checks that look at several [data] keys at once;
recipe.py calls it and adds the file name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domains import DOMAINS
from ..options import option
from .corpora import CORPORA, DOWNLOAD_DATASETS, SPLIT_DATASETS, SPLITS
from .notes import QUICKSTART_NOTES


@dataclass
class DataConfig:
    dataset: str = option("folder", choices=tuple(CORPORA), help="the corpus (audiodiff/data/corpora.py)")
    root: str = option("data/my-audio")
    sample_rate: int = option(16000, lo=1000, hi=384000)
    clip_length: int = option(16000, lo=16, hi=2 ** 24)
    num_workers: int = option(0, lo=0, hi=64)
    split: str = option("train", choices=SPLITS,
                        help="speechcommands: the official lists; gtzan: clip numbers; ljspeech: a fixed hash split")
    download: bool = option(False, help="fetch the dataset's archive into root when it is missing")
    url: str = option("", help="archive URL for download; empty = the dataset's standard URL")
    sha256: str = option("", help="the archive's SHA-256 (64 hex digits): a download or archive that differs is "
                                  "refused; empty = check standard archives by name only")
    file_list: str = option("", help="folder: a text file of paths relative to root, one per line")
    cache: bool = option(True, help="keep decoded, resampled clips on disk (.npy) for later epochs and runs")
    cache_dir: str = option("", help="where the cache goes; empty = <root>/.audiodiff-cache")
    # dataset = "notes": synthetic plucked notes generated into `root` on first use
    notes: list = option(QUICKSTART_NOTES)
    num_clips: int = option(512, lo=1)
    domain: str = option("waveform", choices=DOMAINS,
                         help="what the model generates: waveforms, mel spectrograms ([features]), or waveforms "
                              "from a mel (a vocoder)")


def check_data(data: DataConfig) -> None:
    """The [data] keys that only make sense together; ValueError naming the key (the caller adds the file)."""
    corpus = CORPORA[data.dataset]
    if data.dataset == "notes":
        bad = [n for n in data.notes if not isinstance(n, int) or not 0 <= n <= 127]
        if bad or not data.notes:
            raise ValueError("[data] notes must be a non-empty list of MIDI numbers 0..127")
    if data.split != "train" and not corpus.splits:
        raise ValueError(f"[data] split = {data.split!r}: dataset {data.dataset!r} has no splits "
                         f"(only {', '.join(SPLIT_DATASETS)} do); use file_list to pick files")
    if data.download and not corpus.downloadable:
        raise ValueError(f"[data] download = true: dataset {data.dataset!r} has nothing to download "
                         f"(only {', '.join(DOWNLOAD_DATASETS)} do)")
    if data.download and not corpus.default_url and not data.url:
        raise ValueError(f"[data] download = true for {data.dataset} needs [data] url = the archive of a "
                         f"{corpus.title} copy (its original host is offline); see recipes/{data.dataset}/README.md")
    if data.sha256 and not (len(data.sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in data.sha256)):
        raise ValueError(f"[data] sha256 = {data.sha256!r}: must be 64 hex digits (sha256sum's output)")
    if data.file_list and data.dataset != "folder":
        raise ValueError("[data] file_list is only for dataset = 'folder'")
