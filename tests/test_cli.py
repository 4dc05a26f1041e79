"""The command line as a whole: help, version, unknown commands."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

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
    "runs",
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


def _subcommands() -> dict:
    from convlens.cli import build_parser, subcommands

    return subcommands(build_parser())


def test_every_command_has_examples_and_every_option_help(cli):
    commands = _subcommands()
    assert sorted(commands) == sorted(COMMANDS)
    for name, parser in commands.items():
        res = cli(name, "--help")
        assert res.code == 0, (name, res)
        examples = res.out.split("\nexamples:\n")
        assert len(examples) == 2, f"{name} --help has no examples section"
        lines = [ln for ln in examples[1].splitlines() if ln.strip()]
        starts = [ln for ln in lines if ln.startswith(("  convlens ", "  curl "))]
        assert 1 <= len(starts) <= 3 and any(f"convlens {name}" in ln for ln in lines), name
        assert all(len(ln) <= 100 for ln in lines), (name, lines)
        for action in parser._actions:
            assert action.help, (
                f"convlens {name}: {action.option_strings or action.dest} has no help"
            )


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["sweep", "--grid", "f=1,2", "--out", "o"],
        ["compare", "mlp"],  # its models are positionals: a bare value after a flag is one
        ["show", "curves", "runs/x"],
        ["summary", "keras_mnist"],
    ],
)
def test_unknown_flag_names_the_subcommand(cli, args):
    res = cli(*args, "--no-such-flag", "7")
    command = args[0]
    assert res.code == 2
    assert res.err == (
        f"convlens {command}: error: unrecognized arguments: --no-such-flag 7 "
        f"(see convlens {command} --help)\n"
    )


def test_help_keeps_prose_wrapped_and_examples_verbatim(cli):
    out = cli("sweep", "--help").out
    assert '\n  convlens sweep --model "conv {f} {k}, maxpool 2, flatten, dense 10" \\\n' in out
    description = out.split("\n\n")[1]
    assert all(len(ln) <= 100 for ln in description.splitlines()), description


def test_image_folder_warnings_are_one_line_each_and_said_once(cli, tmp_path):
    from PIL import Image

    root = tmp_path / "pics"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), 40 * i).save(root / c / f"{i}.png")
    (root / "empty").mkdir()
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    args = ("--data", f"imagefolder:{root}", "--model", "conv 4 3, dense 2", "--epochs", "1")
    res = cli("train", *args, "--out", tmp_path / "run", "--no-progress")
    assert res.code == 0, res
    assert res.err.splitlines() == [
        f"convlens: warning: imagefolder {root}: skipped 1 hidden or non-image entries "
        f"(.DS_Store); images are .png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp, .ico, "
        f".ppm, .pgm files",
        f"convlens: warning: imagefolder {root}: dropped 1 class folder(s) without images: "
        f"empty; 2 classes left",
    ]
