"""The report page read back (tests/eval/test_report.py and its end-to-end half): an HTML parser for its tags, headings,
table rows and text, the data: URIs it embeds, and a mix of clips (three rates, a hostile label, an unlabelled clip)."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np

from audiodiff.eval.report import ReportClip

HOSTILE = "<script>alert('x')</script> & \"quoted\""


class PageParser(HTMLParser):
    """Tags with their attributes, the text of each h2 and of each table row, and all text."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.h2: list[str] = []
        self.rows: dict[str, str] = {}
        self.text: list[str] = []
        self._open: list[str] = []
        self._cells: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)
        if tag == "h2":
            self.h2.append("")
        if tag == "tr":
            self._cells = []
        if tag in ("th", "td"):
            self._cells.append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()
        if tag == "tr" and len(self._cells) == 2:
            self.rows[self._cells[0]] = self._cells[1]

    def handle_data(self, data):
        self.text.append(data)
        if "h2" in self._open:
            self.h2[-1] += data
        if self._open and self._open[-1] in ("th", "td"):
            self._cells[-1] += data

    def sources(self, tag: str) -> list[str]:
        return [a["src"] for t, a in self.tags if t == tag]


def data_bytes(uri: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix), uri[:40]
    return base64.b64decode(uri[len(prefix):])


def tone(freq: float, rate: int, length: int, seed: int = 0) -> np.ndarray:
    t = np.arange(length) / rate
    noise = np.random.default_rng(seed).standard_normal(length) * 0.02
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-4 * t) + noise).astype(np.float32)


def mixed_clips() -> list[ReportClip]:
    """Clips at three rates and lengths, two labels (one hostile) and one unlabelled clip."""
    return [ReportClip("low", tone(220, 8000, 4000), 8000, "one"),
            ReportClip(HOSTILE, tone(440, 16000, 16000, 1), 16000, HOSTILE),
            ReportClip("mid", tone(330, 8000, 2000, 2), 8000, "one"),
            ReportClip("unlabelled clip", tone(880, 22050, 11025, 3), 22050, None),
            ReportClip("short", tone(660, 16000, 1024, 4), 16000, HOSTILE)]
