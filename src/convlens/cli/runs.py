"""CLI: `convlens runs` (a table of the run folders under a folder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from convlens.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `runs` subcommand."""
    p = sub.add_parser(
        "runs",
        help="a table of runs: data, model, epochs, best test accuracy",
        description="List the run folders under FOLDER (runs nested by sweep or compare "
        "too) with their data set, model, epochs trained and best test accuracy. Reads "
        "run.json and metrics.json only: no model is loaded.",
        examples=["convlens runs", "convlens runs runs/sweep1"],
    )
    p.add_argument("folder", nargs="?", default="runs", help="folder of runs (default: runs)")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    from convlens.engine.catalog import list_runs, runs_table

    root = Path(args.folder)
    if not root.is_dir():
        raise ConfigError(f"no folder {args.folder!r}; give a folder of run folders")
    if not list_runs(root):
        print(f"no runs under {args.folder}; train one with `convlens train --out {root}/NAME`")
        return 0
    print(runs_table(root))
    return 0
