"""The command line as a whole: help, version, unknown commands."""

from __future__ import annotations

import re
import subprocess
import sys

COMMANDS = (
    "summary",
    "draw",
    "models",
    "kernels",
    "conv-explain",
    "pool-explain",
    "train",
    "lr-find",
    "eval",
    "predict",
    "show",
    "report",
    "serve",
    "sweep",
    "compare",
    "doctor",
)


def test_help_lists_commands(cli):
    res = cli("--help")
    assert res.code == 0 and res.out.startswith("usage: convlens ")
    listing = res.out.split("positional arguments:")[1].split("options:")[0]
    # argparse lists each command at the start of a line indented by four spaces
    listed = re.findall(r"^    (\S+)", listing, flags=re.MULTILINE)
    assert sorted(listed) == sorted(COMMANDS)
    for command in COMMANDS:
        assert (
            len(re.findall(rf"^    {re.escape(command)}(?:\s|$)", res.out, flags=re.MULTILINE)) == 1
        ), command


def test_unknown_command_is_one_line_exit_2(cli):
    res = cli("frobnicate")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert "invalid choice: 'frobnicate'" in lines[0]


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "convlens", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert out.stdout.startswith("convlens ")
