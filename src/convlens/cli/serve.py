"""CLI: `convlens serve` (the explorer web page)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from convlens.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = sub.add_parser(
        "serve",
        help="a local web page: draw or upload an image, watch your CNN think",
        description="Start the explorer for one run folder (or for every run under runs/). "
        "It listens on 127.0.0.1 only and answers only requests addressed to 127.0.0.1, "
        "localhost or [::1], unless --host and --allow-host say otherwise. Uploads: up to "
        "5 MB, a raw body or one file of a form.",
        examples=[
            "convlens serve runs/digits --port 8000",
            "curl -F file=@digit.png http://127.0.0.1:8000/api/runs/digits/predict",
            "convlens serve --runs runs --host 0.0.0.0 --allow-host mybox.local",
        ],
    )
    p.add_argument("run", nargs="?", help="run folder (default: offer every run under --runs)")
    p.add_argument("--runs", default="runs", help="folder of run folders (default: %(default)s)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this computer only); another "
        "address lets other computers in, with a warning",
    )
    p.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME (the name or address others use to "
        "reach this computer; repeatable); '*' answers any name",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse uploads with more pixels (default: $CONVLENS_MAX_PIXELS, else "
        "16000000); a JPEG up to 4 times larger is read at reduced size",
    )
    p.set_defaults(func=cmd_serve)


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach: 127.x.x.x, ::1, localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    from convlens.data.images import pixel_limit
    from convlens.engine.runs import read_run_info
    from convlens.web.app import LOOPBACK_NAMES, create_app, host_name, list_runs
    from convlens.web.server import listen, serve

    if args.run:
        read_run_info(args.run)  # one line if it is not a run folder
    elif not list_runs(Path(args.runs)):
        raise ConfigError(
            f"no run folders under {args.runs!r}; train one first, e.g. "
            f"convlens train --data digits --out runs/digits"
        )
    if not 0 < args.port < 65536:
        raise ConfigError(f"Expected --port in 1..65535. Received: {args.port}")
    if args.max_pixels is not None:
        pixel_limit(args.max_pixels)
    wildcard = args.host in ("0.0.0.0", "::", "")  # every address of this computer
    allowed = [*LOOPBACK_NAMES, *args.allow_host] + ([] if wildcard else [host_name(args.host)])
    if not is_loopback(args.host):
        names = "any name" if "*" in allowed else ", ".join(dict.fromkeys(allowed))
        print(
            f"convlens serve: warning: --host {args.host} is not a loopback address: anyone "
            f"who can reach this computer on port {args.port} can use the explorer and see "
            f"your runs; it answers requests addressed to {names}"
            + ("; add the name others use with --allow-host NAME" if wildcard else ""),
            file=sys.stderr,
            flush=True,
        )
    sock = listen(args.host, args.port)  # a busy port says so before anything else
    app = create_app(
        args.run,
        runs_root=args.runs,
        allowed_hosts=allowed,
        max_pixels=args.max_pixels,
        trust_code=args.trust_code,
    )
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"convlens explorer: http://{url_host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    serve(app, sock)
    return 0
