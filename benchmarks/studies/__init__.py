"""Frozen studies: each script answered one question once (its first docstring line says which, and where in
benchmarks/LOG.md the answer is).  They are kept so the figures can be re-measured, not extended: a question that
must be asked on every commit belongs in the suite.  Run as `python -m benchmarks.studies.NAME` from the root."""
