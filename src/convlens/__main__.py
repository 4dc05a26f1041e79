"""`python -m convlens` is the `convlens` command (and what `torchrun -m convlens` runs)."""

from convlens.cli import run

run()
