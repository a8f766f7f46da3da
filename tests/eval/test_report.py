"""The report page: what write_report embeds (decoded back from the HTML), its text escaped, groups and tables,
refused clips, atomic writes; and a run's default [sample] label.  `sample --report` and the page in a real headless
Chromium are checked in tests/e2e/test_report_e2e.py."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiodiff
from audiodiff.eval.report import IMAGE_MIN_HEIGHT, IMAGE_MIN_WIDTH, UNLABELLED, ReportClip, write_report
from helpers.recipes import tiny_recipe_dict
from helpers.report import HOSTILE, PageParser, data_bytes, mixed_clips, tone
from helpers.runs import train_labelled_run


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


# ----------------------------------------------------------------- [sample] label, on a tiny class-conditional run
@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory) -> Path:
    """A tiny class-conditional DiffWave trained 3 steps on a generated Speech Commands tree (helpers/runs.py)."""
    return train_labelled_run(tmp_path_factory.mktemp("labelled"))


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
