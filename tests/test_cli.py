"""The command line as a whole: help, version, unknown commands."""
from __future__ import annotations

import subprocess
import sys


def test_help_lists_commands(cli):
    res = cli("--help")
    assert res.code == 0
    assert "convlens" in res.out


def test_unknown_command_is_one_line_exit_2(cli):
    res = cli("frobnicate")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert "invalid choice: 'frobnicate'" in lines[0]


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "convlens", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("convlens ")
