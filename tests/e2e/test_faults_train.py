"""Training under real faults: signals to a real `audiodiff train` process (then resumed to the weights of
an uninterrupted run), a train refused for its data, two trainers on one run directory, a damaged or missing
training_state.pt, and a signal to one rank of a 2-process gloo torchrun run."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audiodiff import checkpoint as ckpt
from audiodiff.cli import app
from audiodiff.data import DatasetError
from audiodiff.recipe import load_recipe
from audiodiff.runlock import LOCK_NAME
from audiodiff.training import Trainer
from helpers.cli import last_line, run_cli
from helpers.processes import child_script, start_and_wait_for, train_args, train_cmd
from helpers.recipes import REPO, tiny_recipe_dict, write_recipe
from helpers.runs import assert_close_dicts, state_tensors, weights


@pytest.fixture
def long_recipe(wav_folder, tmp_path) -> Path:
    """Enough steps (~ several seconds) that a signal lands mid-training; checkpoints far apart."""
    raw = tiny_recipe_dict(wav_folder, max_steps=150, checkpoint_every=100, log_every=1, lr_schedule="cosine",
                           warmup_steps=5)
    return write_recipe(tmp_path / "recipe", raw)


@pytest.fixture
def endless_recipe(wav_folder, tmp_path) -> Path:
    """A run that goes on until it is stopped."""
    return write_recipe(tmp_path / "endless", tiny_recipe_dict(wav_folder, max_steps=10**6, checkpoint_every=10**5,
                                                               log_every=1))


# ----------------------------------------------------------------- signals
def test_sigterm_checkpoints_then_resume_matches_uninterrupted(long_recipe, tmp_path):
    run = tmp_path / "run"
    cmd = train_cmd(long_recipe, run)
    proc = start_and_wait_for(cmd, tmp_path / "term.log", "step 10/150")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    line = last_line((tmp_path / "term.log").read_text())
    stopped = ckpt.load_state(run)["step"]
    assert 10 <= stopped < 150 and stopped != 100      # not the periodic checkpoint: the signal's own
    assert line == f"stopped at step {stopped} (SIGTERM); run the same command to resume"
    assert weights(run).keys() and not [p for p in run.iterdir() if p.name.endswith(ckpt.TEMP_SUFFIX)]
    # the same command resumes from that step and finishes with the uninterrupted run's weights
    done = run_cli(*train_args(long_recipe, run))     # the same command, in this process
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming {run} from step {stopped}" in done.stderr
    reference = tmp_path / "reference"
    Trainer(load_recipe(long_recipe), reference, device="cpu", show_progress=False).fit()
    assert ckpt.load_state(run)["step"] == ckpt.load_state(reference)["step"] == 150
    assert_close_dicts(weights(reference), weights(run), "model.safetensors")
    assert_close_dicts(state_tensors(reference), state_tensors(run), "training_state")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_sigint_and_sighup_stop_after_a_checkpoint(long_recipe, tmp_path, sig, code):
    run = tmp_path / "run"
    proc = start_and_wait_for(train_cmd(long_recipe, run), tmp_path / "sig.log", "step 5/150")
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == code
    stopped = ckpt.load_state(run)["step"]
    assert last_line((tmp_path / "sig.log").read_text()) == \
        f"stopped at step {stopped} ({sig.name}); run the same command to resume"


def test_ctrl_c_outside_training_says_interrupted(long_recipe, tmp_path):
    """Ctrl-C where no trainer handles it (here: `sample`) used to exit 130 without a word."""
    runs = tmp_path / "cwd" / "runs"
    Trainer(load_recipe(long_recipe), runs / "tiny", device="cpu", max_steps=2, show_progress=False).fit()
    cmd = [sys.executable, str(REPO / "cli.py"), "sample", "--n", "100000", "--batch-size", "1", "--out",
           str(tmp_path / "wavs"), "--no-progress", "--device", "cpu"]
    log = tmp_path / "sample.log"
    proc = start_and_wait_for(cmd, log, "using the most recent run", cwd=runs.parent)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert last_line(log.read_text()) == "interrupted"


# ----------------------------------------------------------------- a train refused before its first step
@pytest.mark.parametrize("data", ["empty", "missing", "undecodable"])
def test_train_refused_for_its_data_leaves_no_run_folder(tmp_path, data):
    """It used to leave RUN_DIR/.lock behind, a run folder that never held a run, for the next train or sample
    --model to meet; a folder that was there before is kept."""
    root = tmp_path / "audio"
    if data != "missing":
        root.mkdir()
    if data == "undecodable":
        for i in range(3):
            (root / f"clip{i}.wav").write_bytes(b"RIFF, but not a WAV file")
    recipe = write_recipe(tmp_path / "recipe", tiny_recipe_dict(root))
    run = tmp_path / "runs" / "x"
    result = CliRunner().invoke(app, ["train", str(recipe), "--out", str(run), "--no-progress"])
    assert isinstance(result.exception, DatasetError) and str(root) in str(result.exception), result.output
    assert not (tmp_path / "runs").exists()                 # nor the runs/ folder the command made for it
    run.mkdir(parents=True)
    (run / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["train", str(recipe), "--out", str(run), "--no-progress"])
    assert isinstance(result.exception, DatasetError), result.output
    assert (run / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------- two trainers on one run directory
def test_second_trainer_on_a_run_is_refused_naming_the_holder(endless_recipe, tmp_path):
    run = tmp_path / "run"
    cmd = train_cmd(endless_recipe, run)
    first = start_and_wait_for(cmd, tmp_path / "first.log", "step 2/")
    try:
        in_flight = run / ".model.safetensors.abc123.tmp"    # what a checkpoint being written looks like
        in_flight.write_bytes(b"partial")
        second = run_cli(*train_args(endless_recipe, run))      # in this process: the lock is another's
        assert second.returncode == 1
        assert last_line(second.stderr) == (f"error: {run} is in use by another audiodiff train (PID {first.pid}): "
                                            f"wait for it to finish or stop it, or choose another --out")
        assert in_flight.exists()           # the refused trainer cleaned nothing up
        assert first.poll() is None
        os.kill(first.pid, signal.SIGTERM)
        assert first.wait(timeout=60) == 143
    finally:
        if first.poll() is None:
            first.kill()
    # the lock went with the process: the same command now resumes (and removes the stale temp file)
    third = run_cli(*train_args(endless_recipe, run, "--max-steps", str(ckpt.load_state(run)["step"] + 1)))
    assert third.returncode == 0, third.stderr[-3000:]
    assert "removed 1 temp file(s)" in third.stderr and not in_flight.exists()
    assert (run / LOCK_NAME).is_file()


def test_lock_is_released_by_kill_9(long_recipe, tmp_path):
    run = tmp_path / "run"
    proc = start_and_wait_for(train_cmd(long_recipe, run), tmp_path / "k.log", "step 2/150")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    Trainer(load_recipe(long_recipe), run, device="cpu", max_steps=3, show_progress=False).fit()


# ----------------------------------------------------------------- damaged or missing training state
def corrupt(kind: str, path: Path) -> None:
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(os.urandom(len(data)))
    elif kind == "wrong-shape":
        state = torch.load(path, weights_only=True)
        name = next(iter(state["model"]))
        state["model"][name] = torch.zeros(3, 1, 7)
        torch.save(state, path)
    elif kind == "not-a-state":
        torch.save({"hello": torch.zeros(2)}, path)


@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "wrong-shape", "not-a-state"])
def test_damaged_training_state_is_one_line(long_recipe, tmp_path, kind):
    run = tmp_path / "run"
    Trainer(load_recipe(long_recipe), run, device="cpu", max_steps=2, show_progress=False).fit()
    corrupt(kind, run / ckpt.STATE)
    before = (run / ckpt.WEIGHTS).read_bytes()
    proc = run_cli(*train_args(long_recipe, run, "--max-steps", "4"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    line = last_line(proc.stderr)
    assert line.startswith(f"error: {run / ckpt.STATE} ") and "--restart" in line, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted" not in proc.stderr
    assert (run / ckpt.WEIGHTS).read_bytes() == before


def test_weights_without_training_state_need_restart(long_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(load_recipe(long_recipe), run, device="cpu", max_steps=3, show_progress=False).fit()
    (run / ckpt.STATE).unlink()
    before = (run / ckpt.WEIGHTS).read_bytes()
    proc = run_cli(*train_args(long_recipe, run, "--max-steps", "2"))
    assert proc.returncode == 1
    assert last_line(proc.stderr) == (f"error: {run} holds trained weights ({ckpt.WEIGHTS}) but no {ckpt.STATE} to "
                                      f"resume from: pass --restart to train it again from step 0 (replacing them), "
                                      f"or choose another --out")
    assert (run / ckpt.WEIGHTS).read_bytes() == before
    proc = run_cli(*train_args(long_recipe, run, "--max-steps", "2", "--restart"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ckpt.load_state(run)["step"] == 2 and (run / ckpt.WEIGHTS).read_bytes() != before


# ----------------------------------------------------------------- torchrun: every rank stops at the same step
TORCHRUN_HELPER = r'''
"""Under torchrun: writes OUT/pid<RANK>, runs `audiodiff train …` (the real CLI), then records this rank's
step and exit status in OUT/rank<RANK>.pt.  Usage: helper.py OUT train RECIPE --out RUN …"""
import os, sys
import torch
from audiodiff.training import Trainer

out, rank = sys.argv[1], os.environ["RANK"]
trainers = []
real_init = Trainer.__init__
def init(self, *a, **k):
    trainers.append(self)
    real_init(self, *a, **k)
Trainer.__init__ = init
open(os.path.join(out, "pid" + rank), "w").write(str(os.getpid()))
from helpers.child_cli import run_main
code = run_main(sys.argv[2:])
t = trainers[0]
torch.save({"step": t.step, "code": code, "model": t.model.state_dict()}, os.path.join(out, "rank%s.pt" % rank))
sys.exit(0)   # torchrun itself would report a non-zero rank as a failed launch
'''


def test_torchrun_sigterm_to_one_rank_stops_every_rank_at_the_same_step(wav_folder, tmp_path):
    raw = tiny_recipe_dict(wav_folder, batch_size=4, max_steps=300, checkpoint_every=1000, log_every=1)
    recipe_dir = write_recipe(tmp_path / "recipe", raw)
    helper = child_script(tmp_path / "helper.py", TORCHRUN_HELPER)
    out, run = tmp_path / "ranks", tmp_path / "run"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(helper),
           str(out), "train", str(recipe_dir), "--out", str(run), "--no-progress", "--device", "cpu"]
    proc = start_and_wait_for(cmd, tmp_path / "ddp.log", "step 5/300", timeout=180)
    try:
        os.kill(int((out / "pid1").read_text()), signal.SIGTERM)    # rank 1 only: rank 0 learns it in the all-reduce
        assert proc.wait(timeout=120) == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["code"] == 143 and r1["code"] == 143
    assert 5 <= r0["step"] == r1["step"] < 300
    state = ckpt.load_state(run)
    assert state["step"] == r0["step"] and len(state["ranks"]) == 2
    assert_close_dicts(r0["model"], state["model"], "checkpoint vs rank 0", atol=0)
    assert_close_dicts(r0["model"], r1["model"], "rank 0 vs rank 1", atol=0)
    assert f"stopped at step {r0['step']} (SIGTERM); run the same command to resume" in \
        (tmp_path / "ddp.log").read_text()


def test_eof_error_is_an_error_not_an_interruption(monkeypatch, capsys):
    """Typer wraps an EOFError (an empty .npy, an empty state file) as Abort, which read as Ctrl-C."""
    from audiodiff import cli

    def empty_file() -> None:
        raise EOFError("No data left in file")
    monkeypatch.setattr(cli.app, "registered_commands", list(cli.app.registered_commands))
    cli.app.command("empty-file")(empty_file)
    monkeypatch.setattr(sys, "argv", ["audiodiff", "empty-file"])
    monkeypatch.delenv("AUDIODIFF_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    assert last_line(capsys.readouterr().err) == ("error: a file ended early (No data left in file): it is empty or "
                                                  "truncated; set AUDIODIFF_DEBUG=1 to see which")
