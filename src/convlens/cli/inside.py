"""CLI: `convlens show KIND RUN` (pictures of a trained run) and `convlens report RUN`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from convlens.errors import ConfigError
from convlens.look.kinds import KINDS, Ask, draw, kinds_help

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `show` and `report` subcommands."""
    p = sub.add_parser(
        "show",
        help="pictures of a trained run: filters, feature maps, mistakes, Grad-CAM ...",
        description=f"Draw one picture of a run and save it (default: RUN/pictures/KIND.png; "
        f"out/RUN_NAME/pictures/KIND.png when the run folder is read-only).\n\n"
        f"kinds:\n{kinds_help()}",
        examples=[
            "convlens show curves runs/demo",
            "convlens show features runs/demo --index 3",
            "convlens show gradcam runs/demo --image shoe.png --out out/gradcam.png",
        ],
    )
    p.add_argument("kind", choices=list(KINDS), metavar="KIND", help="one of the kinds above")
    p.add_argument("run", help="run folder made by `convlens train`")
    p.add_argument(
        "--layer", help="layer name, e.g. conv2 (see `convlens summary`); features: all its maps"
    )
    p.add_argument("--index", type=int, help="data set image (default: 0) of --split")
    p.add_argument(
        "--split", choices=("test", "train"), default="test", help="which images --index counts"
    )
    p.add_argument(
        "--maps", help="features: `all` or N maps per layer, a grid per layer (default: 8 in a row)"
    )
    p.add_argument("--image", help="an image file instead of a test image")
    p.add_argument("--n", type=int, default=24, help="images in grids (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="which test images the grid shows")
    p.add_argument("--cnn", metavar="RUN", help="for `mlp`: a CNN run to show beside it")
    p.add_argument("--channels", help="for `feature-vis`: e.g. 0,3,5 or 0-7 (default: the first 8)")
    p.add_argument(
        "--weights",
        choices=("best", "last"),
        default="best",
        help="best test accuracy or last epoch (default: %(default)s)",
    )
    p.add_argument("--out", help="file (.png, .svg, .pdf; .gif for an animation: evolution)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "report",
        help="one self-contained HTML page about a run",
        description="Write RUN/report.html (out/RUN_NAME/report.html when the run folder is "
        "read-only): config, summary, architecture, curves, evaluation, "
        "filters, their evolution, feature maps, mistakes, saliency, Grad-CAM, "
        "integrated gradients and occlusion (MLP runs: their first-layer weights), with "
        "every image embedded.",
        examples=["convlens report runs/demo", "convlens report runs/demo --out out/demo.html"],
    )
    p.add_argument("run", help="run folder made by `convlens train`")
    p.add_argument("--out", help="HTML file (default: RUN/report.html)")
    p.set_defaults(func=cmd_report)


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from convlens.look.inspector import Inspector

    animates = KINDS[args.kind].animates
    allowed = (".gif",) if animates else (".png", ".svg", ".pdf")
    name = Path("pictures") / f"{args.kind}{allowed[0]}"
    out = Path(args.out or Path(args.run) / name)
    if out.suffix.lower() not in allowed:
        raise ConfigError(f"Expected --out ending in {', '.join(allowed)}. Received: {str(out)!r}")
    look = Inspector.open(args.run, weights=args.weights, trust_code=args.trust_code)
    ask = Ask(**{f.name: getattr(args, f.name) for f in fields(Ask)})  # a flag per field
    picture = draw(look, args.kind, ask)

    def write(path: Path) -> Path | None:
        """The picture (an animation's GIF), and an animation's still beside it (.png)."""
        picture.savefig(path)
        return picture.savefig(path.with_suffix(".png")) if picture.frames else None

    out, still = _write(args, name, out, write)
    frames = f" ({len(picture.frames)} frames) and {still}" if picture.frames else ""
    print(f"wrote {out}{frames}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from convlens.look.inspector import Inspector
    from convlens.look.report import build_report

    look = Inspector.open(args.run, trust_code=args.trust_code)
    text = build_report(look)
    out, _ = _write(
        args,
        Path("report.html"),
        Path(args.out or look.run.path / "report.html"),
        (lambda path: _write_text(path, text)),
    )
    print(f"wrote {out}")
    return 0


def _write_text(path: Path, text: str) -> Path:
    from convlens.io import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def _write(
    args: argparse.Namespace, name: Path, out: Path, write: Callable[[Path], T]
) -> tuple[Path, T]:
    """write(out); for the default place inside a read-only run folder, write(out/RUN_NAME/
    name) instead, and say so. Returns the path used and what `write` returned."""
    from convlens.engine.runs import write_for_run

    if args.out:
        return out, write(out)
    result, elsewhere = write_for_run(args.run, lambda folder: write(folder / name))
    if elsewhere is None:
        return out, result
    print(f"run folder {args.run} is read-only; writing to {elsewhere} instead")
    return elsewhere / name, result
