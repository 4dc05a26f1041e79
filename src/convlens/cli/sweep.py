"""CLI: `convlens sweep` (a grid of runs, one table) and `convlens compare` (several models,
the same budget): both are `convlens.engine.sweep`, with the budget of the experiment recipe."""

from __future__ import annotations

import argparse

from convlens.cli.flags import add_config_flags, add_settings_file, given, settings_file
from convlens.config import experiment_config
from convlens.errors import ConfigError

BUDGET = (
    "Every run starts from the recipe src/convlens/recipes/experiment.yaml (the defaults "
    "below; `cl.sweep` and `cl.compare` start from it too); --recipe NAME or --config "
    "FILE.yaml replaces it, flags override it."
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` and `compare` subcommands."""
    p = sub.add_parser(
        "sweep",
        help="train every combination of a grid, then one table sorted by accuracy",
        description="Every combination of --grid is its own run folder under --out; finished "
        "runs are reused and interrupted ones resume. Grid keys in braces fill the "
        "model spec, others are training settings (batch-size, epochs, lr, model, "
        "optimizer, ...). --seeds N repeats each run with N seeds and reports the mean "
        f"and spread. {BUDGET}",
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
    p.add_argument("--out", required=True, help="folder of the runs and the table")
    _add_experiment_args(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "compare",
        help="train several models (the MLP baseline and a CNN) with the same budget; a table",
        description="Train each model (default: an MLP and a CNN with about the same number of "
        "parameters) on the same data with the same epochs, batch, optimizer and seed, then "
        "print and save a table (accuracy, params, mult-adds, time, images/s) and a plot. "
        f"A sweep over the model: finished runs in the out folder are reused. {BUDGET}",
        examples=[
            "convlens compare mlp keras_mnist --data fashion-mnist --epochs 3",
            'convlens compare mlp "conv 32 5, maxpool 2, flatten, dense 10" --seeds 2',
            "convlens compare --limit-train 2000 --limit-test 500 --epochs 1 --out runs/quick",
        ],
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="registry names or spec texts (default: the --mlp and the --cnn)",
    )
    p.add_argument("--cnn", default="keras_mnist", help="CNN model (default: %(default)s)")
    p.add_argument("--mlp", default="mlp", help="MLP model (default: %(default)s)")
    p.add_argument(
        "--out",
        default="runs/compare",
        help="folder of the runs and the table (default: %(default)s)",
    )
    _add_experiment_args(p)
    p.set_defaults(func=cmd_compare)


def _add_experiment_args(p: argparse.ArgumentParser) -> None:
    """--seeds, --jobs, the settings file and the TrainConfig flags (their defaults: the
    experiment recipe's)."""
    p.add_argument(
        "--seeds", type=int, default=1, help="repeats with seeds seed..seed+N-1 (default: 1)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once, each in its own process with cores/jobs threads",
    )
    add_settings_file(p, instead_of="the experiment recipe")
    add_config_flags(p, defaults=experiment_config(), exclude=("model", "out"))


def _experiment(args: argparse.Namespace):
    """The base TrainConfig of the runs; checks --seeds and --jobs."""
    if args.seeds < 1 or args.jobs < 1:
        raise ConfigError(
            f"Expected --seeds and --jobs >= 1. Received: --seeds {args.seeds} --jobs {args.jobs}"
        )
    return experiment_config(settings_file(args), given(args))


def cmd_sweep(args: argparse.Namespace) -> int:
    from convlens.engine.sweep import parse_grid, summarize, sweep
    from convlens.look.experiments import write_sweep

    base = _experiment(args)
    grid = parse_grid(args.grid)
    results = sweep(args.model, grid, base, args.out, seeds=args.seeds, jobs=args.jobs)
    rows = summarize(results)
    return _show(rows, write_sweep(rows, args.out))


def cmd_compare(args: argparse.Namespace) -> int:
    from convlens.engine.sweep import compare, summarize
    from convlens.look.experiments import write_compare

    base = _experiment(args)
    models = args.models or [args.mlp, args.cnn]
    results = compare(models, base, args.out, seeds=args.seeds, jobs=args.jobs)
    rows = summarize(results)
    return _show(rows, write_compare(rows, results, args.out))


def _show(rows: list[dict], paths: list) -> int:
    """Print the table (`cl.sweep` / `cl.compare` show the same one) and the files written."""
    from convlens.engine.sweep import table

    print()
    print(table(rows))
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0
