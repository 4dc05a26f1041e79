"""CLI: `convlens sweep` (a grid of runs, one table)."""

from __future__ import annotations

import argparse

from convlens.config import TrainConfig
from convlens.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` subcommand."""
    p = sub.add_parser(
        "sweep",
        help="train every combination of a grid, then one table sorted by accuracy",
        description="Every combination of --grid is its own run folder under --out; finished "
        "runs are reused and interrupted ones resume. Grid keys in braces fill the "
        "model spec, others are training settings (batch-size, epochs, lr, model, "
        "optimizer, ...). --seeds N repeats each run with N seeds and reports the mean "
        "and spread.",
        examples=[
            'convlens sweep --model "conv {f} {k}, maxpool 2, flatten, dense 10" \\\n'
            "    --grid f=16,32 k=3,5,7 --epochs 3 --out runs/sweep1",
            "convlens sweep --model keras_mnist --grid batch-size=32,128,512 --out runs/batch",
            "convlens sweep --grid model=mlp,keras_mnist --seeds 3 --jobs 2 --out runs/seeds",
        ],
    )
    p.add_argument("--model", default="{model}", help="spec with {placeholders}, or a name")
    p.add_argument(
        "--grid",
        nargs="+",
        required=True,
        metavar="KEY=V1,V2",
        help="values to try, e.g. f=16,32 k=3,5 batch-size=32,128",
    )
    p.add_argument("--optimizer", default="adam", help="sgd, adam or adamw (default: %(default)s)")
    p.add_argument(
        "--augment", default="none", help="e.g. crop,flip or none (default: %(default)s)"
    )
    p.add_argument(
        "--seeds", type=int, default=1, help="repeats with seeds seed..seed+N-1 (default: 1)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once, each in its own process with cores/jobs threads",
    )
    add_budget_args(p, out=None)
    p.set_defaults(func=cmd_sweep)


def add_budget_args(p: argparse.ArgumentParser, out: str | None) -> None:
    """The data and budget flags `sweep` and `compare` share; `out=None` makes --out required."""
    p.add_argument("--data", default="fashion-mnist", help="data set name (default: %(default)s)")
    p.add_argument("--data-dir", help="folder of the data set files")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (default: %(default)s)")
    p.add_argument(
        "--batch-size", type=int, default=128, help="images per step (default: %(default)s)"
    )
    p.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (default: %(default)g)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--limit-train", type=int, metavar="N", help="use the first N training images")
    p.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    if out is None:
        p.add_argument("--out", required=True, help="folder of the runs and the table")
    else:
        p.add_argument(
            "--out", default=out, help="folder of the runs and the table (default: %(default)s)"
        )
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (the per-epoch lines stay)",
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from convlens.engine.sweep import parse_grid, summarize, sweep, table
    from convlens.look.experiments import write_sweep

    if args.seeds < 1 or args.jobs < 1:
        raise ConfigError(
            f"Expected --seeds and --jobs >= 1. Received: --seeds {args.seeds} --jobs {args.jobs}"
        )
    base = TrainConfig(
        data=args.data,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=0.0,
        schedule="onecycle",
        label_smoothing=0.0,
        augment=args.augment,
        seed=args.seed,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        progress=args.progress,
        record_filters="none",
    )
    results = sweep(
        args.model, parse_grid(args.grid), base, args.out, seeds=args.seeds, jobs=args.jobs
    )
    rows = summarize(results)
    print()
    print(table(rows))
    print(f"\nwrote {', '.join(str(p) for p in write_sweep(rows, args.out))}")
    return 0
