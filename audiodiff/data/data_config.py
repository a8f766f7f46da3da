"""The recipe's `[data]` table, declared by the data code that reads it: `DataConfig` and its checks.

The dataset choices come from the corpus registry (corpora.CORPORA), the domain choices from
audiodiff.domains.DOMAINS.  `check_data` holds the checks that look at several [data] keys at once;
recipe.py calls it and adds the file name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domains import DOMAINS
from ..options import option
from .corpora import (CORPORA, DOWNLOAD_DATASETS, LIST_DATASETS, SPLIT_DATASETS, SPLIT_LIST_KEYS, SPLITS,
                      require_split_list)
from .notes import QUICKSTART_NOTES


MAX_SHAPING = 0.45   # [data] shaping's bound: below 0.5 the random filters' poles stay inside the unit circle


@dataclass
class DataConfig:
    dataset: str = option("folder", choices=tuple(CORPORA), help="the corpus (audiodiff/data/corpora.py)")
    root: str = option("data/my-audio")
    sample_rate: int = option(16000, lo=1000, hi=384000)
    clip_length: int = option(16000, lo=16, hi=2 ** 24)
    num_workers: int = option(0, lo=0, hi=64)
    split: str = option("train", choices=SPLITS,
                        help="speechcommands: the official lists; gtzan: clip numbers; ljspeech: a fixed hash split; "
                             "folder / classes: file_list, valid_list or test_list")
    download: bool = option(False, help="fetch the dataset's archive into root when it is missing")
    url: str = option("", help="archive URL for download; empty = the dataset's standard URL")
    sha256: str = option("", help="the archive's SHA-256 (64 hex digits): a download or archive that differs is "
                                  "refused; empty = check standard archives by name only")
    file_list: str = option("", help="folder: a text file of paths relative to root, one per line (a line "
                                      "@OTHER.txt includes another list, relative to its folder; globs allowed)")
    valid_list: str = option("", help="folder / classes: the validation split's file list (format of file_list)")
    test_list: str = option("", help="folder / classes: the test split's file list (format of file_list)")
    # dataset = "classes": <class>/<file>.wav under root, the folder name as label
    classes: list = option([], help="classes: the class folders in label order; empty = every folder, sorted")
    skip_classes: list = option([], help="classes: class folders to leave out (e.g. an 'unknown' folder)")
    cache: bool = option(True, help="keep decoded, resampled clips on disk (.npy) for later epochs and runs")
    cache_dir: str = option("", help="where the cache goes; empty = <root>/.audiodiff-cache")
    # dataset = "notes": synthetic plucked notes generated into `root` on first use
    notes: list = option(QUICKSTART_NOTES)
    num_clips: int = option(512, lo=1)
    domain: str = option("waveform", choices=DOMAINS,
                         help="what the model generates: waveforms, mel spectrograms ([features]), waveforms "
                              "from a mel (a vocoder), clean waveforms from noisy ones (a supervised denoiser), "
                              "wide-band waveforms from narrow-band ones (bandwidth extension), or the missing part "
                              "of a waveform with a gap (gap filling)")
    # domain = "denoiser": the clean clips above are mixed on the fly with these noise recordings (data/mixing.py)
    level_rms: float = option(0.0, lo=0, hi=1, help="waveform: every file scaled to this RMS (over the whole file) "
                              "before cropping; 0 keeps the recordings' own levels.  The pipeline brings the "
                              "recordings it denoises / inpaints / extends to the same level")
    noise_root: str = option("", help="denoiser: folder of noise recordings (recursive), mixed into the clean clips")
    noise_file_list: str = option("", help="denoiser: a text file of noise paths relative to noise_root")
    snr_min: float = option(-5.0, lo=-40, hi=60, help="denoiser: lowest SNR of a training mix, dB")
    snr_max: float = option(20.0, lo=-40, hi=60, help="denoiser: highest SNR of a training mix, dB")
    white_share: float = option(0.2, lo=0, hi=1, help="denoiser: share of mixes with white noise instead of a recording")
    speeds: list = option([], help="denoiser and vocoder: each clean clip is played at a speed drawn from this "
                                   "list (pitch and tempo together: more voices from the same speakers), e.g. "
                                   "[0.9, 1.0, 1.1]; [] = as recorded")
    shaping: float = option(0.0, lo=0, hi=MAX_SHAPING, help="denoiser: each clean clip and each noise crop pass "
                            "their own random second-order filter with coefficients drawn in [-shaping, shaping] "
                            "(RNNoise's augmentation: voices and microphones it never heard); 0 = none")
    # domain = "bandwidth": the clean clips above are made narrow on the fly (data/band.py)
    narrow_rate: int = option(8000, lo=1000, hi=384000, help="bandwidth: the rate of the narrow-band recordings "
                                                             "the run extends (8000: telephone speech)")
    highpass_max: float = option(300.0, lo=0, hi=20000, help="bandwidth: training inputs are high-passed at a "
                                                            "cutoff drawn in [0, highpass_max] Hz (telephone "
                                                            "channels cut below 300 Hz)")
    # domain = "gapfill": a dropout is cut into each clean clip on the fly (data/dropouts.py)
    gap_min_ms: float = option(20.0, lo=0.1, hi=60000, help="gapfill: the shortest training gap, ms")
    gap_max_ms: float = option(500.0, lo=0.1, hi=60000, help="gapfill: the longest training gap, ms (lengths are "
                                                            "drawn log-uniformly between the two)")


def check_data(data: DataConfig) -> None:
    """The [data] keys that only make sense together; ValueError naming the key (the caller adds the file)."""
    corpus = CORPORA[data.dataset]
    if data.dataset == "notes":
        bad = [n for n in data.notes if not isinstance(n, int) or not 0 <= n <= 127]
        if bad or not data.notes:
            raise ValueError("[data] notes must be a non-empty list of MIDI numbers 0..127")
    if data.dataset in LIST_DATASETS:
        require_split_list(data)
    elif data.split != "train" and not corpus.splits:
        raise ValueError(f"[data] split = {data.split!r}: dataset {data.dataset!r} has no splits "
                         f"(only {', '.join(SPLIT_DATASETS)} do, and folder / classes with file lists); use "
                         f"file_list to pick files")
    if data.download and not corpus.downloadable:
        raise ValueError(f"[data] download = true: dataset {data.dataset!r} has nothing to download "
                         f"(only {', '.join(DOWNLOAD_DATASETS)} do)")
    if data.download and not corpus.default_url and not data.url:
        raise ValueError(f"[data] download = true for {data.dataset} needs [data] url = the archive of a "
                         f"{corpus.title} copy (its original host is offline); see recipes/{data.dataset}/README.md")
    if data.sha256 and not (len(data.sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in data.sha256)):
        raise ValueError(f"[data] sha256 = {data.sha256!r}: must be 64 hex digits (sha256sum's output)")
    if data.level_rms and data.domain != "waveform":
        raise ValueError(f"[data] level_rms is for waveform priors; domain {data.domain!r} sets its own level "
                         f"(leave level_rms out)")
    for key in SPLIT_LIST_KEYS.values():
        if getattr(data, key) and data.dataset not in LIST_DATASETS:
            raise ValueError(f"[data] {key} is only for dataset = 'folder' or 'classes'")
    if (data.classes or data.skip_classes) and data.dataset != "classes":
        raise ValueError("[data] classes / skip_classes are only for dataset = 'classes' (<class>/<file>.wav)")
    for key in ("classes", "skip_classes"):
        names = getattr(data, key)
        if any(not isinstance(c, str) or not c or "/" in c for c in names):
            raise ValueError(f"[data] {key} must list class folder names (strings without '/')")
        if len(set(names)) != len(names):
            twice = next(c for c in names if names.count(c) > 1)
            raise ValueError(f"[data] {key} names {twice!r} twice")
    both = set(data.classes) & set(data.skip_classes)
    if both:
        raise ValueError(f"[data] {sorted(both)[0]!r} is in both classes and skip_classes")
    if data.domain == "denoiser":
        if not data.noise_root and data.white_share < 1:
            raise ValueError("[data] domain = \"denoiser\" needs [data] noise_root = a folder of noise recordings "
                             "(or white_share = 1 for white noise only)")
        if data.snr_min > data.snr_max:
            raise ValueError(f"[data] snr_min = {data.snr_min} is above snr_max = {data.snr_max}: the SNR range "
                             f"goes from snr_min up to snr_max (dB)")
    elif data.noise_root or data.noise_file_list or data.shaping:
        raise ValueError("[data] noise_root / noise_file_list / shaping are for domain = \"denoiser\" "
                         "(a supervised denoiser)")
    if data.speeds and data.domain not in ("denoiser", "vocoder"):
        raise ValueError(f"[data] speeds are for domain = \"denoiser\" or \"vocoder\", not {data.domain!r}: "
                         f"remove them")
    if any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.5 <= f <= 2 for f in data.speeds):
        raise ValueError(f"[data] speeds = {data.speeds}: speed factors between 0.5 and 2 (1 = as recorded)")
    if data.domain == "bandwidth":
        if not data.narrow_rate < data.sample_rate:
            raise ValueError(f"[data] narrow_rate = {data.narrow_rate} must be below sample_rate = "
                             f"{data.sample_rate}: the run extends narrow recordings to sample_rate")
        if not data.highpass_max < data.narrow_rate / 2:
            raise ValueError(f"[data] highpass_max = {data.highpass_max} Hz must be below half of narrow_rate "
                             f"({data.narrow_rate / 2:g} Hz)")
    if data.domain == "gapfill" and data.gap_min_ms > data.gap_max_ms:
        raise ValueError(f"[data] gap_min_ms = {data.gap_min_ms} is above gap_max_ms = {data.gap_max_ms}: training "
                         f"gaps go from gap_min_ms up to gap_max_ms")
