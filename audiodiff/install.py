"""Is this install usable? The torch / torchaudio pair check behind every command, and `audiodiff env`.

torchaudio's compiled library is built against one torch release, but its wheel metadata admits others, so pip
can install a pair that imports torch fine and then fails inside `import torchaudio` (an undefined symbol, a
missing CUDA library). The package imports torchaudio only through this module: a broken pair leaves a stand-in
whose first use raises `InstallError` with one line naming both versions and the pair pyproject.toml asks for.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from typing import Any


class InstallError(ImportError):
    """The installed packages cannot work together; the message says what to install."""


def version_of(dist: str) -> str:
    """The installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def required(dist: str) -> str:
    """audiodiff's own requirement on `dist` (e.g. 'torch>=2.14.1,<2.15'), read from the installed metadata
    so pyproject.toml stays the one place the pair is written."""
    try:
        for req in metadata.requires("audiodiff") or ():
            name = re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]
            if name.lower() == dist.lower() and "extra ==" not in req:
                return req.replace(" ", "")
    except metadata.PackageNotFoundError:  # a checkout run without installing: no metadata to read
        pass
    return dist


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def broken_pair_message(exc: BaseException) -> str:
    """One line: what failed, the installed versions, and the pip command that installs a working pair."""
    want = f"pip install '{required('torch')}' '{required('torchaudio')}'"
    return (f"torchaudio {version_of('torchaudio')} cannot load with torch {version_of('torch')} "
            f"({_first_line(exc)}); install the pair audiodiff is tested with: {want}")


class _BrokenModule:
    """Stands in for a module that failed to import: any attribute access raises InstallError."""

    def __init__(self, error: BaseException):
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise InstallError(broken_pair_message(self._error))


try:
    import torchaudio  # noqa: F401  (re-exported: the package's modules import torchaudio from here)
    import torchaudio.functional  # noqa: F401
    import torchaudio.transforms  # noqa: F401
    TORCHAUDIO_ERROR: BaseException | None = None
except (OSError, ImportError, RuntimeError) as _exc:  # undefined symbol / missing .so / not installed
    TORCHAUDIO_ERROR = _exc
    torchaudio = _BrokenModule(_exc)  # type: ignore[assignment]


def check_install() -> None:
    """Raise InstallError unless torchaudio loads and runs one transform with this torch (≈ 50 ms)."""
    if TORCHAUDIO_ERROR is not None:
        raise InstallError(broken_pair_message(TORCHAUDIO_ERROR))
    import torch

    try:
        torchaudio.transforms.MelSpectrogram(sample_rate=8000, n_fft=256, n_mels=16)(torch.zeros(512))
    except (OSError, RuntimeError) as exc:
        raise InstallError(broken_pair_message(exc)) from None


# ---- `audiodiff env` -------------------------------------------------------------------------------------

def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores_available() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow), not the
    machine's count: torch's default thread count can exceed it, and its threads then spin against each other."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_record(device: str) -> dict[str, object]:
    """A short description of where a run trained, for its config.json: CPU, cores, threads, bf16, GPU."""
    import torch

    from .precision import CPU_BF16_FLAGS, cpu_flags

    record: dict[str, object] = {"cpu": cpu_name(), "cores": cores_available(), "threads": torch.get_num_threads(),
                                 "cpu_bf16": sorted(cpu_flags() & set(CPU_BF16_FLAGS)), "device": str(device),
                                 "torch": torch.__version__}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return record


def environment() -> list[tuple[str, str]]:
    """(name, value) rows describing this install, for bug reports. Never raises for a missing piece."""
    import torch

    rows = [("audiodiff", version_of("audiodiff")), ("Python", platform.python_version()),
            ("OS", platform.platform()), ("torch", torch.__version__), ("torchaudio", version_of("torchaudio")),
            ("torchaudio loads", "yes" if TORCHAUDIO_ERROR is None else f"NO ({_first_line(TORCHAUDIO_ERROR)})")]
    try:
        import soundfile

        rows.append(("soundfile", f"{soundfile.__version__} (libsndfile {soundfile.__libsndfile_version__})"))
    except (ImportError, OSError) as exc:
        rows.append(("soundfile", f"cannot load ({_first_line(exc)})"))
    rows += [("librosa", version_of("librosa")), ("numpy", version_of("numpy"))]
    from .precision import CPU_BF16_FLAGS, bf16_native, cpu_flags

    bf16 = sorted(cpu_flags() & set(CPU_BF16_FLAGS))
    rows += [("CPU", f"{cpu_name()}, {os.cpu_count()} logical cores, {cores_available()} available to this process"),
             ("CPU bf16 native", f"yes ({', '.join(bf16)})" if bf16 else "no (no AMX / avx512_bf16)"),
             ("torch threads", f"{torch.get_num_threads()} (train uses [train] threads, default this capped at the "
                               f"cores available, shared among the processes of a run)")]
    rows.append(("CUDA (torch built with)", torch.version.cuda or "none (CPU build)"))
    if torch.cuda.is_available():
        rows.append(("cuDNN", str(torch.backends.cudnn.version())))
        try:
            nccl = torch.cuda.nccl.version()
            rows.append(("NCCL", ".".join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl)))
        except (AttributeError, RuntimeError):
            rows.append(("NCCL", "not available"))
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            native = bf16_native(f"cuda:{i}")
            rows.append((f"GPU {i}", f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability "
                                     f"{p.major}.{p.minor}, bf16 native: {'yes' if native else 'no'}"))
    else:
        rows.append(("GPU", "none visible (torch.cuda.is_available() is False)"))
    return rows


def format_environment(rows: list[tuple[str, str]]) -> str:
    """Markdown bullet list: pastes straight into a GitHub issue."""
    return "\n".join(f"- {name}: {value}" for name, value in rows)
