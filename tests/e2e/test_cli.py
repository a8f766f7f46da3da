"""The `audiodiff` command: help through Typer's CliRunner; exit codes, one-line errors and an end-to-end
train → sample through the real entry point (`python cli.py …`) in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiodiff.cli import app
from helpers.audio import write_tone_wavs
from helpers.cli import assert_one_line_error, run_cli
from helpers.recipes import CLIP_LENGTH, SAMPLE_RATE, TINY_DIFFWAVE, tiny_recipe_dict, write_recipe


# ----------------------------------------------------------------- help (in-process)
runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "train" in result.stdout and "sample" in result.stdout


def test_train_help():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for option in ("--out", "--max-steps", "--device", "--no-progress"):
        assert option in result.stdout, option
    assert "recipe" in result.stdout.lower() and "recipe.toml" in result.stdout
    assert "[train]" in result.stdout          # a recipe table named in help text is not eaten as rich markup


def test_sample_help():
    result = runner.invoke(app, ["sample", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for option in ("--n", "--out", "--model", "--steps", "--sampler", "--seed", "--eta", "--batch-size"):
        assert option in result.stdout, option
    assert "ddpm" in result.stdout and "dpm++" in result.stdout
    assert result.stdout.count("[sample]") == 5   # --steps, --sampler, --label, --guidance-interval, --trim-db: not
    #                                                 eaten as rich markup


def test_sample_without_runs_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["sample", "--no-progress"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no trained model under ./runs")
    assert not (tmp_path / "wavs").exists()


# ----------------------------------------------------------------- errors (real entry point)
def test_missing_recipe_one_line_error(tmp_path):
    proc = run_cli("train", str(tmp_path / "no-such-recipe"), "--out", str(tmp_path / "run"), "--no-progress",
                   process=True)    # the real script in a real interpreter, once
    assert_one_line_error(proc, "no-such-recipe")
    assert not (tmp_path / "run").exists()


def test_bad_recipe_key_one_line_error(tmp_path):
    raw = tiny_recipe_dict(tmp_path / "audio")
    raw["train"]["batch_size"] = 0
    recipe = write_recipe(tmp_path / "bad", raw)
    proc = run_cli("train", str(recipe), "--out", str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(proc, "batch_size", str(recipe / "recipe.toml"))


def test_unknown_sampler_no_traceback():
    proc = run_cli("sample", "--sampler", "nope", "--no-progress")
    assert_one_line_error(proc, "nope", "--sampler")
    assert proc.returncode == 2   # a usage error, as click / Typer number them


@pytest.mark.parametrize("args, words", [(("train",), ("Missing argument",)),
                                         (("sample", "--n", "0"), ("--n",)),
                                         (("nope",), ("nope",))])
def test_usage_errors_are_one_line(args, words):
    assert_one_line_error(run_cli(*args), *words)


def test_help_exits_zero():
    proc = run_cli("--help", process=True)
    assert proc.returncode == 0 and "train" in proc.stdout


def test_model_dir_without_model_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("sample", "--model", str(tmp_path / "empty"), "--out", str(tmp_path / "w"),
                                  "--no-progress"), str(tmp_path / "empty"))
    assert not (tmp_path / "w").exists()
    # a config.json without weights: the error names the missing model.safetensors
    config_only = tmp_path / "config_only"
    config_only.mkdir()
    (config_only / "config.json").write_text(json.dumps({
        "sample_rate": SAMPLE_RATE, "clip_length": CLIP_LENGTH, "model": TINY_DIFFWAVE,
        "diffusion": {"schedule": "linear", "num_steps": 20, "beta_start": 1e-3, "beta_end": 0.2}}))
    assert_one_line_error(run_cli("sample", "--model", str(config_only), "--out", str(tmp_path / "w"),
                                  "--no-progress"), "model.safetensors")
    assert not (tmp_path / "w").exists()


# ----------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Path:
    """`cli.py train <tiny recipe> --out <tmp>/run --max-steps 3 --no-progress`, from the repo root."""
    root = tmp_path_factory.mktemp("cli")
    write_tone_wavs(root / "audio")
    recipe = write_recipe(root / "recipe", tiny_recipe_dict(root / "audio", threads=1, max_steps=1000))
    run = root / "run"
    proc = run_cli("train", str(recipe), "--out", str(run), "--max-steps", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"model ready in {run}" in proc.stdout
    return run


def test_eta_only_with_ddim(cli_run, tmp_path):
    ddim_run = tmp_path / "ddim_run"
    shutil.copytree(cli_run, ddim_run)
    config = json.loads((ddim_run / "config.json").read_text())
    config["sample"]["sampler"] = "ddim"
    (ddim_run / "config.json").write_text(json.dumps(config))
    common = ["--n", "1", "--steps", "2", "--seed", "0", "--no-progress"]
    # the tiny run samples with ddpm by default: --eta alone is a usage error, with --sampler ddim it is fine
    result = runner.invoke(app, ["sample", "--model", str(cli_run), "--eta", "0.5", "--out", str(tmp_path / "a"),
                                 *common])
    assert result.exit_code == 2 and "--eta" in result.stderr
    assert not (tmp_path / "a").exists()
    result = runner.invoke(app, ["sample", "--model", str(cli_run), "--sampler", "ddim", "--eta", "0.5",
                                 "--out", str(tmp_path / "b"), *common])
    assert result.exit_code == 0, result.output
    # a run whose [sample] sampler is ddim takes --eta without --sampler
    result = runner.invoke(app, ["sample", "--model", str(ddim_run), "--eta", "0.5", "--out", str(tmp_path / "c"),
                                 *common])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "sample_000.wav").is_file()


def test_train_then_sample_end_to_end(cli_run, tmp_path):
    assert json.loads((cli_run / "config.json").read_text())["step"] == 3
    assert (cli_run / "model.safetensors").is_file() and (cli_run / "training_state.pt").is_file()
    out = tmp_path / "wavs"
    proc = run_cli("sample", "--model", str(cli_run), "--n", "3", "--out", str(out), "--steps", "4", "--seed", "1",
                   "--batch-size", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sample_000.wav", "sample_001.wav", "sample_002.wav"]
    for p in out.iterdir():
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, CLIP_LENGTH)
        assert info.format == "WAV" and info.subtype == "PCM_16"
        data, _ = sf.read(str(p))
        assert np.isfinite(data).all() and data.std() > 0
    assert f"wrote 3 WAV file(s) at {SAMPLE_RATE} Hz" in proc.stdout


def test_sample_picks_latest_run(cli_run, tmp_path):
    runs = tmp_path / "runs"
    for name, rate, mtime in (("a", 8000, 1_000_000_000), ("b", 11025, 1_000_002_000), ("c", 16000, 1_000_001_000)):
        shutil.copytree(cli_run, runs / name)
        config = json.loads((runs / name / "config.json").read_text())
        config["sample_rate"] = rate         # only the written WAV header depends on it: tells the runs apart
        (runs / name / "config.json").write_text(json.dumps(config))
        os.utime(runs / name / "model.safetensors", (mtime, mtime))
    (runs / "not-a-run").mkdir()
    proc = run_cli("sample", "--n", "1", "--out", "wavs", "--steps", "2", "--seed", "0", "--no-progress",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "using the most recent run: runs/b" in proc.stderr
    assert [p.name for p in (tmp_path / "wavs").iterdir()] == ["sample_000.wav"]    # relative to the cwd
    assert sf.info(str(tmp_path / "wavs" / "sample_000.wav")).samplerate == 11025


def test_cli_log_follows_the_current_stderr(monkeypatch):
    """A program that runs the CLI in-process and then closes or swaps its stderr (pytest's capsys does, test by
    test) still gets the log lines, not a 'Logging error' from the closed stream the first run saw."""
    import io

    from audiodiff.cli.common import log, setup_logging

    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(log, "propagate", log.propagate)
    monkeypatch.setattr(log, "level", log.level)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging()
    log.info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    assert second.getvalue() == "audiodiff: two\n"
