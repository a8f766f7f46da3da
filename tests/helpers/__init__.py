"""Helpers the test modules share, one module a concern (conftest.py holds only fixtures; no test module
imports another):

- recipes: tiny recipes and networks, the TOML writer, the repository root
- audio: generated tones and WAV folders
- corpora: dataset trees in each corpus's real layout, archives of them, `load_folder`
- sound_classes: ten synthetic sound classes and the classifier recipe trained on them
- vocoder: the tiny vocoder recipe and the clip it overfits
- measures: spectrogram distances and PNG sizes the tests check outputs with
- runs: a tiny run trained in-process; reading a run directory's tensors and TensorBoard events, comparing them
- cli: the checkout's `cli.py` in a subprocess and its one-line errors
- processes: child processes of the trainer: their environment, waiting on them, kill -9
- child_cli: the real CLI inside a child script (under torchrun)
- disks: a small tmpfs for full-disk tests
- oracle: the analytic Gaussian denoiser and the exact laws samplers are checked against
- browser: a headless Chromium driven over the DevTools protocol
"""
