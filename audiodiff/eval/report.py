"""A report page to listen to and look at clips: one self-contained HTML file, no external URLs.

    clips ──16-bit PCM WAV (audio.wav_bytes)──► <audio controls src="data:audio/wav;base64,…">
          ──log-mel image (features.preview_image, png.png_bytes)──► <img src="data:image/png;base64,…">
    + an optional metric table (name → number) and model card (name → value), as HTML tables.

Clips are laid out as a grid, one section per label (in order of first appearance; unlabelled clips last)
when any clip has a label.  Every piece of text goes through html.escape, and a Content-Security-Policy
forbids the page to load anything but its own data: URIs, so it works offline and from any folder.
Size: 16-bit audio is 32 kB per second at 16 kHz (×4/3 in base64), so 32 one-second clips make a page of
about 1.5 MB; each spectrogram is a small PNG (a few tens of kB at most) that the browser scales.

`write_report` writes the page atomically (a temp file beside it, then a rename); `model_card` gathers a
trained run's card (recipe name, steps trained, sampler settings, audiodiff version) from its config.json.
"""

from __future__ import annotations

import base64
import html
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import __version__
from ..audio import wav_bytes
from ..atomic import atomic_write
from ..features import preview_image
from ..png import png_bytes
from .sanity import summary_rows

# Spectrogram images: one pixel per mel bin and frame, repeated only to reach this size for short clips
# (pixels); the browser scales them to the grid cell.
IMAGE_MIN_HEIGHT = 64
IMAGE_MIN_WIDTH = 100
UNLABELLED = "unlabelled"

_CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f6f8;color:#222}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.2rem 0 .5rem}
.summary,.count{color:#666;font-weight:normal}
.tables{display:flex;flex-wrap:wrap;gap:1.5rem;margin-bottom:1rem}
table{border-collapse:collapse;background:#fff}td,th{padding:.2rem .6rem;border:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:.8rem}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4rem}
figure img{display:block;width:100%;height:90px;border-radius:3px}
figcaption{font-size:.85rem;margin:.3rem 0;overflow-wrap:anywhere}
audio{width:100%;height:32px}
""".strip()


@dataclass
class ReportClip:
    """One clip of a report: `audio` float32 [L] in [−1, 1] (a tensor or array is converted), its rate,
    and an optional label that groups it on the page."""

    name: str
    audio: np.ndarray
    sample_rate: int
    label: str | None = None

    def __post_init__(self) -> None:
        audio = self.audio.detach().float().cpu().numpy() if hasattr(self.audio, "detach") else self.audio
        self.audio = np.asarray(audio, dtype=np.float32)
        if self.audio.ndim != 1 or self.audio.size == 0:
            raise ValueError(f"report clip {self.name!r}: audio must be a non-empty mono array [L], "
                             f"got shape {self.audio.shape}")
        if not np.isfinite(self.audio).all():
            raise ValueError(f"report clip {self.name!r}: audio contains NaN or infinite samples")
        if int(self.sample_rate) < 1:
            raise ValueError(f"report clip {self.name!r}: sample_rate must be >= 1, got {self.sample_rate}")
        self.sample_rate = int(self.sample_rate)


def write_report(path: str | Path, clips: Sequence[ReportClip], metrics: Mapping[str, Any] | None = None,
                 card: Mapping[str, Any] | None = None, title: str = "audiodiff report",
                 card_title: str = "Model") -> Path:
    """Write the report page for `clips` (see the module docstring) to `path`, atomically; returns the path.
    `card_title` heads the card's table (e.g. "Data" when the clips are recordings, not samples)."""
    page = render_report(clips, metrics, card, title, card_title)
    return atomic_write(path, lambda f: f.write(page.encode("utf-8")))


def write_sample_report(path: str | Path, clips: Sequence[tuple[str, Any]], pipe: Any,
                        labels: Sequence[int] | None = None, **settings: Any) -> Path:
    """`audiodiff sample --report`: the page for generated (name, wave [L]) pairs, with the run's model card
    (`settings`: the sampler options used, see model_card) and, with labels (one class per clip), a section per
    class."""
    names = [None] * len(clips) if labels is None else [class_name(pipe, k) for k in labels]
    kinds = sorted(set(labels or []))
    label = None if labels is None else (kinds[0] if len(kinds) == 1 else "each")
    return write_report(path, [ReportClip(n, wave, pipe.sample_rate, name) for (n, wave), name in zip(clips, names)],
                        card=model_card(pipe, label=label, **settings),
                        title=f"audiodiff samples: {pipe.config.get('name') or 'model'}")


def write_eval_report(path: str | Path, result: Any, samples: str | Path, classifier: str | Path,
                      extra_metrics: Mapping[str, Any] | None = None) -> Path:
    """`audiodiff eval --report`: the page for an audiodiff.eval.evaluate.EvalResult, clips grouped by their label
    (else by the class the classifier heard), its metrics (plus numeric `extra_metrics`: FAD, SI-SDR) and an
    evaluation card."""
    clips = [ReportClip(c.name, c.audio, c.sample_rate,
                        c.label if c.label is not None else (f"heard as {c.predicted}" if c.predicted else None))
             for c in result.clips]
    numeric = {k: v for k, v in {**result.metrics, **(extra_metrics or {})}.items()
               if isinstance(v, numbers.Number)}
    card = {"samples": str(samples), "classifier": str(classifier), "reference": result.reference,
            "skipped files": len(result.skipped), "audiodiff version": __version__}
    if getattr(result, "sanity", None):
        card.update(summary_rows(result.sanity, names=5))
    return write_report(path, clips, metrics=numeric, card=card, title=f"audiodiff eval: {samples}",
                        card_title="Evaluation")


def render_report(clips: Sequence[ReportClip], metrics: Mapping[str, Any] | None = None,
                  card: Mapping[str, Any] | None = None, title: str = "audiodiff report",
                  card_title: str = "Model") -> str:
    """The report page as an HTML string."""
    clips = list(clips)
    if not clips:
        raise ValueError("a report needs at least one clip")
    tables = []
    if card:
        tables.append(_table(card_title, card, numbers_right=False))
    if metrics:
        tables.append(_table("Metrics", metrics, numbers_right=True))
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>{_esc(title)}</title><link rel="icon" href="data:,"><style>{_STYLE}</style></head><body>',
        f'<header><h1>{_esc(title)}</h1><p class="summary">{_esc(_summary(clips))}</p></header>',
    ]
    if tables:
        parts.append(f'<div class="tables">{"".join(tables)}</div>')
    for label, members in _groups(clips):
        heading = "" if label is None else (
            f'<h2>{_esc(label)} <span class="count">({len(members)} clip{"s" * (len(members) != 1)})</span></h2>')
        cells = "\n".join(_figure(c) for c in members)
        parts.append(f'<section class="group">{heading}<div class="grid">\n{cells}\n</div></section>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def model_card(pipe: Any, sampler: str | None = None, steps: int | None = None, eta: float | None = None,
               seed: int | None = None, label: int | str | None = None, guidance: float | None = None,
               guidance_interval: list[float] | None = None, vocoder: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """A trained run's card for a report: recipe name, steps trained, network, the sampler settings used
    (the given ones, else the run's [sample] defaults), seed, label, what turned mels into audio (mel runs:
    `vocoder`, else Griffin-Lim) and audiodiff version; `extra` entries are appended.  Entries that do not
    apply are left out."""
    config, run = pipe.config, pipe.sample_options
    call = run.resolve(sampler=sampler, steps=steps, eta=eta)   # what Pipeline.sample ran with
    sampler, eta, plan = call.name, call.step_options.get("eta"), call.plan_options
    steps = call.steps or len(plan.get("levels") or plan.get("fast_betas") or []) or \
        f"{pipe.diffusion.num_steps} (every training step)"
    n_params = sum(p.numel() for p in pipe.model.parameters())
    card = {
        "recipe": config.get("name"),
        "steps trained": config.get("step"),
        "model": f"{config.get('model', {}).get('type', '?')}, {n_params:,} parameters",
        "domain": pipe.domain,
        "sample rate": f"{pipe.sample_rate} Hz",
        "sampler": sampler,
        "sampling steps": steps,
        "eta": eta,
        "seed": "random" if seed is None else seed,
        "label": None if label is None else ("each class in turn" if label == "each" else
                                             f"{label} ({class_name(pipe, label)})"),
        "guidance": (guidance if guidance is not None else run.guidance) if label is not None else None,
        "guided at noise levels σ": guided_levels(run.guidance_interval if guidance_interval is None
                                                  else guidance_interval) if label is not None else None,
        "mels decoded by": (vocoder or "Griffin-Lim") if hasattr(pipe, "decode") else None,
        **extra,
        "audiodiff version": __version__,
    }
    return {k: v for k, v in card.items() if v is not None}


def guided_levels(interval: list[float]) -> str | None:
    """A guidance interval for a card: "lo – hi", or None (no entry) when guidance applies at every step."""
    return f"{interval[0]:g} – {interval[1]:g}" if interval else None


def class_name(pipe: Any, label: int) -> str:
    """A class-conditional run's name for class `label` (config.json class_names), else the number."""
    names = pipe.config.get("class_names") or []
    return str(names[label]) if 0 <= label < len(names) else str(label)


# ----------------------------------------------------------------- pieces of the page
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure(clip: ReportClip) -> str:
    try:
        rgb = preview_image(clip.audio, clip.sample_rate, min_height=IMAGE_MIN_HEIGHT, min_width=IMAGE_MIN_WIDTH)
    except ValueError as exc:   # too short for one spectrogram frame
        raise ValueError(f"report clip {clip.name!r}: {exc}") from None
    h, w, _ = rgb.shape
    name = _esc(clip.name)
    image = _data_uri("image/png", png_bytes(rgb))
    audio = _data_uri("audio/wav", wav_bytes(clip.audio, clip.sample_rate))
    return (f'<figure class="clip"><img src="{image}" width="{w}" height="{h}" alt="spectrogram of {name}">'
            f'<figcaption>{name}</figcaption><audio controls preload="metadata" src="{audio}"></audio></figure>')


def _groups(clips: list[ReportClip]) -> list[tuple[str | None, list[ReportClip]]]:
    """[(label, clips)] in order of first appearance, unlabelled last; [(None, clips)] when none has a label."""
    if all(c.label is None for c in clips):
        return [(None, clips)]
    groups: dict[str, list[ReportClip]] = {}
    for c in clips:
        if c.label is not None:
            groups.setdefault(str(c.label), []).append(c)
    rest = [c for c in clips if c.label is None]
    return list(groups.items()) + ([(UNLABELLED, rest)] if rest else [])


def _summary(clips: list[ReportClip]) -> str:
    n = f"{len(clips)} clip{'s' * (len(clips) != 1)}"
    rates = {c.sample_rate for c in clips}
    if len(rates) != 1:
        return n
    rate = rates.pop()
    lengths = {c.audio.size for c in clips}
    each = f" · {lengths.pop() / rate:.3g} s each" if len(lengths) == 1 else ""
    return f"{n} · {rate} Hz{each}"


def _table(heading: str, rows: Mapping[str, Any], numbers_right: bool) -> str:
    """A two-column table; numbers_right aligns numeric values (a metric table) on the right."""
    cells = [(_esc(k), ' class="num"' if numbers_right and _is_number(v) else "", _esc(_format(v)))
             for k, v in rows.items()]
    body = "".join(f"<tr><th>{k}</th><td{cls}>{v}</td></tr>" for k, cls, v in cells)
    return f"<section><h2>{_esc(heading)}</h2><table>{body}</table></section>"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _format(value: Any) -> str:
    """Numbers to 4 significant digits (integers whole); mappings as 'key: value, …'; anything else as str."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    return str(value)
