"""Downloads against a real HTTP server on 127.0.0.1 (a thread of this test process) that cuts transfers
short, ignores or honours Range requests, answers 404 and serves the wrong bytes; and archive extraction
with crafted archives (refused members, a file member named like an existing folder)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

import audiodiff.data as data
from audiodiff.data import DatasetError, build_dataset
from audiodiff.recipe import RecipeError, recipe_from_dict
from helpers.corpora import cfg, make_speechcommands, plain_tar, tar_of
from helpers.http_server import serving
from helpers.recipes import tiny_recipe_dict


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server (helpers/http_server.py), the proxy variables unset so that the downloads reach it."""
    with serving(monkeypatch) as srv:
        yield srv


def sc(root: Path, url: str, **kw):
    return cfg(root, "speechcommands", download=True, url=url, **kw)


# ----------------------------------------------------------------- truncation, Content-Length, Range
def test_tar_cut_at_a_member_boundary_is_refused_then_resumed(server, tmp_path):
    make_speechcommands(tmp_path / "src")
    payload, boundary = plain_tar(tmp_path / "src")
    # every transfer stops at a member boundary: the .part is a valid, shorter tar each time
    server.payload, server.cut = payload, boundary
    root = tmp_path / "sc"
    with pytest.raises(DatasetError, match=r"was cut short \(\d+ of \d+ bytes after 3 tries\); run the same command "
                                           r"again to resume from .*sc09\.tar\.part"):
        build_dataset(sc(root, f"{server.url}/sc09.tar"), show_progress=False)
    assert [p.name for p in root.iterdir()] == ["sc09.tar.part"]     # nothing extracted, no partial dataset
    assert (root / "sc09.tar.part").read_bytes() == payload[: 3 * boundary]
    assert [r for _, r in server.log] == [None, f"bytes={boundary}-", f"bytes={2 * boundary}-"]
    # the next run resumes from the .part file and completes the dataset
    server.cut, server.log[:] = None, []
    ds = build_dataset(sc(root, f"{server.url}/sc09.tar"), show_progress=False)
    assert server.log == [("/sc09.tar", f"bytes={3 * boundary}-")]
    assert len(ds) == 8 and (root / "validation_list.txt").is_file()
    assert not list(root.glob("*.part")) and not (root / "sc09.tar").exists()


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    make_speechcommands(tmp_path / "src")
    payload, boundary = plain_tar(tmp_path / "src")
    server.payload, server.ranges = payload, False
    part = tmp_path / "dl" / "x.tar.part"
    part.parent.mkdir()
    part.write_bytes(b"X" * boundary)                # left by an earlier transfer (wrong bytes, even)
    data.download_file(f"{server.url}/x.tar", tmp_path / "dl" / "x.tar", show_progress=False)
    assert (tmp_path / "dl" / "x.tar").read_bytes() == payload and not part.exists()
    assert server.log == [("/x.tar", f"bytes={boundary}-")]          # asked to resume, got 200: started over


def test_cut_once_is_resumed_within_the_same_call(server, tmp_path, audiodiff_log):
    payload = bytes(range(256)) * 4000
    server.payload, server.cut = payload, 300_000

    def uncut(path, rng):                             # the first transfer breaks off, the next one completes
        server.cut = None
    server.log = _Hook(server.log, uncut)
    pin = hashlib.sha256(payload).hexdigest()
    data.download_file(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=pin, show_progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == payload
    assert [r for _, r in server.log] == [None, "bytes=300000-"]
    assert any("stopped after 300000 of 1024000 bytes; resuming" in r.getMessage() for r in audiodiff_log.records)


class _Hook(list):
    """A request log that calls `after(path, range)` once, after the first request has been logged."""

    def __init__(self, items, after):
        super().__init__(items)
        self.after = after

    def append(self, item):
        super().append(item)
        if len(self) == 1:
            self.after(*item)


# ----------------------------------------------------------------- HTTP errors, wrong bytes, pinned sha256
def test_404_is_one_line_and_leaves_nothing(server, tmp_path):
    server.status = 404
    root = tmp_path / "sc"
    with pytest.raises(DatasetError, match=r"download of http://127\.0\.0\.1:\d+/sc09\.tar failed \(HTTP Error 404"):
        build_dataset(sc(root, f"{server.url}/sc09.tar"), show_progress=False)
    assert list(root.iterdir()) == []


def test_pinned_sha256_refuses_wrong_bytes_and_accepts_the_right_ones(server, tmp_path):
    make_speechcommands(tmp_path / "src")
    good = tar_of(tmp_path / "src")
    make_speechcommands(tmp_path / "other", n=1200)
    server.payload = tar_of(tmp_path / "other")      # a valid archive, just not the pinned one
    pin = hashlib.sha256(good).hexdigest()
    root = tmp_path / "sc"
    with pytest.raises(DatasetError, match=f"corrupt: sha256 {hashlib.sha256(server.payload).hexdigest()} "
                                           f"instead of {pin}"):
        build_dataset(sc(root, f"{server.url}/mirror.tgz", sha256=pin), show_progress=False)
    assert list(root.iterdir()) == []
    (root / "mirror.tgz").write_bytes(server.payload)     # placed by hand: refused too, and kept
    with pytest.raises(DatasetError, match="not the \\[data\\] sha256 = .* the recipe pins"):
        build_dataset(sc(root, f"{server.url}/mirror.tgz", sha256=pin), show_progress=False)
    assert (root / "mirror.tgz").is_file() and not (root / "zero").exists()
    (root / "mirror.tgz").unlink()
    server.payload = good
    ds = build_dataset(sc(root, f"{server.url}/mirror.tgz", sha256=pin.upper()), show_progress=False)
    assert len(ds) == 8


def test_mirror_with_a_standard_name_but_other_bytes_is_refused(server, tmp_path, monkeypatch):
    """Tightened: this used to be extracted after a warning; now it must match (or be pinned)."""
    make_speechcommands(tmp_path / "src")
    server.payload = tar_of(tmp_path / "src")
    root = tmp_path / "sc"
    with pytest.raises(DatasetError, match="corrupt: sha256 .* pin it with \\[data\\] sha256"):
        build_dataset(sc(root, f"{server.url}/mirror/speech_commands_v0.02.tar.gz"), show_progress=False)
    digest = hashlib.sha256(server.payload).hexdigest()
    ds = build_dataset(sc(root, f"{server.url}/mirror/speech_commands_v0.02.tar.gz", sha256=digest),
                       show_progress=False)
    assert len(ds) == 8


def test_recipe_sha256_must_be_hex(tmp_path):
    raw = tiny_recipe_dict(tmp_path)
    raw["data"].update(dataset="ljspeech", download=True, sha256="abc")
    with pytest.raises(RecipeError, match=r"\[data\] sha256 = 'abc': must be 64 hex digits"):
        recipe_from_dict(raw, source="r")


# ----------------------------------------------------------------- crafted archives
def crafted_tar(path: Path, members: list[tuple[str, bytes | None]]) -> Path:
    """A .tar.gz of (name, bytes) files and (name, None) folders, in that order."""
    with tarfile.open(path, "w:gz") as tf:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if body is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
    return path


@pytest.mark.parametrize("evil", ["../escaped.txt", "/abs/escaped.txt", "ok/../../escaped.txt"])
def test_refused_member_leaves_no_temp_folder(tmp_path, evil):
    archive = crafted_tar(tmp_path / "evil.tar.gz", [("fine.txt", b"ok"), (evil, b"hi")])
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="outside .*refusing to extract it"):
        data.extract_archive(archive, out, show_progress=False)
    assert list(out.iterdir()) == []                     # no .evil.tar.gz.extract.tmp, no fine.txt
    assert not (tmp_path / "escaped.txt").exists()


def test_zip_member_outside_is_refused_without_leftovers(tmp_path):
    import zipfile
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "a")
        zf.writestr("../../z.txt", "z")
    with pytest.raises(DatasetError, match="outside"):
        data.extract_archive(archive, tmp_path / "out", show_progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_file_member_named_like_an_existing_folder_never_deletes_it(tmp_path):
    root = tmp_path / "root"
    (root / "wavs").mkdir(parents=True)
    (root / "wavs" / "mine.wav").write_bytes(b"user data")
    archive = crafted_tar(tmp_path / "a.tar.gz", [("a.txt", b"a"), ("wavs", b"a file, not a folder")])
    with pytest.raises(DatasetError, match=r"the archive holds a file wavs but .*root/wavs is a folder.*nothing was "
                                           r"extracted"):
        data.extract_archive(archive, root, show_progress=False)
    assert (root / "wavs" / "mine.wav").read_bytes() == b"user data"
    assert sorted(p.name for p in root.iterdir()) == ["wavs"]         # not even a.txt, and no temp folder
    # nested, inside a folder that is merged: the same
    (root / "wavs" / "sub").mkdir()
    archive = crafted_tar(tmp_path / "b.tar.gz", [("wavs/", None), ("wavs/new.wav", b"n"), ("wavs/sub", b"x")])
    with pytest.raises(DatasetError, match="holds a file sub but"):
        data.extract_archive(archive, root, show_progress=False)
    assert (root / "wavs" / "sub").is_dir() and not (root / "wavs" / "new.wav").exists()


def test_folder_member_named_like_an_existing_file_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "metadata.csv").write_text("user's")
    archive = crafted_tar(tmp_path / "c.tar.gz", [("metadata.csv/", None), ("metadata.csv/x", b"x")])
    with pytest.raises(DatasetError, match="holds a folder metadata.csv/ but .* is a file"):
        data.extract_archive(archive, root, show_progress=False)
    assert (root / "metadata.csv").read_text() == "user's"


def test_stale_temp_name_that_is_a_symlink_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    archive = crafted_tar(tmp_path / "d.tar.gz", [("f.txt", b"f")])
    (root / f".{archive.name}.extract.tmp").symlink_to(elsewhere, target_is_directory=True)
    data.extract_archive(archive, root, show_progress=False)
    assert (elsewhere / "precious.txt").read_text() == "keep"
    assert sorted(p.name for p in root.iterdir()) == ["f.txt"]
