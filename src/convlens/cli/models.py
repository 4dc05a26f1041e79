"""CLI for looking at architectures: `summary`, `draw`, `models`."""

from __future__ import annotations

import argparse
from pathlib import Path

from convlens.errors import ConfigError, SpecError
from convlens.models.spec import SPEC_FILE_SUFFIXES, read_spec_file

SPEC_HELP = (
    "a registry name (see `convlens models`), spec text such as "
    "'conv 32 3, maxpool 2, flatten, dense 10', or a YAML spec file"
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `summary`, `draw` and `models` subcommands."""
    p = sub.add_parser(
        "summary",
        help="table of a model: shapes, params, mult-adds, receptive field",
        description="Print one row per layer (output shape, parameters, mult-adds, receptive "
        "field, activation memory) and the totals, from one forward pass.",
        examples=[
            "convlens summary keras_mnist",
            'convlens summary "conv 32 3, maxpool 2, flatten, dense 10" --input 1x28x28',
            "convlens summary cifar_tf --explain",
        ],
    )
    _add_model_args(p)
    p.add_argument(
        "--explain",
        action="store_true",
        help="also show how each layer's parameter count and output size come about",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "draw",
        help="picture of a model as layered 3-D boxes (.png, .svg, .pdf)",
        description="Draw each feature map as a box scaled by its height, width and channels, "
        "dense layers as bars, coloured by layer type.",
        examples=[
            "convlens draw keras_mnist",
            'convlens draw "conv 32 3, maxpool 2, dense 10" --input 1x28x28 --out out/net.svg',
        ],
    )
    _add_model_args(p)
    p.add_argument(
        "--out",
        default="out/architecture.png",
        help="output file, .png .svg or .pdf (default: %(default)s)",
    )
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser(
        "models",
        help="list the model registry",
        description="List registered models with their parameter count on "
        "their default input, source notebook and description.",
        examples=["convlens models", "convlens summary fastcnn", "convlens draw fastcnn"],
    )
    p.set_defaults(func=cmd_models)


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32); argparse `type=` function."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"Expected CxHxW with positive integers, e.g. 3x32x32. Received: {text!r}"
        )
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="SPEC_OR_NAME", help=SPEC_HELP)
    p.add_argument(
        "--input",
        type=parse_input_shape,
        default=None,
        metavar="CxHxW",
        help="input shape without batch, e.g. 1x28x28 (default: the registry "
        "model's own input shape)",
    )
    p.add_argument(
        "--num-classes",
        type=int,
        default=10,
        metavar="N",
        help="outputs of the last layer (default: %(default)s)",
    )


def _build(args: argparse.Namespace):
    """Build the model the arguments name; return (model, input_shape)."""
    text = args.model
    if Path(text).suffix.lower() in SPEC_FILE_SUFFIXES and not Path(text).is_file():
        raise SpecError(
            f"spec file not found: {text!r} (expected an existing "
            f"{' or '.join(SPEC_FILE_SUFFIXES)} file)"
        )
    from convlens.models import registry
    from convlens.models.build import build

    if args.num_classes < 1:
        raise ConfigError(
            f"Expected --num-classes >= 1. Received: --num-classes={args.num_classes}"
        )
    shape = args.input
    if shape is None and Path(text).suffix.lower() in SPEC_FILE_SUFFIXES:
        shape = read_spec_file(text).input_shape  # the file's own `input:`, if it names one
    if shape is None:
        if text not in registry.names():
            raise ConfigError(
                f"--input CxHxW is required for a spec (only registry models and spec files "
                f"with an `input:` have a default). Received: {text!r} without --input"
            )
        shape = registry.model_info(text).default_input
    return build(text, shape, num_classes=args.num_classes), shape


def cmd_summary(args: argparse.Namespace) -> int:
    from convlens.models.summary import summary

    model, shape = _build(args)
    s = summary(model, shape)
    print(s)
    if args.explain:
        print()
        print(s.explain())
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from convlens.look.architecture import check_out_path, draw_architecture

    out = check_out_path(args.out)  # fail on a bad suffix before building anything
    model, shape = _build(args)
    draw_architecture(model, shape, out=out)
    print(f"wrote {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from convlens.models.table import model_table

    print(model_table())  # the table cl.list_models() returns
    return 0
