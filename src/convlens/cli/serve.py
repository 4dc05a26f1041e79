"""CLI: `convlens serve` (the explorer web page)."""

from __future__ import annotations

import argparse
from pathlib import Path

from convlens.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = sub.add_parser(
        "serve",
        help="a local web page: draw or upload an image, watch your CNN think",
        description="Start the explorer for one run folder (or for every run under runs/). "
        "It listens on 127.0.0.1 only, unless --host says otherwise. "
        "Example: convlens serve runs/digits --port 8000",
    )
    p.add_argument("run", nargs="?", help="run folder (default: offer every run under --runs)")
    p.add_argument("--runs", default="runs", help="folder of run folders (default: %(default)s)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from convlens.engine.runs import read_run_info
    from convlens.web.app import create_app, list_runs

    if args.run:
        read_run_info(args.run)  # one line if it is not a run folder
    elif not list_runs(Path(args.runs)):
        raise ConfigError(
            f"no run folders under {args.runs!r}; train one first, e.g. "
            f"convlens train --data digits --out runs/digits"
        )
    if not 0 < args.port < 65536:
        raise ConfigError(f"Expected --port in 1..65535. Received: {args.port}")
    app = create_app(args.run, runs_root=args.runs)
    print(f"convlens explorer: http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
