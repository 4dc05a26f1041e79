"""CLI: `convlens train` (start or resume a training run) and `convlens doctor`."""

from __future__ import annotations

import argparse
import sys

from convlens.cli.flags import add_config_flags, add_settings_file, given, settings_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` and `doctor` subcommands."""
    p = sub.add_parser(
        "train",
        help="train a model on a data set; every run gets its own folder",
        description="Train a model and keep everything in a run folder: resolved config, "
        "versions, metrics per epoch (CSV/JSON), last and best checkpoints "
        "(safetensors). Settings: defaults < --config FILE.yaml or --recipe NAME < flags. "
        "Ctrl-C saves a checkpoint; --resume RUN_DIR continues it.",
        examples=[
            'convlens train --model "conv 32 3, maxpool 2, dense 10" --data mnist --epochs 3',
            "convlens train --recipe best --out runs/best",
            "convlens train --budget 2m --out runs/demo",
        ],
    )
    add_settings_file(p)
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR with its saved settings",
    )
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "doctor",
        help="check a run for common training mistakes, one line each with a remedy",
        description="Read a run's metrics and run its model on a test batch: chance-level "
        "accuracy, unnormalised inputs, a loss that rises, oscillates or does not "
        "move, overfitting, dead layers.",
        examples=["convlens doctor runs/demo"],
    )
    p.add_argument("run", help="run folder made by `convlens train`")
    p.set_defaults(func=cmd_doctor)


def cmd_train(args: argparse.Namespace) -> int:
    from convlens.engine import train as training

    try:  # the engine prints each epoch and, last, where the run folder is
        training.start(
            given(args),
            file=settings_file(args),
            resume_from=args.resume,
            trust_code=args.trust_code,
            source="flags",
        )
    except training.TrainingInterrupted as stop:
        run_dir = stop.run_dir if stop.run_dir is not None else args.resume or args.out
        print(f"convlens train: {training.interrupted_line(stop, run_dir)}", file=sys.stderr)
        return 130
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from convlens.engine.doctor import examine

    found = examine(args.run, trust_code=args.trust_code)
    for f in found:
        print(f"doctor: {f.message}")
    if not found:
        print("doctor: nothing to report")
    return 0
