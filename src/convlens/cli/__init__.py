"""The `convlens` command: thin wrappers over the library, errors as one line.

Each topic lives in its own module under `convlens.cli` and exposes
`register(subparsers)`, which adds its subcommands and sets `func` on each; `func(args)`
returns an exit status (or None for 0). Library errors (`ConvlensError`), errors of the
operating system (a full disk, a read-only or missing folder: `OSError`) and running out of
memory become one line on stderr, naming the path or what ran out and what to do, and exit
status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import sys
from collections.abc import Sequence

from convlens import __version__
from convlens.errors import ConvlensError
from convlens.models.budget import memory_detail, out_of_memory

# Modules under convlens.cli that add subcommands, in the order --help lists them.
COMMAND_MODULES = (
    "primer",
    "models",
    "train",
    "lrfind",
    "evaluate",
    "inside",
    "compare",
    "sweep",
    "serve",
)


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
    except BrokenPipeError:  # `convlens summary ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ConvlensError, OSError, MemoryError, RuntimeError) as exc:
        line = error_line(exc)
        if args.debug or line is None:
            raise
        print(f"convlens {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"convlens {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def error_line(exc: BaseException) -> str | None:
    """The one line for an error the user can act on; None for a bug (shown as a traceback)."""
    if isinstance(exc, ConvlensError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error_line(exc)
    if out_of_memory(exc):
        return (
            f"out of memory ({memory_detail(exc)}); lower --batch-size or use a smaller "
            f"model (`convlens summary MODEL` shows its memory)"
        )
    return None


def os_error_line(exc: OSError) -> str:
    """An OSError as one line naming the path and what to do."""
    name = _target(exc.filename)
    path = f" {name!r}" if name else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device writing{path}; free some space and try again"
    if exc.errno == errno.EROFS:
        return f"{name or 'the file'!r} is on a read-only file system; write somewhere else"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied:{path or ' (no path named)'}; use another path or fix it"
    if exc.errno == errno.ENOENT:
        return f"no such file or folder{path}"
    return f"{exc.strerror or type(exc).__name__}{':' + path if path else ''}"


def _target(filename: object) -> str:
    """The file a temp file of convlens.io.atomic_write_bytes stands for."""
    if not filename:
        return ""
    path = str(filename)
    match = re.match(r"^(.*/)?\.(.+)\.[0-9a-f]{8}\.tmp$", path)
    return f"{match[1] or ''}{match[2]}" if match else path


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
