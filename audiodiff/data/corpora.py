"""The corpora the recipe's `[data] dataset` names: one `Corpus` record per dataset in `CORPORA`.

A record says how to find the corpus's folder under `[data] root`, how to list its files (per split, with
labels / transcripts), its standard archive (URL, file name, SHA-256, size) and whether it has splits and a
download.  Adding a dataset is one record plus its lister.

- `folder`: every audio file under `root` (recursive), or the files a `file_list` names.
- `classes`: one folder per class under `root` (`<class>/<file>.wav`, e.g. a sample pack's kick/ snare/ …), the
  folder name as label; `[data] classes` fixes their order, `skip_classes` leaves folders out.
- `notes`: the quickstart's synthetic plucked notes, generated as WAV files on first use.
- `speechcommands`: SC09, the digits zero … nine of Google Speech Commands v0.02, with the official
  validation / testing lists as splits and the digit as label.
- `ljspeech`: LJSpeech-1.1 (wavs/ + metadata.csv), with its transcripts.
- `gtzan`: GTZAN music genres (10 × 100 clips of 30 s), with the genre as label.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..audio import AUDIO_EXTENSIONS
from .notes import generate_notes

# Sun .au is what the original GTZAN archive holds; libsndfile reads it.
DATA_EXTENSIONS = tuple(dict.fromkeys(AUDIO_EXTENSIONS + (".au",)))
CACHE_DIRNAME = ".audiodiff-cache"
SPLITS = ("train", "valid", "test")

SC09_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

SPEECHCOMMANDS_URL = "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
LJSPEECH_URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
GTZAN_ORIGINAL_URL = "http://opihi.cs.uvic.ca/sound/genres.tar.gz"   # offline since 2022; kept for its checksum


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


def list_folder(root: Path, file_list: str = "", key: str = "file_list") -> SourceList:
    """`folder`: every audio file under root, or the files `file_list` names (paths relative to root); `key` is
    the [data] key that gave the list, for messages."""
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
        raise DatasetError(f"[data] {key} {file_list} not found (looked in the working directory and in {root})")
    paths = _list_entries(listing, root, root, set())
    if not paths:
        raise DatasetError(f"[data] {key} {listing} names no files (one path per line, relative to {root})")
    return SourceList([Source(p) for p in paths], f"listed in {listing}")


SPLIT_LIST_KEYS = {"train": "file_list", "valid": "valid_list", "test": "test_list"}


def split_list(data_cfg: Any, split: str) -> str:
    """The file list that holds `split` of a `folder` / `classes` corpus: [data] file_list for train,
    valid_list / test_list for the others ("" when the recipe gives none)."""
    return getattr(data_cfg, SPLIT_LIST_KEYS[split])


def require_split_list(data_cfg: Any) -> str:
    """The file list of [data] split for a `folder` / `classes` corpus ("" for train without one: every file);
    DatasetError naming the key when another split has none."""
    listing = split_list(data_cfg, data_cfg.split)
    if data_cfg.split != "train" and not listing:
        raise DatasetError(f"[data] split = {data_cfg.split!r} needs [data] {SPLIT_LIST_KEYS[data_cfg.split]} = "
                           f"the file list of that split")
    return listing


def list_split_files(root: Path, data_cfg: Any) -> SourceList:
    """`folder`: the files of [data] split's list (split_list), or every audio file under root."""
    return list_folder(root, require_split_list(data_cfg), SPLIT_LIST_KEYS[data_cfg.split])


def list_classes(root: Path, data_cfg: Any) -> SourceList:
    """`classes`: `<class>/<file>` under root, labelled by the class folder.  The split's file list (split_list)
    picks files, else every audio file under root.  [data] classes gives the classes and their label order (else
    the sorted folder names); folders named in skip_classes are left out, any other folder is refused, and so is
    a named class with no files — a silently missing class would shift every label after it."""
    root = Path(root)
    found = list_split_files(root, data_cfg)
    skip = set(data_cfg.skip_classes)
    by_class: dict[str, list[Path]] = {}
    for source in found.sources:
        try:
            parts = source.path.relative_to(root).parts
        except ValueError:
            parts = ()
        if len(parts) < 2:
            raise DatasetError(f"{source.path}: not inside a class folder of {root}; dataset = \"classes\" reads "
                               f"<class>/<file>.wav (move it into its class's folder, or use dataset = \"folder\")")
        if parts[0] not in skip:
            by_class.setdefault(parts[0], []).append(source.path)
    names = list(data_cfg.classes) or sorted(by_class)
    unknown = sorted(set(by_class) - set(names))
    if unknown:
        raise DatasetError(f"{root / unknown[0]}: class folder {unknown[0]!r} is not in [data] classes "
                           f"({', '.join(names)}); add it there, or to [data] skip_classes to leave it out")
    empty = [c for c in names if c not in by_class]
    if empty:
        raise DatasetError(f"{root / empty[0]}: [data] classes names {empty[0]!r} but no audio file of it is "
                           f"{found.where}; add its files, or remove it from [data] classes")
    if not names:
        raise DatasetError(f"no class folders {found.where}: dataset = \"classes\" reads <class>/<file>.wav")
    sources = [Source(path, label=i) for i, name in enumerate(names) for path in by_class[name]]
    where = found.where + (f" ({data_cfg.split} split)" if data_cfg.split != "train" else "")
    return SourceList(sources, where, class_names=names)


def _list_entries(listing: Path, base: Path, root: Path, seen: set[Path]) -> list[Path]:
    """A file list's paths (relative to `base`).  A line `@OTHER.txt` includes another list, its paths relative
    to its own folder (e.g. `@allison-en/16000/train_list.txt` from a speech corpus's split lists); a line with
    * ? or [ is a glob under `base` (e.g. `1s/train/*.wav`); `#` starts a comment."""
    key = listing.resolve()
    if key in seen:
        raise DatasetError(f"[data] file_list {listing} includes itself (through @ lines)")
    seen = seen | {key}
    paths: list[Path] = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("@"):
            inner = base / entry[1:].strip()
            if not inner.is_file():
                raise DatasetError(f"{listing}: included list {inner} not found")
            paths += _list_entries(inner, inner.parent, root, seen)
        elif any(c in entry for c in "*?["):
            matches = sorted(p for p in base.glob(entry) if p.is_file() and CACHE_DIRNAME not in p.parts)
            if not matches:
                raise DatasetError(f"{listing}: {entry!r} matches no file under {base}")
            paths += matches
        else:
            paths.append(base / entry)
    return paths


def _missing(dataset: str, root: Path, layout: str) -> DatasetError:
    """`dataset`'s files are not under root: the layout expected, and how to fetch it (from its record)."""
    corpus = CORPORA[dataset]
    return DatasetError(f"{corpus.title} not found under {root}: expected {layout}. {corpus.fetch_hint(root)}")


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
        raise _missing("speechcommands", root,
                       f"{root}/<word>/<file>.wav (zero/ … nine/) with validation_list.txt and testing_list.txt "
                       f"beside the word folders")

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
        raise _missing("ljspeech", root, f"{root}/LJSpeech-1.1/metadata.csv and {root}/LJSpeech-1.1/wavs/*.wav")
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
        raise _missing("gtzan", root, f"{root}/genres/<genre>/<genre>.000NN.wav (or .au) for the genres "
                                      f"{', '.join(GTZAN_GENRES)}")
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



def list_notes(root: Path, data_cfg: Any, seed: int = 0) -> SourceList:
    """`notes`: the plucked-note WAVs `[data] notes / num_clips` ask for, generated into root unless there."""
    generate_notes(root, data_cfg.notes, data_cfg.sample_rate, data_cfg.clip_length, data_cfg.num_clips, seed=seed)
    return list_folder(root)


# =================================================================== the registry
@dataclass(frozen=True)
class Corpus:
    """Everything audiodiff knows about one `[data] dataset`.

    list_files(root, data_cfg, seed) → its SourceList (the split / file list / notes the [data] table asks
    for).  find(root) → the folder holding it under root, None when absent (only corpora with an archive
    have one).  splits: it has named splits of its own; list_splits: its splits are the recipe's file lists.  url / sha256 / size: its standard archive; `url_offline` when that host is gone (the URL is
    kept for the archive's name and checksum, and download needs [data] url).  last: top-level names
    extracted last, whose presence says the corpus is complete."""
    name: str
    title: str
    list_files: Callable[[Path, Any, int], SourceList]
    find: Callable[[Path], Path | None] | None = None
    splits: bool = False
    list_splits: bool = False      # its splits are file lists ([data] file_list / valid_list / test_list)
    class_names: tuple[str, ...] | None = None
    url: str = ""
    sha256: str = ""
    size: str = ""
    url_offline: bool = False
    last: tuple[str, ...] = ()
    hint: str = ""

    @property
    def downloadable(self) -> bool:
        """Whether `[data] download = true` can fetch it (it has an archive)."""
        return bool(self.url)

    @property
    def archive(self) -> str:
        """The standard archive's file name ("" when it has none)."""
        return archive_name(self.url) if self.url else ""

    @property
    def default_url(self) -> str:
        """The URL download uses without [data] url ("" when it must be given)."""
        return "" if self.url_offline else self.url

    def fetch_hint(self, root: Path) -> str:
        """How to get the corpus into root, for the error that says it is missing."""
        if self.hint:
            return self.hint.format(root=root, url=self.url)
        return (f"Set [data] download = true to fetch it ({self.size}), or download {self.url} and extract it "
                f"into {root}")


def archive_name(url: str) -> str:
    """The file name a URL's archive is saved under (its path's last part)."""
    return Path(urllib.parse.urlparse(url).path).name


CORPORA: dict[str, Corpus] = {c.name: c for c in (
    Corpus("folder", "audio folder", lambda root, d, seed: list_split_files(root, d),
           list_splits=True),
    Corpus("classes", "folder of class folders", lambda root, d, seed: list_classes(root, d),
           list_splits=True),
    Corpus("notes", "generated notes", list_notes),
    Corpus("speechcommands", "Speech Commands", lambda root, d, seed: list_speechcommands(root, d.split),
           find=speechcommands_dir, splits=True, class_names=SC09_WORDS, url=SPEECHCOMMANDS_URL,
           sha256="af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58", size="2.3 GB",
           last=("validation_list.txt", "testing_list.txt")),
    Corpus("ljspeech", "LJSpeech", lambda root, d, seed: list_ljspeech(root, d.split), find=ljspeech_dir,
           splits=True, url=LJSPEECH_URL, sha256="be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
           size="2.6 GB"),
    Corpus("gtzan", "GTZAN", lambda root, d, seed: list_gtzan(root, d.split), find=gtzan_dir, splits=True,
           class_names=GTZAN_GENRES, url=GTZAN_ORIGINAL_URL, url_offline=True, size="1.2 GB",
           sha256="24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
           hint="Its original host ({url}) is offline: get a copy (see recipes/gtzan/README.md) and extract it "
                "into {root}, or set [data] download = true with [data] url = the archive's URL"),
)}

# Datasets with named splits, those whose splits are file lists ([data] file_list / valid_list / test_list; the
# others take split = "train" only), and those with an archive to download.
SPLIT_DATASETS = tuple(name for name, c in CORPORA.items() if c.splits)
LIST_DATASETS = tuple(name for name, c in CORPORA.items() if c.list_splits)
DOWNLOAD_DATASETS = tuple(name for name, c in CORPORA.items() if c.downloadable)

# SHA-256 of the standard archives (the values torchaudio's datasets verify).  Keyed by file name, so a
# mirror serving the same file is verified too.
ARCHIVE_SHA256 = {c.archive: c.sha256 for c in CORPORA.values() if c.sha256}
