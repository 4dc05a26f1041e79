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
import textwrap
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from convlens._version import __version__
from convlens.errors import ConvlensError, suggest
from convlens.models.budget import memory_detail, out_of_memory

# Modules under convlens.cli that add subcommands, in the order --help lists them.
COMMAND_MODULES = (
    "primer",
    "models",
    "train",
    "lrfind",
    "evaluate",
    "inside",
    "sweep",
    "serve",
    "runs",
)
# Subcommands that open run folders: they take --trust-code (see TRUST_CODE_HELP).
OPENS_RUNS = ("train", "doctor", "eval", "predict", "show", "report", "serve")
TRUST_CODE_HELP = (
    "import the code a run names (its model `FILE.py:Class` or `module:Class`) to rebuild "
    "it; without this flag such a run is refused, since a run folder from someone else "
    "could name any code"
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose to the terminal but keeps indented lines (examples, tables) as written."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        # a flag may say how it is written (`--tta [VIEWS], --no-tta`)
        return getattr(action, "invocation", "") or super()._format_action_invocation(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.append(
                    textwrap.fill(
                        " ".join(prose),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
                prose.clear()

        for line in text.splitlines():
            if line.strip() and not line[0].isspace():
                prose.append(line.strip())
                continue
            flush()
            out.append(indent + line if line.strip() else "")
        flush()
        return "\n".join(out)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: `convlens CMD: error: ... (see convlens CMD --help)`,
    and `examples=[...]`: an `examples:` section at the end of --help, one command a line."""

    def __init__(self, *args: Any, examples: Sequence[str] = (), **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if examples:
            kwargs["epilog"] = "examples:\n" + "\n".join(f"  {e}" for e in examples)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D102  (argparse's own signature)
        wrong = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        if wrong:  # a mistyped command: the closest one first, then the list
            hint = suggest(wrong[1], subcommands(self))
            message = message.replace(f"'{wrong[1]}'", f"'{wrong[1]}'{hint}", 1)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, ArgumentParser]:
    """The parser of each subcommand, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


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
    for name, command in subcommands(parser).items():
        if name in OPENS_RUNS:
            command.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would blame `convlens`; name the subcommand the flag went to
        command = subcommands(parser).get(getattr(args, "command", None) or "", parser)
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    finished = False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(warnings.showwarning)
            status = args.func(args)
        finished = True
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
    finally:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a torchrun rank
            from convlens.engine.distributed import leave

            leave(wait_for_the_others=finished)
    return int(status or 0)


def _warning_line(show: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints convlens's own warnings as one line,
    `convlens: warning: ...`, once per message (each split of a data set says it again);
    other libraries' warnings go to `show` as before."""
    seen: set[str] = set()

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not category.__module__.startswith("convlens"):
            show(message, category, filename, lineno, file, line)
            return
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            print(f"convlens: warning: {text}", file=sys.stderr if file is None else file)

    return showwarning


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
