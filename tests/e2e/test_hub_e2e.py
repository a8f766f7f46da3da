"""An hf:// model reference end to end: `python cli.py sample --model hf://…` in a fresh process, against an empty
offline Hugging Face cache, fails as one line naming the reference and what to do.  (Loading from the cache and
push_to_hub are checked in tests/pipeline/test_hub.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import assert_one_line_error, run_cli
from helpers.hub import offline_hf_cache

pytest.importorskip("huggingface_hub")


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache in tmp_path (HF_HUB_CACHE), downloads off, no endpoint that could answer."""
    return offline_hf_cache(tmp_path, monkeypatch)


def test_cli_subprocess_empty_cache_is_one_line(tmp_path, offline_cache):
    """The real entry point in a fresh process (nothing of huggingface_hub imported beforehand)."""
    proc = run_cli("sample", "--model", "hf://org/name@v1", "--n", "1", "--out", str(tmp_path / "wavs"),
                   "--device", "cpu", "--no-progress", process=True)
    assert_one_line_error(proc, "hf://org/name@v1", "not in the Hugging Face cache", "HF_HUB_OFFLINE=1")
