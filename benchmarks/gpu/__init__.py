"""GPU runbooks, for a session with a lent GPU: check.sh (with check.py: the training check and report), then
levers.py on the same warm machine; speech_check.sh trains the speech recipes briefly.  Run from the repository
root: `benchmarks/gpu/check.sh`, `python -m benchmarks.gpu.levers`."""
