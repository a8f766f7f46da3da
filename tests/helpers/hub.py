"""The Hugging Face Hub kept offline for the hub tests (tests/pipeline/test_hub.py and its end-to-end half)."""

from __future__ import annotations

from pathlib import Path

import pytest


def offline_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/hf-cache: an empty Hugging Face cache made HF_HUB_CACHE (through `monkeypatch`, so children inherit it
    too), with downloads off, telemetry off and HF_HOME unset: no endpoint that could answer."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache
