"""Old import paths of modules that moved (issue 27: scoring into audiodiff/eval/, spacing into sampling/, unique
file names): `import audiodiff.metrics` still works, warns once with the new path, and gives the moved module
itself (one module object under both names, so monkeypatching either patches both)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {
    "audiodiff.evaluate": "audiodiff.eval.evaluate",
    "audiodiff.metrics": "audiodiff.eval.metrics",
    "audiodiff.fad": "audiodiff.eval.fad",
    "audiodiff.pairs": "audiodiff.eval.pairs",
    "audiodiff.wavestats": "audiodiff.eval.wavestats",
    "audiodiff.report": "audiodiff.eval.report",
    "audiodiff.classifier": "audiodiff.eval.scorer",
    "audiodiff.spacing": "audiodiff.sampling.spacing",
    "audiodiff.nets.classifier": "audiodiff.nets.audio_classifier",
    "audiodiff.training.classifier": "audiodiff.training.classification",
    "audiodiff.training.batches": "audiodiff.training.training_data",
    "audiodiff.sampling.options": "audiodiff.sampling.sample_options",
    "audiodiff.data.config": "audiodiff.data.data_config",
    "audiodiff.training.config": "audiodiff.training.train_config",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names only; loading one imports the new module and hands it back."""

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name in MOVED else None

    def create_module(self, spec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; import it from there", DeprecationWarning,
                      stacklevel=3)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was imported under its new name."""


def install() -> None:
    """Put the alias finder on sys.meta_path (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
