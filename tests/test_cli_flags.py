"""The TrainConfig flags, generated once (convlens.cli.flags), and a `convlens` that answers
--help and argument errors without importing torch."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from convlens.cli import build_parser, subcommands
from convlens.cli.flags import SPECIAL, flag
from convlens.config import DATA_SETS, TrainConfig, experiment_config

FIELDS = {f.name: f for f in fields(TrainConfig)}
# what each command declares for itself instead of the field's flag
OWN = {"train": set(), "lr-find": {"out", "steps"}, "sweep": {"model", "out"}, "compare": {"out"}}


def _config_actions(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """The parser's actions by the TrainConfig field they set."""
    found: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        if action.dest in FIELDS:
            found.setdefault(action.dest, []).append(action)
    return found


def test_every_field_has_exactly_one_generated_flag_with_help():
    train = subcommands(build_parser())["train"]
    actions = _config_actions(train)
    assert set(actions) == set(FIELDS), set(FIELDS) ^ set(actions)
    for name, field in FIELDS.items():
        assert len(actions[name]) == 1, name
        (action,) = actions[name]
        assert field.metadata["help"], f"TrainConfig.{name} has no help in its metadata"
        assert action.help.startswith(field.metadata["help"].replace("%", "%%")), name
        assert flag(name) in action.option_strings, (name, action.option_strings)
        if str(field.type).startswith("bool") and name not in SPECIAL:  # --x and --no-x
            assert action.option_strings == [flag(name), "--no-" + flag(name)[2:]], name


@pytest.mark.parametrize("command", sorted(OWN))
def test_train_lr_find_sweep_and_compare_take_the_generated_flags(command):
    parser = subcommands(build_parser())[command]
    for name, actions in _config_actions(parser).items():
        assert len(actions) == 1, (command, name)
        if name not in OWN[command]:  # the help comes from the field: the flag is generated
            assert actions[0].help.startswith(FIELDS[name].metadata["help"]), (command, name)


def test_existing_spellings_still_parse():
    train = subcommands(build_parser())["train"]
    args = train.parse_args(
        ["--no-doctor", "--no-progress", "--tensorboard", "--normalize", "none", "--lr", "find"]
        + ["--max-params", "2.5e9", "--no-channels-last", "--compile", "--amp", "bf16"]
    )
    assert (args.doctor, args.progress, args.tensorboard, args.normalize) == (
        False,
        False,
        True,
        False,
    )
    assert (args.lr, args.max_params, args.channels_last, args.compile) == (
        "find",
        2.5e9,
        False,
        True,
    )
    assert args.epochs is None and args.seed is None  # not given: the file or default decides


@pytest.mark.parametrize(
    ("words", "tta"),
    [([], None), (["--tta"], True), (["--no-tta"], False), (["--tta", "flip,shift"], "flip,shift")]
    + [(["--tta", "shift", "--epochs", "2"], "shift"), (["--tta=none"], "none")]
    + [(["--tta", "auto"], "auto"), (["--tta", "true"], True), (["--tta=False"], False)],
)
def test_tta_flag_takes_views_or_none(words, tta):
    train = subcommands(build_parser())["train"]
    assert train.parse_args(words).tta == tta


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (
            ["--tta", "runs/x"],
            "Expected true, false, 'auto', 'flip', 'shift', 'flip,shift' or "
            "'none' for tta. Received: tta='runs/x'",
        ),
        (["--no-tta", "--tta"], None),
    ],
)
def test_tta_flag_refuses_a_word_that_is_no_view(cli, words, said):
    r = cli("train", *words, "--epochs", "0")
    assert r.code == 2
    if said:
        assert r.err.strip().splitlines() == [
            f"convlens train: error: argument --tta/--no-tta: {said} (see convlens train --help)"
        ]


def test_train_help_lists_the_data_sets_and_defaults(cli):
    from convlens.data import sources

    shipped = [
        cls.name
        for cls in sources.REGISTRY.values()
        if cls.__module__ == "convlens.data.sources"  # not the test-only sets of conftest
    ]
    assert list(DATA_SETS) == shipped, "name the data set in convlens.config.DATA_SETS too"
    r = cli("train", "--help")
    text = " ".join(r.out.split())
    assert f"data set: {', '.join(shipped)}" in text
    assert "images per training step (default: 256)" in text
    assert "--doctor, --no-doctor" in r.out
    assert "--tta [VIEWS], --no-tta" in r.out


def test_sweep_and_compare_show_and_use_the_experiment_recipe(cli, tmp_path):
    recipe = experiment_config()
    assert (recipe.optimizer, recipe.lr, recipe.batch_size, recipe.epochs) == ("adam", 2e-3, 128, 3)
    for command in ("sweep", "compare"):
        text = " ".join(cli(command, "--help").out.split())
        assert "src/convlens/recipes/experiment.yaml" in text, command
        assert "images per training step (default: 128)" in text, command
    import convlens as cl

    for function in (cl.sweep, cl.compare):  # the Python door names the same recipe
        assert "src/convlens/recipes/experiment.yaml" in " ".join(function.__doc__.split())
    from convlens.cli.sweep import _experiment

    compare = subcommands(build_parser())["compare"]
    assert _experiment(compare.parse_args([])) == recipe
    (tmp_path / "mine.yaml").write_text("epochs: 5\nbatch_size: 64\n")
    args = compare.parse_args(["--config", str(tmp_path / "mine.yaml"), "--epochs", "7"])
    mine = _experiment(args)  # the file replaces the recipe; flags override the file
    assert (mine.epochs, mine.batch_size, mine.optimizer) == (7, 64, TrainConfig().optimizer)


COMMANDS = (
    ["--help"],
    ["train", "--help"],
    ["compare", "--help"],
    ["show", "--help"],
    ["train", "--epochs", "x"],
)


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_help_and_argument_errors_do_not_import_torch(argv):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "convlens", *argv],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert done.returncode == (2 if "x" in argv else 0), done.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M))
    assert "convlens.cli" in imported  # the measurement saw the imports
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "numpy", "matplotlib")}
    assert not heavy, sorted(heavy)[:10]


def test_a_mistyped_command_gets_the_closest_one(cli):
    r = cli("trian")
    assert r.code == 2
    assert r.err.startswith(
        "convlens: error: argument COMMAND: invalid choice: 'trian' (did you mean 'train'?) "
        "(choose from "
    )
    assert len(r.err.strip().splitlines()) == 1
    assert "did you mean" not in cli("zzzz").err  # nothing close: only the list
