"""Shared fixtures: run the CLI in-process and capture its output."""
from __future__ import annotations

import os

# Tests must never touch the network or a real dataset download.
os.environ.setdefault("CONVLENS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from convlens.cli import main


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def cli(capsys):
    """Run `convlens ARGS...` in-process; returns CliResult(code, out, err)."""

    def run(*args: str) -> CliResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse --help / usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
