"""Datasets of fixed-length waveform clips [1, clip_length], float32 in [−1, 1], served as dict items.

    corpora.py   one `Corpus` record per `[data] dataset` in CORPORA: finding, listing (splits, labels),
                 its standard archive (URL, name, SHA-256)
    download.py  resumable checksummed downloads, safe archive extraction, download_dataset
    cache.py     decode + resample every file once into an on-disk .npy cache (CachedWaves, prepare_clips)
    dataset.py   ClipDataset (items {"audio": [1, L], "label": int}) and build_dataset([data] → dataset)
    batches.py   EpochBatchSampler: seeded, resumable batch order (class_balanced_weights: every class as often)
    notes.py     the quickstart's generated plucked notes
    mixing.py    a supervised denoiser's pairs: noise mixed into clean clips on the fly (NoiseMixer, mixer_for);
                 speed perturbation of clean clips (SpeedPerturbation, also a vocoder run's)
    band.py      bandwidth extension's pairs: clean clips made narrow on the fly (BandLimiter, band_limiter_for)
    dropouts.py  gap filling's pairs: a gap cut into each clean clip on the fly, the network's crossfaded input
                 (GapMaker, gap_maker_for, gapped_input, crossfade_fill)
    data_config.py the recipe's [data] table (DataConfig) and its cross-key checks
"""

from .band import BandLimiter, band_limiter_for, narrow_band
from .batches import EpochBatchSampler, class_balanced_weights
from .cache import CACHE_VERSION, CachedWaves, cache_key, prepare_clips
from .data_config import DataConfig, check_data
from .corpora import (ARCHIVE_SHA256, CACHE_DIRNAME, CORPORA, DATA_EXTENSIONS, DOWNLOAD_DATASETS, GTZAN_GENRES,
                      GTZAN_ORIGINAL_URL, LJSPEECH_URL, SC09_WORDS, SPEECHCOMMANDS_URL, SPLIT_DATASETS, SPLITS, Corpus,
                      LIST_DATASETS, list_classes, split_list,
                      DatasetError, Source, SourceList, find_audio_files, gtzan_dir, gtzan_split, hash_split,
                      list_folder, list_gtzan, list_ljspeech, list_notes, list_speechcommands, ljspeech_dir,
                      speechcommands_dir)
from .dataset import ClipDataset, build_dataset, list_sources
from .download import DOWNLOAD_ATTEMPTS, download_dataset, download_file, extract_archive
from .mixing import INPUT_RMS, NoiseMixer, SpeedPerturbation, level_normalise, load_noise, mixer_for
from .notes import QUICKSTART_NOTES, generate_notes

__all__ = [
    "ARCHIVE_SHA256", "BandLimiter", "band_limiter_for", "narrow_band", "CACHE_DIRNAME", "CACHE_VERSION", "CORPORA", "DATA_EXTENSIONS", "DOWNLOAD_ATTEMPTS",
    "DOWNLOAD_DATASETS", "GTZAN_GENRES", "GTZAN_ORIGINAL_URL", "INPUT_RMS", "LJSPEECH_URL", "QUICKSTART_NOTES", "SC09_WORDS",
    "SPEECHCOMMANDS_URL", "SPLITS", "SPLIT_DATASETS", "LIST_DATASETS", "list_classes", "split_list", "CachedWaves", "ClipDataset", "Corpus", "DataConfig",
    "DatasetError", "EpochBatchSampler", "NoiseMixer", "Source", "SpeedPerturbation", "SourceList", "build_dataset", "cache_key", "check_data",
    "class_balanced_weights",
    "download_dataset", "download_file", "extract_archive", "find_audio_files", "generate_notes", "gtzan_dir",
    "gtzan_split", "hash_split", "level_normalise", "list_folder", "list_gtzan", "list_ljspeech", "list_notes", "list_sources",
    "list_speechcommands", "ljspeech_dir", "load_noise", "mixer_for", "prepare_clips", "speechcommands_dir",
]
