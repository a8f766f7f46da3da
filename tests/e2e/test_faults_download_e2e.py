"""Downloads end to end through `audiodiff train`, against a real HTTP server on 127.0.0.1 (a thread of this test
process, tests/helpers/http_server.py): a truncated download is one line, and Ctrl-C while the dataset downloads keeps
the .part file only when it holds bytes.  (The downloader's own faults are checked in
tests/data/test_faults_download.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from audiodiff.fetch import CHUNK
from helpers.cli import last_line, run_cli
from helpers.corpora import make_speechcommands, plain_tar
from helpers.http_server import serving
from helpers.processes import start_and_wait_for, train_cmd
from helpers.recipes import tiny_recipe_dict, write_recipe


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server (helpers/http_server.py), the proxy variables unset so that the downloads reach it."""
    with serving(monkeypatch) as srv:
        yield srv


def test_cli_truncated_download_is_one_line(server, tmp_path):
    make_speechcommands(tmp_path / "src")
    payload, boundary = plain_tar(tmp_path / "src")
    server.payload, server.cut = payload, boundary
    raw = tiny_recipe_dict(tmp_path / "sc")
    raw["data"].update(dataset="speechcommands", download=True, url=f"{server.url}/sc09.tar")
    recipe = write_recipe(tmp_path / "recipe", raw)
    proc = run_cli("train", str(recipe), "--out", str(tmp_path / "run"), "--no-progress")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: download of {server.url}/sc09.tar was cut short (") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("sent", [0, CHUNK], ids=["nothing-received", "one-chunk-received"])
def test_ctrl_c_during_a_download_keeps_the_part_only_when_it_holds_bytes(server, tmp_path, sent):
    """Ctrl-C to `audiodiff train` while its dataset downloads (the server stalls after `sent` bytes): a .part
    holding bytes stays for the resume; an empty one (it used to stay, 0 bytes) is removed, and so is the run
    folder the command had made."""
    payload = bytes(range(256)) * (2 * CHUNK // 256)
    server.payload, server.cut, server.hold = payload, sent, threading.Event()
    raw = tiny_recipe_dict(tmp_path / "sc")
    raw["data"].update(dataset="speechcommands", download=True, url=f"{server.url}/sc09.tar")
    recipe, run = write_recipe(tmp_path / "recipe", raw), tmp_path / "run"
    part = tmp_path / "sc" / "sc09.tar.part"
    proc = start_and_wait_for(train_cmd(recipe, run), tmp_path / "train.log", "downloading ")
    try:
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size == sent):    # the child waits for the next bytes
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "train.log").read_text()
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "train.log").read_text()
    assert last_line(log).startswith("interrupted by SIGINT") and "Traceback" not in log
    if sent:
        assert part.read_bytes() == payload[:sent]
    else:
        assert list((tmp_path / "sc").iterdir()) == []
    assert not run.exists()
