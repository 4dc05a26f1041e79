"""CLI: `convlens compare` (a CNN and the MLP baseline, same data and budget)."""

from __future__ import annotations

import argparse

from convlens.cli.sweep import add_budget_args
from convlens.config import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `compare` subcommand."""
    p = sub.add_parser(
        "compare",
        help="train the MLP baseline and a CNN of similar size, same budget; a table",
        description="Train an MLP and a CNN with about the same number of parameters on the same "
        "data with the same epochs, batch, optimizer and seed, then print and save "
        "a table (params, mult-adds, time, images/s, accuracy) and a plot. Finished "
        "runs in the out folder are reused.",
        examples=[
            "convlens compare --data fashion-mnist --epochs 3",
            "convlens compare --cnn conv5x5 --mlp mlp_small --data mnist --epochs 1",
            "convlens compare --limit-train 2000 --limit-test 500 --epochs 1 --out runs/quick",
        ],
    )
    p.add_argument("--cnn", default="keras_mnist", help="CNN model (default: %(default)s)")
    p.add_argument("--mlp", default="mlp", help="MLP model (default: %(default)s)")
    add_budget_args(p, out="runs/compare")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from convlens.engine.compare import compare, table
    from convlens.look.experiments import write_compare

    base = TrainConfig(
        data=args.data,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adam",
        lr=args.lr,
        weight_decay=0.0,
        schedule="onecycle",
        label_smoothing=0.0,
        augment="none",
        seed=args.seed,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        progress=args.progress,
        record_filters="none",
    )
    rows = compare([args.mlp, args.cnn], base, args.out)
    print()
    print(table(rows))
    paths = write_compare(rows, args.out)
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0
