"""audiodiff's benchmarks (benchmarks/README.md): the regression suite (`python -m benchmarks.suite`), the speed script
(`benchmarks.speed`), the real-recording benchmarks beside them, frozen studies (`benchmarks.studies`), GPU runbooks
(`benchmarks.gpu`) and the library they share (`benchmarks.lib`).  A package, so that they import each other without
sys.path edits: run every one as a module from the repository root.
"""
