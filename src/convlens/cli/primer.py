"""CLI for the convolution primer: `kernels`, `conv-explain`, `pool-explain` (issue 3)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the primer subcommands."""
