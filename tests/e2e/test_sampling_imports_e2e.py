"""The end-to-end tests of tests/sampling/test_sampling_imports.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/sampling/test_sampling_imports.py's docstring."""

import subprocess
import sys


def test_each_module_imports_first_in_a_fresh_interpreter():
    orders = [("audiodiff.sampling.loop", "audiodiff.diffusion"), ("audiodiff.diffusion", "audiodiff.sampling"),
              ("audiodiff.sampling.sample_options", "audiodiff.tasks")]
    procs = []
    for first, then in orders:   # one fresh interpreter per order, all at once
        code = (f"import importlib, sys; importlib.import_module({first!r}); importlib.import_module({then!r}); "
                f"from audiodiff.diffusion import GaussianDiffusion; from audiodiff.sampling import sample; "
                f"assert GaussianDiffusion.sample.__module__ == 'audiodiff.diffusion'")
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
