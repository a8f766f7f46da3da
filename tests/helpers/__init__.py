"""Helpers the test modules share, one module a concern (conftest.py holds only fixtures; no test module
imports another):

- recipes: tiny recipes and networks, the TOML writer, the repository root
- audio: generated tones and WAV folders
- corpora: dataset trees in each corpus's real layout, archives of them, `load_folder`
- sound_classes: ten synthetic sound classes and the classifier recipe trained on them
- speech_like: a generated speech-like signal, noise at a given SNR, a voice folder of it
- vocoder: the tiny vocoder recipe and the clip it overfits
- mel: tones, fitted mel features and raw recipes of each audio domain for the mel-domain tests
- denoiser: the supervised denoiser's conditioned U-Net, noise folders and tiny recipe
- distill: the teachers the distillation tests train and distil
- report: the report page read back (HTML parser, data: URIs) and the clips put on it
- measures: spectrogram distances and PNG sizes the tests check outputs with
- runs: tiny runs trained in-process (unconditional, class-conditional); reading a run directory's tensors and
  TensorBoard events, comparing them
- cli: the checkout's `cli.py` in a subprocess and its one-line errors
- processes: child processes of the trainer: their environment, waiting on them, kill -9
- child_cli: the real CLI inside a child script (under torchrun)
- disks: a small tmpfs for full-disk tests
- http_server: a local HTTP server that cuts, stalls or refuses downloads
- hub: an empty, offline Hugging Face cache
- imports: the import-cycle finder and the benchmarks' modules
- oracle: the analytic Gaussian denoiser and the exact laws samplers are checked against
- browser: a headless Chromium driven over the DevTools protocol
"""
