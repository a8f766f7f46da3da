"""Datasets of fixed-length waveform clips [1, clip_length], float32 in [−1, 1].

Loaders (the recipe's `[data] dataset`), each reading its corpus in the corpus's own layout:

- `folder`: every audio file under `root` (recursive), or the files a `file_list` names.
- `notes`: the quickstart's synthetic plucked notes, generated as WAV files on first use.
- `speechcommands`: SC09, the digits zero … nine of Google Speech Commands v0.02, with the official
  validation / testing lists as splits and the digit as label.
- `ljspeech`: LJSpeech-1.1 (wavs/ + metadata.csv), with its transcripts.
- `gtzan`: GTZAN music genres (10 × 100 clips of 30 s), with the genre as label.

Every file is decoded and resampled once: the result goes to an on-disk cache (one .npy per source file,
under `<root>/.audiodiff-cache/<rate>/` or `[data] cache_dir`), keyed by the source's path, size and
mtime and the target rate, so an edited file or another rate is decoded again and everything else is
read from the cache, one crop at a time.  Unreadable files are skipped and named in one warning.

Randomness (crop offsets, batch order) is a pure function of (seed, epoch, index), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import math
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import zipfile
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import librosa
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from .audio import AUDIO_EXTENSIONS, AudioReadError, crop_or_pad, load_audio, save_wav
from .fetch import fetch_into, open_url
from .progress import progress

log = logging.getLogger("audiodiff")

# Sun .au is what the original GTZAN archive holds; libsndfile reads it.
DATA_EXTENSIONS = tuple(dict.fromkeys(AUDIO_EXTENSIONS + (".au",)))
CACHE_DIRNAME = ".audiodiff-cache"
CACHE_VERSION = 1          # bump when decoding or resampling changes what a cached clip holds

SC09_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

SPEECHCOMMANDS_URL = "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
LJSPEECH_URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
GTZAN_ORIGINAL_URL = "http://opihi.cs.uvic.ca/sound/genres.tar.gz"   # offline since 2022; kept for its checksum

# SHA-256 of the standard archives (the values torchaudio's datasets verify).  Keyed by file name, so a
# mirror serving the same file is verified too.
ARCHIVE_SHA256 = {
    "speech_commands_v0.02.tar.gz": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    "LJSpeech-1.1.tar.bz2": "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
    "genres.tar.gz": "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
}
DEFAULT_URLS = {"speechcommands": SPEECHCOMMANDS_URL, "ljspeech": LJSPEECH_URL}
ARCHIVE_SIZES = {"speechcommands": "2.3 GB", "ljspeech": "2.6 GB", "gtzan": "1.2 GB"}


class DatasetError(ValueError):
    """A dataset that cannot be used: missing, empty, nothing decodable."""


# =================================================================== listing sources
@dataclass
class Source:
    """One audio file of a corpus, with its class label and transcript when the corpus has them."""
    path: Path
    label: int | None = None
    text: str | None = None


@dataclass
class SourceList:
    sources: list[Source]
    where: str                                 # "under data/sc09 (train split)", for messages
    class_names: list[str] | None = None


def find_audio_files(root: Path, extensions: Sequence[str] = DATA_EXTENSIONS) -> list[Path]:
    """Audio files under `root`, recursively, in a stable order (the decode cache is never listed)."""
    root = Path(root)
    depth = len(root.parts)
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in extensions and CACHE_DIRNAME not in p.parts[depth:] and p.is_file())


def list_folder(root: Path, file_list: str = "") -> SourceList:
    """`folder`: every audio file under root, or the files `file_list` names (paths relative to root)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"audio folder {root} does not exist: put .wav/.flac/.ogg files there or set "
                           f"[data] root in the recipe")
    if not file_list:
        files = find_audio_files(root)
        if not files:
            raise DatasetError(f"no audio files (.wav, .flac, .ogg, …) under {root}")
        return SourceList([Source(f) for f in files], f"under {root}")
    listing = Path(file_list)
    if not listing.is_file() and (root / file_list).is_file():
        listing = root / file_list
    if not listing.is_file():
        raise DatasetError(f"[data] file_list {file_list} not found (looked in the working directory and in {root})")
    lines = [ln.strip() for ln in listing.read_text(encoding="utf-8").splitlines()]
    entries = [ln for ln in lines if ln and not ln.startswith("#")]
    if not entries:
        raise DatasetError(f"[data] file_list {listing} names no files (one path per line, relative to {root})")
    return SourceList([Source(root / e) for e in entries], f"listed in {listing}")


def _missing(name: str, root: Path, layout: str, fetch: str) -> DatasetError:
    return DatasetError(f"{name} not found under {root}: expected {layout}. {fetch}")


def speechcommands_dir(root: Path) -> Path | None:
    """The folder holding validation_list.txt / testing_list.txt and the word folders, if present."""
    for cand in (root, root / "SpeechCommands" / "speech_commands_v0.02", root / "speech_commands_v0.02"):
        if (cand / "validation_list.txt").is_file() and (cand / "testing_list.txt").is_file():
            return cand
    return None


def list_speechcommands(root: Path, split: str = "train") -> SourceList:
    """SC09: the digit words of Speech Commands.  valid / test: the official lists; train: every other
    digit clip.  Labels are the digits 0 … 9."""
    base = speechcommands_dir(root)
    if base is None:
        raise _missing("Speech Commands", root,
                       f"{root}/<word>/<file>.wav (zero/ … nine/) with validation_list.txt and testing_list.txt "
                       f"beside the word folders",
                       f"Set [data] download = true to fetch it ({ARCHIVE_SIZES['speechcommands']}), or download "
                       f"{SPEECHCOMMANDS_URL} and extract it into {root}")

    def read_list(name: str) -> list[str]:
        return [ln.strip() for ln in (base / name).read_text().splitlines() if ln.strip()]

    valid, test = read_list("validation_list.txt"), read_list("testing_list.txt")
    label_of = {w: i for i, w in enumerate(SC09_WORDS)}
    if split == "train":
        held_out = set(valid) | set(test)
        rel = [f"{w}/{p.name}" for w in SC09_WORDS if (base / w).is_dir() for p in sorted((base / w).glob("*.wav"))]
        rel = [r for r in rel if r not in held_out]
    else:
        rel = [r for r in (valid if split == "valid" else test) if r.split("/", 1)[0] in label_of]
    if not rel:
        raise DatasetError(f"no digit clips (zero … nine) of the {split} split under {base}")
    sources = [Source(base / r, label=label_of[r.split("/", 1)[0]]) for r in rel]
    return SourceList(sources, f"under {base} ({split} split)", class_names=list(SC09_WORDS))


def ljspeech_dir(root: Path) -> Path | None:
    for cand in (root / "LJSpeech-1.1", root):
        if (cand / "metadata.csv").is_file() and (cand / "wavs").is_dir():
            return cand
    return None


def hash_split(name: str) -> str:
    """A fixed split from a file id alone: 1 % valid, 1 % test, 98 % train (stable across machines)."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 100
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def list_ljspeech(root: Path, split: str = "train") -> SourceList:
    """LJSpeech-1.1: wavs/<id>.wav for every row `id|text|normalized text` of metadata.csv."""
    base = ljspeech_dir(root)
    if base is None:
        raise _missing("LJSpeech", root, f"{root}/LJSpeech-1.1/metadata.csv and {root}/LJSpeech-1.1/wavs/*.wav",
                       f"Set [data] download = true to fetch it ({ARCHIVE_SIZES['ljspeech']}), or download "
                       f"{LJSPEECH_URL} and extract it into {root}")
    sources = []
    for line in (base / "metadata.csv").read_text(encoding="utf-8").splitlines():
        fields = line.rstrip("\r").split("|")
        if not fields[0].strip():
            continue
        uid = fields[0].strip()
        if hash_split(uid) != split:
            continue
        text = fields[2] if len(fields) > 2 and fields[2] else (fields[1] if len(fields) > 1 else "")
        sources.append(Source(base / "wavs" / f"{uid}.wav", text=text))
    if not sources:
        raise DatasetError(f"{base / 'metadata.csv'} lists no clips of the {split} split")
    return SourceList(sources, f"under {base} ({split} split)")


def gtzan_dir(root: Path) -> Path | None:
    for cand in (root / "genres", root / "genres_original", root / "Data" / "genres_original", root):
        if any((cand / g).is_dir() for g in GTZAN_GENRES):
            return cand
    return None


def gtzan_split(number: int) -> str:
    """Clips 0–79 of each genre train, 80–89 valid, 90–99 test."""
    return "train" if number < 80 else "valid" if number < 90 else "test"


def list_gtzan(root: Path, split: str = "train") -> SourceList:
    """GTZAN: <genre>/<genre>.000NN.{wav,au}; label = genre index; split by clip number."""
    base = gtzan_dir(root)
    if base is None:
        raise _missing("GTZAN", root, f"{root}/genres/<genre>/<genre>.000NN.wav (or .au) for the genres "
                                      f"{', '.join(GTZAN_GENRES)}",
                       f"Its original host ({GTZAN_ORIGINAL_URL}) is offline: get a copy (see "
                       f"recipes/gtzan/README.md) and extract it into {root}, or set [data] download = true with "
                       f"[data] url = the archive's URL")
    sources = []
    for label, genre in enumerate(GTZAN_GENRES):
        for p in sorted((base / genre).glob(f"{genre}.*")) if (base / genre).is_dir() else []:
            stem, number = p.stem.rsplit(".", 1) if "." in p.stem else (p.stem, "")
            if p.suffix.lower() in (".wav", ".au") and stem == genre and number.isdigit() \
                    and gtzan_split(int(number)) == split:
                sources.append(Source(p, label=label))
    if not sources:
        raise DatasetError(f"no GTZAN clips of the {split} split under {base}")
    return SourceList(sources, f"under {base} ({split} split)", class_names=list(GTZAN_GENRES))


# =================================================================== download
def _open_url(url: str, headers: dict[str, str] | None = None):
    """The URL opener (tests replace it; nothing else in audiodiff touches the network)."""
    return open_url(url, headers)


DOWNLOAD_ATTEMPTS = 3     # transfers per download_file call; each one resumes the last


def download_file(url: str, dest: Path, sha256: str | None = None, show_progress: bool = True) -> Path:
    """Fetch url into dest atomically (dest.part, then rename); check sha256 when given.

    The bytes received must add up to the Content-Length the server announced.  A transfer cut short is
    resumed from dest.part (an HTTP Range request; from the start when the server ignores ranges), up to
    DOWNLOAD_ATTEMPTS times; after that, or on a network error, dest.part is kept so that running the same
    command again resumes it.  An HTTP error status or a checksum mismatch removes it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s → %s", url, dest)
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            size, total = fetch_into(url, part, _open_url, show_progress, description=f"downloading {dest.name}")
        except urllib.error.HTTPError as exc:
            part.unlink(missing_ok=True)
            raise DatasetError(f"download of {url} failed ({exc}); fetch it by hand and extract it into "
                               f"{dest.parent}") from None
        except (OSError, http.client.HTTPException) as exc:   # URLError, timeouts, a reset connection, disk full
            kept = part.stat().st_size if part.is_file() else 0
            if kept and attempt < DOWNLOAD_ATTEMPTS and not isinstance(exc, urllib.error.URLError):
                log.warning("download of %s broke off after %d bytes (%s); resuming", url, kept, exc)
                continue
            again = f"; the {kept} bytes received are kept in {part}: run the same command again to resume" \
                if kept else f"; fetch it by hand and extract it into {dest.parent}"
            raise DatasetError(f"download of {url} failed ({exc}){again}") from None
        if total is None or size == total:
            break
        if size > total:
            part.unlink(missing_ok=True)
            raise DatasetError(f"download of {url} sent {size} bytes, more than the {total} it announced; "
                               f"try again")
        if attempt < DOWNLOAD_ATTEMPTS:
            log.warning("download of %s stopped after %d of %d bytes; resuming", url, size, total)
    else:
        raise DatasetError(f"download of {url} was cut short ({size} of {total} bytes after {DOWNLOAD_ATTEMPTS} "
                           f"tries); run the same command again to resume from {part}")
    if sha256:
        digest = _sha256(part)
        if digest != sha256.lower():
            part.unlink(missing_ok=True)
            raise DatasetError(f"download of {url} is corrupt: sha256 {digest} instead of {sha256}; try again "
                               f"(or, if you trust that file, pin it with [data] sha256 = \"{digest}\")")
    os.replace(part, dest)
    return dest


def _safe_target(base: Path, name: str) -> Path:
    target = (base / name).resolve()
    if not target.is_relative_to(base.resolve()):
        raise DatasetError(f"archive member {name!r} would be written outside {base}; refusing to extract it")
    return target


def extract_archive(archive: Path, root: Path, last: Sequence[str] = (), show_progress: bool = True) -> None:
    """Unpack a tar (any compression) or zip archive into root: first into a temporary folder beside it,
    then moved into place entry by entry (`last`: top-level names moved at the very end, the files
    whose presence says the dataset is complete)."""
    root = Path(root)
    tmp = root / f".{archive.name}.extract.tmp"
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()                      # never followed: only a folder of our own is removed
    elif tmp.exists():
        shutil.rmtree(tmp)                # left by an interrupted extraction
    tmp.mkdir(parents=True)
    try:
        _extract_into(archive, tmp, show_progress)
        entries = sorted(tmp.iterdir(), key=lambda p: (p.name in last, p.name))
        clash = next((c for c in (_clash(e, root / e.name) for e in entries) if c), None)
        if clash:
            raise DatasetError(f"cannot extract {archive} into {root}: {clash}; move it out of the way and run "
                               f"again (nothing was extracted)")
        for entry in entries:
            _move_into(entry, root / entry.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)    # also after a refused member: no temp folder is left


def _extract_into(archive: Path, tmp: Path, show_progress: bool) -> None:
    """Every file and folder member of the archive into tmp (links and devices are skipped)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in progress(zf.infolist(), total=len(zf.infolist()), description=f"extracting {archive.name}",
                                     enabled=show_progress):
                    _safe_target(tmp, info.filename)
                    zf.extract(info, tmp)
        else:
            with tarfile.open(archive, "r:*") as tf:
                for member in progress(tf, description=f"extracting {archive.name}", enabled=show_progress):
                    if not (member.isfile() or member.isdir()):
                        continue               # links and devices: none in these corpora
                    _safe_target(tmp, member.name)
                    if hasattr(tarfile, "data_filter"):
                        tf.extract(member, tmp, filter="data")
                    else:  # pragma: no cover - Python without extraction filters
                        tf.extract(member, tmp)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DatasetError(f"cannot extract {archive} ({exc}); delete it and download again") from None


def _clash(src: Path, dst: Path) -> str | None:
    """Where moving the extracted entry src onto dst would have to replace a folder by a file or a file
    by a folder (which would delete what the archive did not create), described; else None."""
    if not os.path.lexists(dst):
        return None
    if src.is_dir():
        if not dst.is_dir():
            return f"the archive holds a folder {dst.name}/ but {dst} is a file"
        return next((c for c in (_clash(child, dst / child.name) for child in sorted(src.iterdir())) if c), None)
    if dst.is_dir():
        return f"the archive holds a file {dst.name} but {dst} is a folder"
    return None


def _move_into(src: Path, dst: Path) -> None:
    """os.replace, merging into an existing folder (left by an interrupted extraction); a file replaces
    a file of the same name.  `_clash` has ruled out file-versus-folder replacements beforehand."""
    if dst.is_dir() and src.is_dir():
        for child in sorted(src.iterdir()):
            _move_into(child, dst / child.name)
        src.rmdir()
    elif dst.is_dir():
        raise DatasetError(f"refusing to replace the folder {dst} by a file of the archive")
    else:
        os.replace(src, dst)


def download_dataset(dataset: str, root: str | Path, url: str = "", show_progress: bool = True,
                     sha256: str = "") -> Path:
    """Download and extract `dataset`'s archive into root (unless its files are already there).

    sha256 ([data] sha256): the archive's pinned digest; a download or an archive already in root that
    differs is refused.  Without a pin, an archive whose file name is a standard one (ARCHIVE_SHA256) must
    have the standard digest, whichever URL it came from (a mirror included); any other archive is used
    with its digest logged, so that it can be pinned."""
    root = Path(root)
    url = url or DEFAULT_URLS.get(dataset, "")
    if not url:
        raise DatasetError(f"no download URL for dataset {dataset!r}: set [data] url")
    name = Path(urllib.parse.urlparse(url).path).name or f"{dataset}.archive"
    pinned = sha256.lower() or None
    known = ARCHIVE_SHA256.get(name)
    expected = pinned or known
    archive = root / name
    downloaded = not archive.is_file()
    if downloaded:
        download_file(url, archive, sha256=expected, show_progress=show_progress)
    else:
        log.info("using %s, already in %s", name, root)
    if not (downloaded and expected):
        digest = _sha256(archive)
        if pinned and digest != pinned:
            raise DatasetError(f"{archive} has sha256 {digest}, not the [data] sha256 = {pinned} the recipe pins: "
                               f"delete it and try again, or correct the pin")
        elif pinned:
            log.info("%s matches the pinned sha256", name)
        elif known and digest == known:
            log.info("%s matches the sha256 of the standard %s archive", name, dataset)
        elif known:
            raise DatasetError(f"{archive} is not the standard {dataset} archive (sha256 {digest} instead of "
                               f"{known}): delete it and try again, or pin this file with [data] sha256 = "
                               f"\"{digest}\"")
        else:
            log.warning("%s: sha256 %s (not a known archive; unverified: pin it with [data] sha256 = \"%s\")",
                        archive, digest, digest)
    last = ("validation_list.txt", "testing_list.txt") if dataset == "speechcommands" else ()
    extract_archive(archive, root, last=last, show_progress=show_progress)
    if downloaded:
        archive.unlink()
    log.info("%s extracted into %s%s", name, root, " (archive removed)" if downloaded else "")
    return root


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


LISTERS = {"speechcommands": (list_speechcommands, speechcommands_dir),
           "ljspeech": (list_ljspeech, ljspeech_dir),
           "gtzan": (list_gtzan, gtzan_dir)}


def list_sources(data_cfg: Any, seed: int = 0, show_progress: bool = True) -> SourceList:
    """A recipe's [data] table → the files of its dataset and split (downloading or generating them first)."""
    root = Path(data_cfg.root)
    kind = data_cfg.dataset
    if kind == "notes":
        generate_notes(root, data_cfg.notes, data_cfg.sample_rate, data_cfg.clip_length, data_cfg.num_clips,
                       seed=seed)
        return list_folder(root)
    if kind == "folder":
        return list_folder(root, getattr(data_cfg, "file_list", ""))
    if kind not in LISTERS:
        raise DatasetError(f"unknown dataset {kind!r}: choose folder, notes, {', '.join(LISTERS)}")
    lister, present = LISTERS[kind]
    if present(root) is None and getattr(data_cfg, "download", False):
        url = getattr(data_cfg, "url", "") or DEFAULT_URLS.get(kind, "")
        download_dataset(kind, root, url=url, show_progress=show_progress, sha256=getattr(data_cfg, "sha256", ""))
        if present(root) is None:
            raise DatasetError(f"the archive from {url} does not hold the {kind} layout (see the error without "
                               f"download); its files were extracted into {root}")
    return lister(root, getattr(data_cfg, "split", "train"))


# =================================================================== decode once, cache on disk
def cache_key(path: Path, size: int, mtime_ns: int, sample_rate: int) -> str:
    """<hash of the source's path>-<hash of its size, mtime, the target rate and the cache version>"""
    who = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]
    what = hashlib.sha1(f"{size}:{mtime_ns}:{sample_rate}:{CACHE_VERSION}".encode()).hexdigest()[:12]
    return f"{who}-{what}"


def _cache_index(rate_dir: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Cache entries `<key>-<samples>.npy` in one folder → ({key: samples}, {path hash: file names});
    one listing, no file opened."""
    index, by_source = {}, {}
    for name in os.listdir(rate_dir):
        parts = name[:-4].split("-") if name.endswith(".npy") else ()
        if len(parts) == 3 and parts[2].isdigit():
            index[f"{parts[0]}-{parts[1]}"] = int(parts[2])
            by_source.setdefault(parts[0], []).append(name)
    return index, by_source


def _write_npy(target: Path, wave: np.ndarray) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    buf = io.BytesIO()     # np.save to a real file reports a full disk as a short write without errno
    np.save(buf, np.ascontiguousarray(wave, dtype="<f4"))
    try:
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _InMemory(NamedTuple):
    """A decoded clip the cache could not take (disk full, file size limit): kept in memory, and why."""
    wave: np.ndarray
    reason: str


class _Decode(Dataset):
    """Item i: decode file i, then write it to the cache (rate_dir given) or return it.  Run through a
    DataLoader so that decoding uses the recipe's workers.  Returns (ok, cache path | array | _InMemory
    (the cache write failed) | message, length)."""

    def __init__(self, paths: list[Path], keys: list[str], stale: list[list[str]], sample_rate: int,
                 rate_dir: Path | None):
        self.paths, self.keys, self.stale, self.sample_rate, self.rate_dir = paths, keys, stale, sample_rate, rate_dir

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[bool, Any, int]:
        try:
            wave = load_audio(self.paths[i], self.sample_rate)[0].numpy()
        except AudioReadError as exc:
            return False, str(exc), 0
        if self.rate_dir is None:
            return True, wave, int(wave.shape[0])
        target = self.rate_dir / f"{self.keys[i]}-{wave.shape[0]}.npy"
        try:
            _write_npy(target, wave)
        except OSError as exc:      # ENOSPC, EDQUOT, EFBIG: build_dataset falls back to memory
            return True, _InMemory(wave, exc.strerror or str(exc)), int(wave.shape[0])
        for name in self.stale[i]:         # older versions of the same source file
            if name != target.name:
                (self.rate_dir / name).unlink(missing_ok=True)
        return True, str(target), int(wave.shape[0])


def _first(item):
    return item


def _usable_cache_root(cache_root: Path, sample_rate: int) -> Path | None:
    try:
        (cache_root / str(sample_rate)).mkdir(parents=True, exist_ok=True)
        probe = cache_root / str(sample_rate) / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return cache_root
    except OSError as exc:
        log.warning("cannot write the audio cache in %s (%s): decoding into memory instead; set [data] cache_dir "
                    "to a writable folder", cache_root, exc.strerror or exc)
        return None


class CachedWaves(SequenceABC):
    """Cached clips: their .npy paths and lengths (cheap to send to workers); `[i]` memory-maps clip i,
    `read` fetches one crop."""

    def __init__(self, paths: Sequence[str], lengths: Sequence[int]):
        self.paths, self.lengths = list(paths), list(lengths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.load(self.paths[i], mmap_mode="r")

    def read(self, i: int, start: int, size: int) -> np.ndarray:
        """Samples [start, start + size) of clip i (fewer at the end): the .npy header's length from its
        first bytes, one seek, one read.  About 5× faster than np.load, which parses the header."""
        n = self.lengths[i]
        count = max(0, min(size, n - start))
        buf = bytearray(4 * count)
        with open(self.paths[i], "rb") as f:
            head = f.read(12)
            if head[:6] != b"\x93NUMPY" or len(head) < 12:
                raise DatasetError(f"cache file {self.paths[i]} is damaged: delete the cache folder to rebuild it")
            offset = 10 + int.from_bytes(head[8:10], "little") if head[6] == 1 else \
                12 + int.from_bytes(head[8:12], "little")
            if os.fstat(f.fileno()).st_size != offset + 4 * n:
                raise DatasetError(f"cache file {self.paths[i]} is truncated: delete the cache folder to rebuild it")
            f.seek(offset + 4 * start)
            f.readinto(buf)
        return np.frombuffer(buf, dtype="<f4")


class ClipDataset(Dataset):
    """Mono waveforms (tensors in memory, or cached arrays on disk) served as random crops / zero-padded
    clips [1, clip_length].

    `labels` (class index per clip) and `class_names` are None when the corpus has no classes; with
    `return_labels` True an item is (clip, label) instead of clip.
    """

    def __init__(self, waves: Sequence[Tensor] | CachedWaves, clip_length: int, seed: int = 0,
                 random_crop: bool = True, labels: list[int] | None = None, class_names: list[str] | None = None,
                 names: list[str] | None = None, texts: list[str] | None = None):
        if not len(waves):
            raise DatasetError("the dataset holds no audio")
        self.waves = waves if isinstance(waves, CachedWaves) else list(waves)
        self.clip_length = clip_length
        self.seed = seed
        self.random_crop = random_crop
        self.labels = labels
        self.class_names = class_names
        self.names = names           # source file of each clip, for messages
        self.texts = texts           # transcripts (LJSpeech)
        self.return_labels = False

    def __len__(self) -> int:
        return len(self.waves)

    def length(self, index: int) -> int:
        """Samples in clip `index` before cropping / padding."""
        if isinstance(self.waves, CachedWaves):
            return self.waves.lengths[index]
        return int(self.waves[index].shape[-1])

    def __getitem__(self, key: int | tuple[int, int]) -> Tensor | tuple[Tensor, int]:
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
        if self.return_labels:
            return clip, (self.labels[index] if self.labels is not None else -1)
        return clip


def prepare_clips(sources: SourceList, sample_rate: int, cache_root: Path | None, num_workers: int = 0,
                  show_progress: bool = True) -> tuple[list[int], list[Any], list[int], list[str], int]:
    """Find every source in the cache or decode it (with `num_workers` DataLoader workers).

    Returns (kept source indices, payloads (cache paths, or arrays without a cache), lengths, messages of
    unusable files, how many of the kept ones were decoded now)."""
    rate_dir = cache_root / str(sample_rate) if cache_root is not None else None
    index, by_source = _cache_index(rate_dir) if rate_dir is not None else ({}, {})
    found: dict[int, tuple[bool, Any, int]] = {}
    todo, keys, stale = [], [], []
    for i, src in enumerate(sources.sources):
        try:
            st = src.path.stat()
        except OSError:
            found[i] = (False, f"{src.path}: file not found", 0)
            continue
        key = cache_key(src.path, st.st_size, st.st_mtime_ns, sample_rate) if rate_dir is not None else ""
        if key in index:
            found[i] = (True, str(rate_dir / f"{key}-{index[key]}.npy"), index[key])
        else:
            todo.append(i)
            keys.append(key)
            stale.append(by_source.get(key.split("-")[0], []))
    decoded = 0
    if todo:
        loader = DataLoader(_Decode([sources.sources[i].path for i in todo], keys, stale, sample_rate, rate_dir),
                            batch_size=None, shuffle=False, num_workers=min(num_workers, len(todo)),
                            collate_fn=_first, generator=torch.Generator())   # leaves the global RNG alone
        description = "decoding audio" if rate_dir is None else "decoding audio into the cache"
        for i, result in zip(todo, progress(loader, total=len(todo), description=description, enabled=show_progress)):
            found[i] = result
            decoded += result[0]
    kept, payloads, lengths, bad = [], [], [], []
    for i in range(len(sources.sources)):
        ok, payload, length = found[i]
        if ok:
            kept.append(i)
            payloads.append(payload)
            lengths.append(length)
        else:
            bad.append(payload)
    return kept, payloads, lengths, bad, decoded


def _report_bad(bad: list[str], total: int) -> None:
    if bad:
        shown = "; ".join(bad[:10]) + (f"; … and {len(bad) - 10} more" if len(bad) > 10 else "")
        log.warning("skipped %d unreadable file(s) of %d: %s", len(bad), total, shown)


def build_dataset(data_cfg: Any, seed: int = 0, show_progress: bool = True) -> ClipDataset:
    """A recipe's [data] table → ClipDataset of its dataset and split.

    Downloads (download = true) or generates (notes) the corpus if needed, decodes every file once into
    the on-disk cache (cache = true, the default) and memory-maps it from then on.
    """
    sources = list_sources(data_cfg, seed=seed, show_progress=show_progress)
    rate = int(data_cfg.sample_rate)
    cache_root = None
    if getattr(data_cfg, "cache", True):
        cache_dir = getattr(data_cfg, "cache_dir", "") or Path(data_cfg.root) / CACHE_DIRNAME
        cache_root = _usable_cache_root(Path(cache_dir), rate)
    total = len(sources.sources)
    kept, payloads, lengths, bad, decoded = prepare_clips(
        sources, rate, cache_root, num_workers=getattr(data_cfg, "num_workers", 0), show_progress=show_progress)
    _report_bad(bad, total)
    if not kept:
        first = f" (first: {bad[0]})" if bad else ""
        raise DatasetError(f"none of the {total} audio files {sources.where} could be decoded{first}")
    spilled = next((p for p in payloads if isinstance(p, _InMemory)), None)
    if spilled is not None:
        log.warning("cannot write the audio cache in %s (%s): keeping the decoded audio in memory instead; free "
                    "some space or set [data] cache_dir to another disk", cache_root / str(rate), spilled.reason)
        payloads = [p.wave if isinstance(p, _InMemory) else np.load(p) for p in payloads]
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
                       names=[str(s.path) for s in chosen], texts=texts)


# =================================================================== generated notes
def generate_notes(root: str | Path, notes: Sequence[int], sample_rate: int, clip_length: int, num_clips: int,
                   seed: int = 0) -> Path:
    """Write `num_clips` plucked-note WAVs (MIDI `notes`, cycled) into root unless already complete.

    Each clip: a fundamental with weaker 2nd and 3rd harmonics, a 5 ms attack and exponential decay,
    random phase and level.  The fundamental is always the strongest partial.
    """
    root = Path(root)
    marker = root / ".complete"
    stamp = f"{list(notes)} {sample_rate} {clip_length} {num_clips} {seed}"
    if marker.is_file() and marker.read_text() == stamp:
        return root
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("note_*.wav"):
        old.unlink()
    rng = np.random.default_rng(seed)
    t = np.arange(clip_length) / sample_rate
    attack = np.clip(t / 0.005, 0, 1)
    for i in range(num_clips):
        midi = int(notes[i % len(notes)])
        f0 = float(librosa.midi_to_hz(midi))
        decay = np.exp(-t / rng.uniform(0.15, 0.4) / (clip_length / sample_rate))
        phases = rng.uniform(0, 2 * np.pi, 3)
        wave = sum(a * np.sin(2 * np.pi * k * f0 * t + p) for k, a, p in zip((1, 2, 3), (1.0, 0.35, 0.15), phases))
        wave = wave * attack * decay
        wave *= rng.uniform(0.5, 0.9) / np.abs(wave).max()
        save_wav(root / f"note_{i:04d}_midi{midi}.wav", wave.astype(np.float32), sample_rate)
    marker.write_text(stamp)
    return root


# =================================================================== batch order
class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (index, epoch) keys from a fresh permutation each epoch (seeded by seed + epoch).

    Step s is batch s mod n of epoch s // n, so starting at `start_step` resumes exactly.  With
    `world_size` > 1 each rank takes its own slice of every global batch.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int = 0, start_step: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.n = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = max(1, dataset_size // batch_size)

    def __len__(self) -> int:  # endless; DataLoader only needs it for progress display
        return 2 ** 62

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            epoch, pos = divmod(step, self.batches_per_epoch)
            if pos == 0 or step == self.start_step:
                g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
                perm = torch.randperm(self.n, generator=g)
                if self.n < self.batch_size:  # tiny datasets: repeat to fill a batch
                    perm = perm.repeat(math.ceil(self.batch_size / self.n))[: self.batch_size]
            batch = perm[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()
            per_rank = len(batch) // self.world_size
            yield [(i, epoch) for i in batch[self.rank * per_rank:(self.rank + 1) * per_rank]]
            step += 1
