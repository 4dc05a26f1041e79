"""The `convlens` command: thin wrappers over the library, errors as one line.

Each topic lives in its own module under `convlens.cli` and exposes
`register(subparsers)`, which adds its subcommands and sets `func` on each; `func(args)`
returns an exit status (or None for 0). Library errors (`ConvlensError`) become one line on
stderr and exit status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from convlens import __version__
from convlens.errors import ConvlensError

# Modules under convlens.cli that add subcommands, in the order --help lists them.
COMMAND_MODULES = ("primer", "models", "train", "evaluate", "inside", "compare", "sweep", "serve")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: `convlens CMD: error: ... (see convlens CMD --help)`."""

    def error(self, message: str):  # noqa: D102  (argparse's own signature)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = ArgumentParser(
        prog="convlens",
        description="A workbench for learning, building, training and looking inside CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"convlens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"convlens.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except ConvlensError as exc:
        if args.debug:
            raise
        print(f"convlens {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `convlens summary ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"convlens {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
