"""The report page: what write_report embeds (decoded back from the HTML), `sample --report`, and the page
in a real headless Chromium (tests/helpers/browser.py): no console errors, every clip's media loads, not blank."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import audiodiff
from audiodiff.cli import app
from audiodiff.eval.report import IMAGE_MIN_HEIGHT, IMAGE_MIN_WIDTH, UNLABELLED, ReportClip, write_report
from helpers.browser import Browser, find_browser
from helpers.cli import assert_one_line_error, run_cli
from helpers.corpora import make_speechcommands
from helpers.recipes import tiny_recipe_dict

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


# ----------------------------------------------------------------- the file
def test_page_embeds_every_clip_as_16_bit_wav_and_a_png(tmp_path):
    clips = mixed_clips()
    page = write_report(tmp_path / "r.html", clips).read_text()
    p = PageParser(page)
    audio, images = p.sources("audio"), p.sources("img")
    assert len(audio) == len(images) == len(clips)
    # the page shows groups in order of first appearance, so the clips' order is: one, hostile, unlabelled
    order = [clips[i] for i in (0, 2, 1, 4, 3)]
    for clip, uri, img in zip(order, audio, images):
        data, rate = sf.read(io.BytesIO(data_bytes(uri, "audio/wav")), dtype="float32")
        info = sf.info(io.BytesIO(data_bytes(uri, "audio/wav")))
        assert (rate, info.subtype, data.shape) == (clip.sample_rate, "PCM_16", clip.audio.shape)
        assert np.abs(data - clip.audio).max() <= 1 / 32768 + 1e-7       # only the 16-bit rounding
        png = data_bytes(img, "image/png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= IMAGE_MIN_WIDTH and height >= IMAGE_MIN_HEIGHT
        assert len(png) < 40_000                                          # downsized, not a poster
    # self-contained: every link the page makes is a data: URI
    links = [v for _, attrs in p.tags for k, v in attrs.items() if k in ("src", "href")]
    assert links and all(v.startswith("data:") for v in links)


def test_text_is_escaped(tmp_path):
    page = write_report(tmp_path / "r.html", mixed_clips(), metrics={HOSTILE: 1.0}, card={"recipe": HOSTILE},
                        title=HOSTILE).read_text()
    assert "<script" not in page
    p = PageParser(page)
    assert all(t != "script" for t, _ in p.tags)
    text = "".join(p.text)
    assert text.count(HOSTILE) >= 5          # title, heading, clip name, label heading, card value, metric name
    assert p.rows[HOSTILE] == "1" and p.rows["recipe"] == HOSTILE


def test_groups_follow_first_appearance_and_unlabelled_come_last(tmp_path):
    p = PageParser(write_report(tmp_path / "r.html", mixed_clips()).read_text())
    assert p.h2 == ["one (2 clips)", f"{HOSTILE} (2 clips)", f"{UNLABELLED} (1 clip)"]
    unlabelled = [ReportClip(f"c{i}", tone(300, 8000, 800, i), 8000) for i in range(3)]
    p = PageParser(write_report(tmp_path / "plain.html", unlabelled).read_text())
    assert p.h2 == [] and len(p.sources("audio")) == 3
    assert "3 clips · 8000 Hz · 0.1 s each" in "".join(p.text)


def test_metric_and_card_tables(tmp_path):
    metrics = {"fid": 1.234567, "is": np.float32(8.5), "n_samples": 32, "histogram": {"zero": 3, "one": 0.5}}
    card = {"recipe": "sc09", "steps trained": 300, "seed": None}
    p = PageParser(write_report(tmp_path / "r.html", mixed_clips()[:1], metrics=metrics, card=card).read_text())
    assert p.h2[:2] == ["Model", "Metrics"]
    p_data = PageParser(write_report(tmp_path / "d.html", mixed_clips()[:1], card=card, card_title="Data").read_text())
    assert p_data.h2 == ["Data", "one (1 clip)"] and p_data.rows == {k: p.rows[k] for k in card}
    assert p.rows == {"recipe": "sc09", "steps trained": "300", "seed": "—", "fid": "1.235", "is": "8.5",
                      "n_samples": "32", "histogram": "zero: 3, one: 0.5"}


@pytest.mark.parametrize("audio, rate, words", [
    (np.zeros((2, 100), np.float32), 8000, "mono array"),
    (np.zeros(0, np.float32), 8000, "non-empty"),
    (np.array([0.0, np.nan], np.float32), 8000, "NaN"),
    (np.zeros(100, np.float32), 0, "sample_rate"),
])
def test_bad_clips_are_refused_by_name(audio, rate, words):
    with pytest.raises(ValueError, match=words) as info:
        ReportClip("clip_7", audio, rate)
    assert "clip_7" in str(info.value)


def test_a_clip_too_short_to_draw_is_named(tmp_path):
    with pytest.raises(ValueError, match="'blip'.*shorter than one hop"):
        write_report(tmp_path / "r.html", [ReportClip("blip", np.zeros(3, np.float32), 8000)])
    assert not (tmp_path / "r.html").exists()


def test_written_atomically(tmp_path):
    path = tmp_path / "reports" / "r.html"
    write_report(path, mixed_clips()[:1])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="at least one clip"):
        write_report(path, [])
    assert path.read_bytes() == before                   # a refused report leaves the old page as it was
    write_report(path, mixed_clips()[:2])
    assert path.read_bytes() != before and PageParser(path.read_text()).sources("audio").__len__() == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.html"]      # no temp file left behind
    mask = os.umask(0o022)
    try:
        write_report(path, mixed_clips()[:1])
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644          # as any file the user writes, not the temp file's 0600
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ValueError, match="a-file"):
        write_report(tmp_path / "a-file" / "r.html", mixed_clips()[:1])


# ----------------------------------------------------------------- audiodiff sample --report
@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory) -> Path:
    """A tiny class-conditional DiffWave trained 3 steps on a generated Speech Commands tree."""
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer

    root = tmp_path_factory.mktemp("labelled")
    make_speechcommands(root / "sc", rate=8000, n=300)
    raw = tiny_recipe_dict(root / "sc", model={"type": "diffwave", "residual_layers": 2, "residual_channels": 8,
                                               "dilation_cycle": 2, "num_classes": 10}, max_steps=3)
    raw["data"].update(dataset="speechcommands")
    Trainer(recipe_from_dict(raw), root / "run", show_progress=False).fit()
    return root / "run"


@pytest.fixture(scope="module")
def sample_report(labelled_run, tmp_path_factory) -> tuple[Path, Path]:
    """(report page, WAV folder) of `sample --n 3 --label 7 --report`."""
    out = tmp_path_factory.mktemp("sampled")
    result = CliRunner().invoke(app, ["sample", "--model", str(labelled_run), "--n", "3", "--label", "7",
                                      "--steps", "2", "--seed", "4", "--batch-size", "2", "--out", str(out / "wavs"),
                                      "--report", str(out / "page.html"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"wrote the report page {out / 'page.html'}" in result.output
    return out / "page.html", out / "wavs"


@pytest.mark.slow
def test_sample_report_holds_the_written_clips_and_the_model_card(labelled_run, sample_report):
    page, wavs = sample_report
    p = PageParser(page.read_text())
    files = sorted(wavs.glob("*.wav"))
    assert [f.stem for f in files] == ["sample_000", "sample_001", "sample_002"]
    for f, uri in zip(files, p.sources("audio")):
        embedded, rate = sf.read(io.BytesIO(data_bytes(uri, "audio/wav")), dtype="int16")
        written, file_rate = sf.read(str(f), dtype="int16")
        assert rate == file_rate == 8000 and np.array_equal(embedded, written)
    figure_names = [d for d in p.text if d.startswith("sample_")]
    assert figure_names == [f.stem for f in files]
    assert p.h2 == ["Model", "seven (3 clips)"]
    n_params = sum(t.numel() for t in audiodiff.load(labelled_run, device="cpu").model.parameters())
    assert p.rows == {"recipe": "tiny", "steps trained": "3", "model": f"diffwave, {n_params:,} parameters",
                      "domain": "waveform", "sample rate": "8000 Hz", "sampler": "ddpm", "sampling steps": "2",
                      "seed": "4", "label": "7 (seven)", "guidance": "1", "audiodiff version": audiodiff.__version__}


@pytest.mark.slow
def test_sample_report_to_a_folder_is_refused_before_sampling(labelled_run, tmp_path):
    (tmp_path / "folder").mkdir()
    proc = run_cli("sample", "--model", str(labelled_run), "--n", "1", "--steps", "2", "--out", str(tmp_path / "wavs"),
                   "--report", str(tmp_path / "folder"), "--no-progress")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--report", "is a folder", str(tmp_path / "folder" / "report.html"))
    assert not (tmp_path / "wavs").exists()


@pytest.mark.slow
def test_sample_each_class_in_turn_by_name_and_one_line_for_a_wrong_one(labelled_run, tmp_path):
    """--label each: sample i is class i mod 10 across batches (a section per class on the page); a class name is
    its index; a wrong label is one line naming the choices, before anything is written."""
    out = tmp_path / "wavs"
    result = CliRunner().invoke(app, ["sample", "--model", str(labelled_run), "--n", "12", "--label", "each",
                                      "--steps", "2", "--seed", "1", "--batch-size", "5", "--out", str(out),
                                      "--report", str(tmp_path / "page.html"), "--no-progress"])
    assert result.exit_code == 0, result.output
    names = audiodiff.load(labelled_run, device="cpu").config["class_names"]
    labels = json.loads((out / "labels.json").read_text())
    assert labels == {f"sample_{i:03d}.wav": names[i % 10] for i in range(12)}
    page = PageParser((tmp_path / "page.html").read_text())
    assert page.h2 == ["Model"] + [f"{names[k]} ({2 if k < 2 else 1} clip{'s' if k < 2 else ''})" for k in range(10)]
    assert page.rows["label"] == "each class in turn"
    pipe = audiodiff.load(labelled_run, device="cpu")
    by_name = pipe.sample(n=2, steps=2, seed=3, labels="seven")
    assert torch.equal(by_name, pipe.sample(n=2, steps=2, seed=3, labels=7))
    assert not torch.equal(by_name, pipe.sample(n=2, steps=2, seed=3, labels=2))
    line = assert_one_line_error(run_cli("sample", "--model", str(labelled_run), "--n", "1", "--label", "eleven",
                                         "--out", str(tmp_path / "none"), "--no-progress"), "eleven", "seven", "each")
    assert line.startswith("error: --label")
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())


def test_a_runs_sample_label_is_its_default_class(labelled_run):
    """[sample] label = "each" makes a class-conditional run sample the classes in turn when no label is given;
    empty (the default) keeps it unconditional, and a label on an unconditional recipe is refused."""
    from audiodiff.recipe import RecipeError, recipe_from_dict

    pipe = audiodiff.load(labelled_run, device="cpu")
    assert pipe.class_labels(None, 3) is None
    pipe.config["sample"] = {**pipe.config["sample"], "label": "each"}
    assert pipe.class_labels(None, 12) == [i % 10 for i in range(12)]
    assert pipe.class_labels("3", 2) == [3, 3]
    raw = tiny_recipe_dict(labelled_run)
    raw["sample"]["label"] = "each"
    with pytest.raises(RecipeError, match="num_classes"):
        recipe_from_dict(raw)


# ----------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = find_browser()
    if executable is None:
        message = ("no headless browser: install Debian's chromium (apt-get install chromium) or set "
                   "AUDIODIFF_BROWSER to a Chromium/Chrome binary")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI is set: .ci/run installs chromium, so this must not happen there)")
        pytest.skip(message)
    with Browser(executable, tmp_path_factory.mktemp("browser") / "profile") as b:
        yield b


WAIT_FOR_MEDIA = """Promise.all([...document.querySelectorAll('audio')].map(a => new Promise((ok, bad) => {
  const done = () => ok(a.duration), failed = () => bad(new Error('audio failed to load: code ' + a.error.code));
  if (a.readyState >= 1) return done();
  if (a.error) return failed();            // failed before this script ran
  a.addEventListener('loadedmetadata', done);
  a.addEventListener('error', failed);
  setTimeout(() => bad(new Error('no loadedmetadata within 30 s')), 30000);
})))"""


def check_page_in_browser(browser: Browser, path: Path, clips: list[tuple[int, int]]) -> np.ndarray:
    """Open the page; assert no errors, one <audio> per clip whose media loads with the clip's duration
    (clips: (samples, rate) in page order), every image decoded, nothing fetched from outside.
    Returns the screenshot as a grey-level array [H, W]."""
    from PIL import Image

    page = browser.open(path.as_uri())
    durations = page.evaluate(WAIT_FOR_MEDIA, timeout=60)
    assert len(durations) == len(clips)
    for d, (samples, rate) in zip(durations, clips):
        assert d > 0 and abs(d - samples / rate) < 1e-3, (d, samples, rate)
    images = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth > 0)")
    assert images == [True] * len(clips)
    assert page.errors == []
    own = path.as_uri()
    assert all(u == own or u.startswith("data:") for u in page.requested_urls), page.requested_urls
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L"), dtype=np.float64)
    assert shot.shape[0] > 300 and shot.shape[1] > 300
    return shot


@pytest.mark.slow
def test_page_in_headless_browser(browser, tmp_path):
    clips = mixed_clips()
    path = write_report(tmp_path / "page.html", clips, metrics={"fid": 3.2}, card={"recipe": HOSTILE})
    order = [clips[i] for i in (0, 2, 1, 4, 3)]
    shot = check_page_in_browser(browser, path, [(c.audio.size, c.sample_rate) for c in order])
    assert shot.std() > 20                                     # not blank: text, tables, spectrograms
    assert (shot < 80).mean() > 0.02                           # the dark spectrogram images are drawn
    page = browser.open(path.as_uri())
    text = page.evaluate("document.body.innerText")
    assert HOSTILE in text and page.evaluate("document.scripts.length") == 0   # shown as text, never run
    headings = page.evaluate("[...document.querySelectorAll('section.group h2')].map(h => h.textContent)")
    assert headings == ["one (2 clips)", f"{HOSTILE} (2 clips)", f"{UNLABELLED} (1 clip)"]


@pytest.mark.slow
def test_sample_report_in_headless_browser(browser, sample_report):
    page, wavs = sample_report
    clips = [(sf.info(str(f)).frames, 8000) for f in sorted(wavs.glob("*.wav"))]
    shot = check_page_in_browser(browser, page, clips)
    assert shot.std() > 20 and (shot < 80).mean() > 0.01
