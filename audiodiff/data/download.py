"""Fetching a corpus: a resumable, checksummed download, and an archive extracted without escaping its folder.

`download_dataset` takes the archive URL, file name and checksum from the corpus's record (corpora.py).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import urllib.error
import zipfile
from pathlib import Path
from typing import Sequence

from ..fetch import fetch_into, open_url
from ..progress import progress
from .corpora import ARCHIVE_SHA256, CORPORA, DatasetError, archive_name

log = logging.getLogger("audiodiff")


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
    corpus = CORPORA.get(dataset)
    url = url or (corpus.default_url if corpus else "")
    if not url:
        raise DatasetError(f"no download URL for dataset {dataset!r}: set [data] url")
    name = archive_name(url) or f"{dataset}.archive"
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
    extract_archive(archive, root, last=corpus.last if corpus else (), show_progress=show_progress)
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

