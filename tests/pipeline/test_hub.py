"""Runs on the Hugging Face Hub (audiodiff/hub.py), never touching the network: hf:// references load from a local
cache laid out as huggingface_hub lays it out (models--org--name/{refs, snapshots/<commit>, blobs}) with downloads
off, get the same checks as a local run, fail as one line; push_to_hub is checked against a stand-in HfApi."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

import audiodiff
from audiodiff import hub
from audiodiff.model_check import ModelFileError
from helpers.cli import main_captured
from helpers.hub import offline_hf_cache

pytest.importorskip("huggingface_hub")

REPO_ID = "org/name"
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    """The session's tiny trained run (conftest.py)."""
    return tiny_run


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache in tmp_path (HF_HUB_CACHE), downloads off, no endpoint that could answer."""
    return offline_hf_cache(tmp_path, monkeypatch)


def cache_commit(cache: Path, files: dict[str, bytes], commit: str, refs: tuple[str, ...] = ("main",),
                 repo_id: str = REPO_ID) -> Path:
    """Lay `files` out in `cache` as huggingface_hub does after a download: content in blobs/<sha256>, the snapshot
    of `commit` as relative symlinks to them, and each ref (branch or tag) in refs/ holding the commit hash."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob.name))
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


def run_files(run: Path, edit=None) -> dict[str, bytes]:
    """config.json (edited in place by `edit(config)` when given) and model.safetensors of `run`, as bytes."""
    config = json.loads((run / "config.json").read_text())
    if edit:
        edit(config)
    return {"config.json": json.dumps(config).encode(), "model.safetensors": (run / "model.safetensors").read_bytes()}


def samples(pipe) -> torch.Tensor:
    return pipe.sample(n=2, seed=0)


def load(ref, **kw):
    return audiodiff.load(ref, device="cpu", precision="fp32", **kw)


def one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for w in words:
        assert w in message, (w, message)
    return message


# ----------------------------------------------------------------- loading from the cache
def test_hf_reference_loads_the_cached_run_and_samples_as_the_local_run(run, offline_cache):
    import huggingface_hub

    snapshot = cache_commit(offline_cache, run_files(run), COMMIT_A)
    [cached] = huggingface_hub.scan_cache_dir(offline_cache).repos          # a cache huggingface_hub reads as its own
    assert cached.repo_id == REPO_ID and {r.commit_hash for r in cached.revisions} == {COMMIT_A}

    pipe = load("hf://org/name")
    assert pipe.source == snapshot
    assert pipe.config == load(run).config
    torch.testing.assert_close(samples(pipe), samples(load(run)), rtol=0, atol=0)


def test_local_files_only_without_hf_hub_offline(run, offline_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    cache_commit(offline_cache, run_files(run), COMMIT_A)
    assert load("hf://org/name", local_files_only=True).config["step"] == 2


def test_hf_home_is_the_cache_when_hf_hub_cache_is_unset(run, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    snapshot = cache_commit(tmp_path / "home" / "hub", run_files(run), COMMIT_A)
    assert load("hf://org/name").source == snapshot


def test_revision_picks_its_snapshot(run, offline_cache):
    """main → commit B (a later push), the tag v1 and commit A's hash → commit A."""
    cache_commit(offline_cache, run_files(run), COMMIT_A, refs=("v1",))
    cache_commit(offline_cache, run_files(run, lambda c: c.update(step=999)), COMMIT_B, refs=("main",))
    assert load("hf://org/name").config["step"] == 999
    assert load("hf://org/name@main").config["step"] == 999
    assert load("hf://org/name@v1").config["step"] == 2
    assert load(f"hf://org/name@{COMMIT_A}").config["step"] == 2
    assert load(Path("hf://org/name@v1")).config["step"] == 2      # a Path folds hf:// to hf:/ (the CLI's --model)
    with pytest.raises(hub.HubError) as info:
        load("hf://org/name@v2")
    one_line(info, "hf://org/name@v2", "HF_HUB_OFFLINE")


def test_an_empty_cache_is_one_line_naming_the_repo_and_what_to_do(offline_cache):
    with pytest.raises(hub.HubError) as info:
        load("hf://org/name")
    one_line(info, "hf://org/name", "not in the Hugging Face cache", str(offline_cache), "HF_HUB_OFFLINE=1",
             "download it once online")


def test_a_snapshot_without_weights_is_one_line(run, offline_cache):
    cache_commit(offline_cache, {"config.json": run_files(run)["config.json"]}, COMMIT_A)
    with pytest.raises(hub.HubError) as info:
        load("hf://org/name")
    one_line(info, "hf://org/name")


@pytest.mark.parametrize("ref", ["hf://", "hf://a/b/c@", "hf://a/b@", "hf://name", "hf://a/b/c", "hf://a/-b",
                                 "hf:/"])
def test_a_bad_reference_is_one_line(ref):
    with pytest.raises(hub.HubError) as info:
        load(ref)
    one_line(info, "not a Hub model reference", "hf://ORG/NAME")


def test_reference_parsing():
    assert hub.parse("hf://org/name") == ("org/name", None)
    assert hub.parse("hf://Org-1/my.model_2@v1.0") == ("Org-1/my.model_2", "v1.0")
    assert hub.parse(Path("hf://org/name@refs/pr/1")) == ("org/name", "refs/pr/1")
    assert hub.is_reference("hf://org/name") and hub.is_reference(Path("hf://org/name"))
    assert not hub.is_reference("runs/hf") and not hub.is_reference(Path("hf/org/name"))


def test_a_cached_config_with_absurd_sizes_is_refused_as_a_local_one(run, offline_cache, tmp_path):
    """65536 channels: within every option's limit, ~200 GB of weights; the safetensors header says no, before any
    memory is allocated, with the same message as for a local copy (naming the cached file)."""
    def edit(config):
        config["model"]["residual_channels"] = 65536

    snapshot = cache_commit(offline_cache, run_files(run, edit), COMMIT_A)
    local = tmp_path / "local"
    local.mkdir()
    for name, data in run_files(run, edit).items():
        (local / name).write_bytes(data)
    with pytest.raises(ModelFileError) as from_hub:
        load("hf://org/name")
    with pytest.raises(ModelFileError) as from_disk:
        load(local)
    message = one_line(from_hub, str(snapshot / "model.safetensors"), "[65536, 1, 1]")
    assert message.replace(str(snapshot), "RUN") == str(from_disk.value).replace(str(local), "RUN")


def test_a_cached_config_with_absurd_steps_is_refused(run, offline_cache):
    snapshot = cache_commit(offline_cache, run_files(run, lambda c: c["diffusion"].update(num_steps=10 ** 11)),
                            COMMIT_A)
    with pytest.raises(ModelFileError) as info:
        load("hf://org/name")
    one_line(info, str(snapshot / "config.json"), "num_steps")


def test_without_huggingface_hub_the_error_says_what_to_install(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)      # import huggingface_hub → ImportError
    with pytest.raises(hub.HubError) as info:
        load("hf://org/name")
    one_line(info, "pip install 'audiodiff[hub]'")
    with pytest.raises(hub.HubError) as info:
        load(run).push_to_hub("org/name")
    one_line(info, "pip install 'audiodiff[hub]'")


# ----------------------------------------------------------------- the CLI, in-process
def test_cli_samples_from_an_hf_model(run, offline_cache, tmp_path, capsys, audiodiff_log, monkeypatch):
    monkeypatch.delenv("AUDIODIFF_DEBUG", raising=False)
    cache_commit(offline_cache, run_files(run), COMMIT_A)
    code, _, err = main_captured(["sample", "--model", "hf://org/name", "--n", "1", "--out", str(tmp_path / "wavs"),
                                  "--device", "cpu", "--no-progress"], capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "wavs").iterdir()] == ["sample_000.wav"]


@pytest.mark.parametrize("ref, words", [
    ("hf://org/name", ["hf://org/name", "not in the Hugging Face cache", "HF_HUB_OFFLINE=1"]),
    ("hf://org/name@v9", ["hf://org/name@v9", "not in the Hugging Face cache"]),
    ("hf://a/b/c@", ["not a Hub model reference"]),
    ("hf://", ["not a Hub model reference"]),
])
def test_cli_hub_failures_are_one_line(ref, words, tmp_path, capsys, audiodiff_log, monkeypatch):
    monkeypatch.delenv("AUDIODIFF_DEBUG", raising=False)
    code, out, err = main_captured(["sample", "--model", ref, "--n", "1", "--out", str(tmp_path / "wavs"),
                                    "--device", "cpu", "--no-progress"], capsys)
    assert code == 1
    assert "Traceback" not in err + out
    [line] = err.strip().splitlines()
    assert line.startswith("error: "), line
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "wavs").exists()


# ----------------------------------------------------------------- push_to_hub
@pytest.fixture
def uploads(monkeypatch) -> list[dict]:
    """HfApi.create_repo and HfApi.upload_folder replaced by stand-ins recording what they were given (the files
    are read during the call: the folder is temporary)."""
    import huggingface_hub

    calls: list[dict] = []

    def create_repo(self, repo_id, **kw):
        calls.append({"call": "create_repo", "repo_id": repo_id, **kw})

    def upload_folder(self, *, repo_id, folder_path, **kw):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir() if p.is_file()}
        calls.append({"call": "upload_folder", "repo_id": repo_id, "files": files, **kw})
        return f"https://huggingface.co/{repo_id}/commit/{COMMIT_B}"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return calls


def test_push_to_hub_uploads_config_weights_and_card(run, tmp_path, uploads, offline_cache):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "metrics.jsonl").write_text(json.dumps({"step": 1, "fid": 99.0}) + "\n" +
                                        json.dumps({"step": 2, "fid": 12.5, "is": 1.75, "ndb": 3,
                                                    "time": 1.0}) + "\n" + '{"step": 3, "fi')   # a torn last line
    pipe = load(copy)
    url = pipe.push_to_hub("org/name", private=True)
    assert url.endswith(COMMIT_B)
    create, upload = uploads
    assert create["call"] == "create_repo" and create["repo_id"] == "org/name" and create["private"] is True
    assert create["exist_ok"] is True
    assert upload["repo_id"] == "org/name"
    files = upload["files"]
    assert set(files) >= {"config.json", "model.safetensors", "README.md"}
    assert set(upload["allow_patterns"]) == {"config.json", "model.safetensors", "README.md"}
    assert json.loads(files["config.json"]) == pipe.config

    card = files["README.md"].decode()
    params = sum(p.numel() for p in pipe.model.parameters())
    assert card.startswith("---\nlibrary_name: audiodiff\n")
    for text in ("# tiny", "| Recipe | tiny |", "| Domain | waveform |", f"diffwave, {params:,} parameters",
                 "| Training steps | 2 |", "Latest evaluation (step 2)", "| fid | 12.5 |", "| is | 1.75 |",
                 "| ndb | 3 |", 'ad.load("hf://org/name")', "--model hf://org/name"):
        assert text in card, (text, card)
    assert "99" not in card and "| time |" not in card

    # what was uploaded, cached as a download would leave it, loads back and samples as the run
    cache_commit(offline_cache, {k: files[k] for k in ("config.json", "model.safetensors")}, COMMIT_B)
    torch.testing.assert_close(samples(load("hf://org/name")), samples(pipe), rtol=0, atol=0)


def test_push_card_takes_the_eval_of_a_best_export(run, tmp_path, uploads):
    pipe = load(run)
    pipe.config = {**pipe.config, "eval": {"fid": 7.25, "accuracy": 0.5}}
    pipe.push_to_hub("hf://org/best")
    card = uploads[-1]["files"]["README.md"].decode()
    assert uploads[-1]["repo_id"] == "org/best"
    assert "| fid | 7.25 |" in card and "| accuracy | 0.5 |" in card


def test_push_without_metrics_has_no_evaluation_section(run, uploads):
    load(run).push_to_hub("org/name")
    assert "## Evaluation" not in uploads[-1]["files"]["README.md"].decode()


@pytest.mark.parametrize("repo", ["org", "org/name@main", "a/b/c", ""])
def test_push_to_a_bad_repo_is_one_line(run, repo, uploads):
    with pytest.raises(hub.HubError) as info:
        load(run).push_to_hub(repo)
    one_line(info)
    assert uploads == []


def test_every_domain_has_a_pipeline_and_says_how_to_use_it():
    """`audiodiff train`'s last line and the model card read hub.USAGE by domain: a new domain must add its entry."""
    from audiodiff.domains import DOMAINS
    from audiodiff.hub import USAGE
    from audiodiff.pipeline import Pipeline

    assert set(USAGE) == set(DOMAINS) == set(Pipeline.by_domain)
    assert all("{ref}" in shell for shell, _ in USAGE.values())
