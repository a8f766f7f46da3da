"""The report page end to end: `audiodiff sample --report` on a tiny class-conditional run (the written clips and
the model card on the page, a folder refused before sampling, --label each and a wrong label as one line), and pages
in a real headless Chromium (tests/helpers/browser.py): no console errors, every clip's media loads, not blank.
(What write_report embeds is checked in tests/eval/test_report.py.)"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import audiodiff
from audiodiff.cli import app
from audiodiff.eval.report import UNLABELLED, write_report
from helpers.browser import Browser, find_browser
from helpers.cli import assert_one_line_error, run_cli
from helpers.report import HOSTILE, PageParser, data_bytes, mixed_clips
from helpers.runs import train_labelled_run


# ----------------------------------------------------------------- audiodiff sample --report
@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory) -> Path:
    """A tiny class-conditional DiffWave trained 3 steps on a generated Speech Commands tree (helpers/runs.py)."""
    return train_labelled_run(tmp_path_factory.mktemp("labelled"))


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


def test_sample_report_to_a_folder_is_refused_before_sampling(labelled_run, tmp_path):
    (tmp_path / "folder").mkdir()
    proc = run_cli("sample", "--model", str(labelled_run), "--n", "1", "--steps", "2", "--out", str(tmp_path / "wavs"),
                   "--report", str(tmp_path / "folder"), "--no-progress")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--report", "is a folder", str(tmp_path / "folder" / "report.html"))
    assert not (tmp_path / "wavs").exists()


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


def test_sample_report_in_headless_browser(browser, sample_report):
    page, wavs = sample_report
    clips = [(sf.info(str(f)).frames, 8000) for f in sorted(wavs.glob("*.wav"))]
    shot = check_page_in_browser(browser, page, clips)
    assert shot.std() > 20 and (shot < 80).mean() > 0.01


def test_sample_report_card_names_the_guidance_interval_when_one_is_given(labelled_run, tmp_path):
    result = CliRunner().invoke(app, ["sample", "--model", str(labelled_run), "--n", "1", "--label", "7",
                                      "--guidance", "2", "--guidance-interval", "0.2,4", "--steps", "2", "--seed", "4",
                                      "--out", str(tmp_path / "wavs"), "--report", str(tmp_path / "page.html"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = PageParser((tmp_path / "page.html").read_text()).rows
    assert rows["guidance"] == "2" and rows["guided at noise levels σ"] == "0.2 – 4"
