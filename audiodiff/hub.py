"""Runs on the Hugging Face Hub: `hf://org/name[@revision]` → a local folder, and a run → a Hub repository.

`resolve(ref)` fetches a run's config.json and model.safetensors through `huggingface_hub` (the optional extra:
pip install 'audiodiff[hub]') into its cache and returns the snapshot folder holding them.  It is called by
`Pipeline.from_pretrained`, the one place every load goes through (`audiodiff.load`, the CLI's --model, a mel
run's --vocoder), *before* that code reads the folder: a model from the Hub then gets exactly the checks a local
run gets (audiodiff/model_check.py: config values bounded, weight shapes compared with the safetensors header
before anything is allocated).  Only those two files are fetched, never a pickle such as training_state.pt.

Offline use: HF_HUB_OFFLINE=1 or `local_files_only=True` reads the cache only; the cache is HF_HUB_CACHE, else
HF_HOME/hub, else huggingface_hub's default, read at each call (so a change made after import counts).

`push(pipe, repo)` (`Pipeline.push_to_hub`) uploads config.json + model.safetensors + a README.md model card
written from the config in one commit.  Every failure is a HubError: one line naming the repository and what to do.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import checkpoint as ckpt

if TYPE_CHECKING:
    from .pipeline import Pipeline

SCHEME = "hf://"
FILES = (ckpt.CONFIG, ckpt.WEIGHTS)            # what a run on the Hub must hold; nothing else is fetched
CARD = "README.md"
INSTALL_HINT = "pip install 'audiodiff[hub]'"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?"
_REFERENCE = re.compile(rf"(?P<repo>{_NAME}/{_NAME})(?:@(?P<revision>[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*))?")
_TRUE = {"1", "on", "yes", "true"}
# What the model card shows for each domain: a command line and a Python line.
USAGE = {
    "waveform": ("audiodiff sample --model {ref} --n 16 --out wavs/", "wav = pipe.sample(n=4, seed=0)"),
    "mel": ("audiodiff sample --model {ref} --n 16 --out wavs/", "wav = pipe.sample(n=4, seed=0)"),
    "vocoder": ("audiodiff vocode SPEECH.wav --model {ref} --out OUT.wav",
                "wav = pipe.resynthesize(speech, sample_rate=rate)"),
    "denoiser": ("audiodiff denoise NOISY.wav --model {ref} --out CLEAN.wav",
                 "clean = pipe.denoise(noisy, sample_rate=rate)"),
    "bandwidth": ("audiodiff upsample NARROW.wav --model {ref} --out WIDE.wav",
                  "wide = pipe.upsample(narrow, from_rate=8000)"),
    "gapfill": ("audiodiff inpaint SONG.wav --gap 1.20:1.40 --model {ref} --out FIXED.wav",
                "fixed = pipe.inpaint(song, gap_mask)"),
}


class HubError(ValueError):
    """A Hub reference, download or upload that failed; a ValueError, so the CLI prints it as one line."""


def is_reference(ref: str | os.PathLike) -> bool:
    """Whether `ref` names a Hub run: "hf://…", also as a Path (which folds "hf://org/name" to "hf:/org/name")."""
    text = os.fspath(ref) if isinstance(ref, os.PathLike) else str(ref)
    return text == "hf:" or text.startswith("hf:/")


def parse(ref: str | os.PathLike) -> tuple[str, str | None]:
    """"hf://org/name[@revision]" → ("org/name", revision or None); HubError for anything else."""
    text = os.fspath(ref) if isinstance(ref, os.PathLike) else str(ref)
    body = re.sub(r"^hf:/{0,2}", "", text)
    match = _REFERENCE.fullmatch(body)
    if not match:
        raise HubError(f"{SCHEME + body!r} is not a Hub model reference: write {SCHEME}ORG/NAME or "
                       f"{SCHEME}ORG/NAME@REVISION (a branch, tag or commit)")
    return match["repo"], match["revision"]


def offline(local_files_only: bool = False) -> bool:
    """local_files_only, or HF_HUB_OFFLINE set to 1 / on / yes / true."""
    return local_files_only or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cache_dir() -> Path | None:
    """HF_HUB_CACHE, else HF_HOME/hub, else None (huggingface_hub's own default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return None


def _hub() -> tuple[Any, Any]:
    """(huggingface_hub, huggingface_hub.utils: where every release since 0.20 exports its errors), or a HubError
    saying how to install it."""
    try:
        import huggingface_hub
        import huggingface_hub.utils
    except ImportError:
        raise HubError(f"models on the Hugging Face Hub need huggingface_hub: {INSTALL_HINT}") from None
    return huggingface_hub, huggingface_hub.utils


def resolve(ref: str | os.PathLike, local_files_only: bool = False, token: str | None = None) -> Path:
    """The local snapshot folder holding the run's config.json and model.safetensors, fetched when needed.

    The weights are fetched at the commit the config came from, so that a push between the two downloads cannot
    pair one commit's config with another's weights."""
    repo, revision = parse(ref)
    name = f"{SCHEME}{repo}" + (f"@{revision}" if revision else "")
    hub, errors = _hub()
    local = offline(local_files_only)
    folder = cache_dir()
    try:
        config = Path(hub.hf_hub_download(repo, ckpt.CONFIG, revision=revision, cache_dir=folder, token=token,
                                          local_files_only=local))
        snapshot = config.parent
        hub.hf_hub_download(repo, ckpt.WEIGHTS, revision=snapshot.name, cache_dir=folder, token=token,
                            local_files_only=local)
    except errors.LocalEntryNotFoundError:
        where = folder or "huggingface_hub's default cache"
        if local:
            raise HubError(f"{name} is not in the Hugging Face cache ({where}) and downloads are off "
                           f"(HF_HUB_OFFLINE=1 or local_files_only): download it once online, or point "
                           f"HF_HUB_CACHE at a cache that holds it") from None
        raise HubError(f"{name}: the Hugging Face Hub cannot be reached and the cache ({where}) does not hold "
                       f"it: check the connection, or set HF_ENDPOINT for a mirror") from None
    except errors.GatedRepoError:
        raise HubError(f"{name} is gated: accept its terms on the Hub and log in (hf auth login)") from None
    except errors.RepositoryNotFoundError:
        raise HubError(f"{name}: no such model repository on the Hub (or it is private: log in with "
                       f"hf auth login, or pass token=)") from None
    except errors.RevisionNotFoundError:
        raise HubError(f"{name}: the repository has no revision {revision!r} (a branch, tag or commit)") from None
    except errors.EntryNotFoundError as exc:
        missing = ckpt.WEIGHTS if ckpt.WEIGHTS in str(exc) else ckpt.CONFIG
        raise HubError(f"{name} holds no {missing}: not an audiodiff run (push one with "
                       f"pipe.push_to_hub)") from None
    except (errors.HFValidationError, errors.HfHubHTTPError, OSError) as exc:
        raise HubError(f"{name}: {_first_line(exc)}") from None
    return snapshot


def push(pipe: "Pipeline", repo: str, token: str | None = None, private: bool = False,
         commit_message: str | None = None) -> str:
    """Upload pipe's config.json + model.safetensors + a README.md model card to `repo` ("org/name" or
    "hf://org/name"), creating the repository when missing (private if asked); returns the commit's URL."""
    name, revision = parse(repo if is_reference(repo) else f"{SCHEME}{repo}")
    if revision:
        raise HubError(f"push_to_hub takes a repository (org/name), not a revision: got {repo!r}")
    hub, errors = _hub()
    api = hub.HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="audiodiff-push-") as tmp:
        folder = pipe.save_pretrained(tmp)
        (folder / CARD).write_text(model_card(pipe, name), encoding="utf-8")
        try:
            api.create_repo(name, private=private, exist_ok=True, repo_type="model")
            info = api.upload_folder(repo_id=name, folder_path=str(folder), repo_type="model",
                                     allow_patterns=[*FILES, CARD],
                                     commit_message=commit_message or f"Upload {pipe.config.get('name', 'run')} "
                                                                      f"(audiodiff)")
        except (errors.HfHubHTTPError, errors.HFValidationError, OSError) as exc:
            raise HubError(f"cannot push to {SCHEME}{name}: {_first_line(exc)}") from None
    return str(getattr(info, "commit_url", None) or info)


def model_card(pipe: "Pipeline", repo: str) -> str:
    """README.md for the Hub: front matter, what the run is (recipe, domain, network, size, training) and its latest
    evaluation, and how to load it."""
    config = pipe.config
    model = config.get("model", {}) if isinstance(config.get("model"), dict) else {}
    recipe = str(config.get("name") or "audiodiff run")
    domain = str(config.get("domain", "waveform"))
    parameters = sum(p.numel() for p in pipe.model.parameters())
    rows = [("Recipe", recipe), ("Domain", domain), ("Model", f"{model.get('type', '?')}, {parameters:,} parameters"),
            ("Sample rate", f"{config.get('sample_rate', '?')} Hz"),
            ("Clip length", f"{config.get('clip_length', '?')} samples"),
            ("Training steps", f"{config['step']:,}" if isinstance(config.get("step"), int) else "unknown")]
    if config.get("trained_minutes"):
        rows.append(("Training time", f"{float(config['trained_minutes']):.1f} min"))
    lines = ["---", "library_name: audiodiff", "tags:", "- audio", "- diffusion", "- audiodiff", f"- {domain}",
             "---", "", f"# {recipe}", "",
             f"A{'n audio denoiser' if domain == 'denoiser' else ' denoising diffusion model for audio'} trained with "
             "[audiodiff](https://pypi.org/project/audiodiff/).",
             "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    metrics = latest_eval(pipe)
    if metrics:
        step = metrics.get("step")
        lines += ["## Evaluation", "", f"Latest evaluation{f' (step {step:,})' if isinstance(step, int) else ''}:",
                  "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_number(v)} |" for k, v in metrics.items() if k not in ("step", "time")
                  and isinstance(v, (int, float)) and not isinstance(v, bool)]
        lines.append("")
    shell, python = USAGE.get(domain, USAGE["waveform"])
    lines += ["## Use", "", "```bash", "pip install 'audiodiff[hub]'", shell.format(ref=SCHEME + repo), "```", "",
              "```python", "import audiodiff as ad", f'pipe = ad.load("{SCHEME}{repo}")', python, "```", ""]
    return "\n".join(lines)


def latest_eval(pipe: "Pipeline") -> dict[str, Any]:
    """The run's latest evaluation scores: config.json's "eval" (a best/ export), else the last line of the
    metrics.jsonl that training's evaluator wrote beside the folder the pipeline was loaded from ({} if none)."""
    record = pipe.config.get("eval")
    if isinstance(record, dict) and record:
        return dict(record)
    source = getattr(pipe, "source", None)
    path = Path(source) / "metrics.jsonl" if source else None
    if path is None or not path.is_file():
        return {}
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue   # a torn last line from a killed run
        if isinstance(record, dict):
            return record
    return {}


def _number(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:.4g}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
