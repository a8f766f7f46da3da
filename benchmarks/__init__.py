"""audiodiff's benchmarks: `python -m benchmarks.suite` (the regression suite) and the scripts beside it.

A package so that the suite and its library (benchmarks/lib) import each other without sys.path edits; run it
from the repository root.
"""
