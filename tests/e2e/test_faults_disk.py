"""The decode cache on a disk that fills up: a real 256 KiB tmpfs (when this runs as root and may mount) and a
child process under RLIMIT_FSIZE (anywhere).  Decoding falls back to memory with a warning, and the clips
are the ones an uncached dataset serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiodiff.data import CachedWaves, build_dataset
from helpers.audio import write_tone_wavs
from helpers.corpora import cfg, write
from helpers.disks import mounted_tmpfs
from helpers.processes import child_env
from helpers.recipes import REPO, tiny_recipe_dict, write_recipe


def recordings(folder: Path) -> Path:
    """Eight 16 kHz clips of 0.1 … 1.2 s (6 KiB … 77 KiB as float32 .npy): 300 KiB in all."""
    for i, n in enumerate((1600, 3200, 4800, 6400, 9600, 12800, 16000, 19200)):
        write(folder / f"clip_{i}.wav", n=n, freq=200.0 + 40 * i)
    return folder


def same_clips(a, b) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        torch.testing.assert_close(a[(i, 0)]["audio"], b[(i, 0)]["audio"], rtol=0, atol=0)


@pytest.fixture
def tmpfs(tmp_path):
    with mounted_tmpfs(tmp_path / "small-disk", "256k", "needs root and permission to mount a tmpfs (the "
                       "RLIMIT_FSIZE test covers the same path)") as mount:
        yield mount


def test_cache_on_a_full_tmpfs_falls_back_to_memory(tmp_path, tmpfs, audiodiff_log):
    folder = recordings(tmp_path / "audio")
    ds = build_dataset(cfg(folder, clip_length=8000, cache_dir=str(tmpfs)), show_progress=False)
    warned = [r.getMessage() for r in audiodiff_log.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and warned[0].startswith(f"cannot write the audio cache in {tmpfs}/16000 (No space "
                                                     f"left on device): keeping the decoded audio in memory")
    assert not isinstance(ds.waves, CachedWaves)
    same_clips(ds, build_dataset(cfg(folder, clip_length=8000, cache=False), show_progress=False))
    left = [p.name for p in (tmpfs / "16000").iterdir()]
    assert left and not [n for n in left if n.endswith(".tmp")]     # what fitted is cached; no half-written files


CHILD = r'''
import json, resource, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from helpers.corpora import cfg
from audiodiff.data import CachedWaves, build_dataset
import logging
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)          # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), int(sys.argv[4])))
ds = build_dataset(cfg(Path(sys.argv[1]), clip_length=8000, cache_dir=sys.argv[2]), show_progress=False)
torch_clips = [ds[(i, 0)]["audio"].tolist() for i in range(len(ds))]
print(json.dumps({"cached": isinstance(ds.waves, CachedWaves), "clips": torch_clips}))
'''


def test_cache_under_a_file_size_limit_falls_back_to_memory(tmp_path):
    folder = recordings(tmp_path / "audio")
    cache = tmp_path / "cache"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    limit = 40_000      # the five shortest clips (up to 38.5 kB) fit, the other three fail with EFBIG
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(folder), str(cache), str(REPO / "tests"), str(limit)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("WARNING")]
    assert warnings == [f"WARNING cannot write the audio cache in {cache}/16000 (File too large): keeping the "
                        f"decoded audio in memory instead; free some space or set [data] cache_dir to another disk"]
    out = json.loads(proc.stdout)
    assert out["cached"] is False
    reference = build_dataset(cfg(folder, clip_length=8000, cache=False), show_progress=False)
    assert out["clips"] == [reference[(i, 0)]["audio"].tolist() for i in range(len(reference))]
    names = sorted(p.name for p in (cache / "16000").iterdir())
    assert len(names) == 5 and not [n for n in names if n.endswith(".tmp")]


@pytest.fixture
def tmpfs_150k(tmp_path):
    """A tmpfs with room for one tiny run's checkpoint (~95 kB) but not for its replacement beside it."""
    with mounted_tmpfs(tmp_path / "run-disk", "150k") as mount:
        yield mount


def test_checkpoint_on_a_full_disk_is_one_line_and_keeps_the_previous(tmp_path, tmpfs_150k):
    from audiodiff import checkpoint as ckpt

    write_tone_wavs(tmp_path / "audio")
    recipe = write_recipe(tmp_path / "recipe", tiny_recipe_dict(tmp_path / "audio", checkpoint_every=1, max_steps=3,
                                                               tensorboard=False))
    run = tmpfs_150k / "run"
    proc = subprocess.run([sys.executable, "cli.py", "train", str(recipe), "--out", str(run), "--no-progress"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write a checkpoint to {run} (the disk is full; ") and \
        last.endswith("): the checkpoint of step 1 is kept; free some space and run the same command to resume")
    assert ckpt.load_state(run)["step"] == 1 and not [p for p in run.iterdir() if p.name.endswith(ckpt.TEMP_SUFFIX)]
