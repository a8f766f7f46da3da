"""The trainer's one error type."""


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, mismatched run directory, …)."""
