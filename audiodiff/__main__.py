"""`python -m audiodiff …` (and `torchrun -m audiodiff …`) runs the CLI."""

from .cli import main

main()
