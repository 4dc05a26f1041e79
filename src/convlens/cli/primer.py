"""CLI for the convolution primer: `kernels`, `conv-explain`, `pool-explain`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from convlens.errors import ConfigError

if TYPE_CHECKING:  # numpy loads when a command runs: --help answers without it
    import numpy as np


def _size(text: str) -> tuple[int, int]:
    """'7x7' or '7' -> (7, 7); argparse turns a ValueError into a one-line error."""
    parts = text.lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected HxW like 7x7. Received: {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"Expected HxW like 7x7. Received: {text!r}")
    return dims[0], dims[1]


def _padding(text: str) -> int | str | tuple[int, int]:
    """'1', '1x0' (rows x cols) or a mode name such as 'same'."""
    if "x" in text.lower() and text.lower().replace("x", "").lstrip("-").isdigit():
        return _ints(text)  # type: ignore[return-value]
    return int(text) if text.lstrip("-").isdigit() else text


def _ints(text: str) -> int | tuple[int, ...]:
    """'2' -> 2, '2x1' -> (2, 1) (rows x cols); convmath checks the values themselves."""
    try:
        values = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"Expected an integer or RxC like 2x1. Received: {text!r}"
        ) from None
    if len(values) > 2:
        raise argparse.ArgumentTypeError(f"Expected an integer or RxC like 2x1. Received: {text!r}")
    return values[0] if len(values) == 1 else values


def _matrix(text: str, flag: str) -> np.ndarray:
    """'1 2 3; 4 5 6' (rows split by ';', numbers by spaces or commas) as a 2-D array."""
    import numpy as np

    rows = [r.replace(",", " ").split() for r in text.split(";")]
    rows = [r for r in rows if r] if text.strip().endswith(";") else rows
    expected = f"Expected {flag} as rows of numbers split by ';', like '1 2 3; 4 5 6'"
    if not rows or not all(rows):
        raise ConfigError(f"{expected}. Received: {text!r} (an empty row)")
    if len({len(r) for r in rows}) > 1:
        lengths = ", ".join(str(len(r)) for r in rows)
        raise ConfigError(f"{expected}, all as long. Received: {text!r} (rows of {lengths})")
    try:
        values = np.array([[float(v) for v in r] for r in rows])
    except ValueError:
        bad = next(v for r in rows for v in r if not _is_number(v))
        raise ConfigError(f"{expected}. Received: {text!r} ({bad!r} is not a number)") from None
    if not np.isfinite(values).all():
        raise ConfigError(f"{expected}. Received: {text!r} (not finite)")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def register(sub: argparse._SubParsersAction) -> None:
    """Add the primer subcommands."""
    p = sub.add_parser(
        "kernels",
        help="apply classic kernels (blur, sharpen, edges) to a real photo",
        description="Apply classic 3x3 kernels to an image and write one figure: the original "
        "beside each result, titled with the kernel and its weights. Images are "
        "converted to grayscale unless --color (then each kernel runs on each RGB "
        "channel). Edge kernels show the signed response (red +, blue -). Without IMAGE, a "
        "photo shipped with scikit-image is used. A photo larger than 1024 pixels on its "
        "longer side is downscaled first (a JPEG while it is read).",
        examples=[
            "convlens kernels",
            "convlens kernels photo.jpg --kernel sobel_x sharpen",
            "convlens kernels photo.jpg --color --out out/colour.png",
        ],
    )
    p.add_argument("image", nargs="?", help="any common image format (default: a sample photo)")
    p.add_argument(
        "--kernel",
        nargs="+",
        metavar="NAME",
        help="kernels to apply (default: a good set); see convlens.primer.kernels.KERNELS",
    )
    p.add_argument("--color", action="store_true", help="keep colour: one kernel per channel")
    p.add_argument("--out", default="out/kernels.png", help="figure file (default: %(default)s)")
    p.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse images with more pixels (default: $CONVLENS_MAX_PIXELS, else 16000000); "
        "a JPEG up to 4 times larger is read at reduced size",
    )
    p.set_defaults(func=cmd_kernels)

    p = sub.add_parser(
        "conv-explain",
        help="animate a kernel sliding over a small input, cell by cell",
        description="Print the output size with its formula filled in and write an animated "
        "GIF of the kernel sliding over the padded input: each frame shows the "
        "window, the products and the sum that make one output cell. With --transposed, "
        "a transposed convolution: each input cell adds value*kernel into the output. "
        "Stride, padding and dilation take RxC for different rows and columns.",
        examples=[
            "convlens conv-explain --input 7x7 --kernel 3 --stride 2 --padding 1",
            "convlens conv-explain --values '1 2 3; 4 5 6; 7 8 9' --kernel-values '1 0; 0 -1'",
            "convlens conv-explain --input 3x3 --kernel 3 --stride 2 --transposed",
        ],
    )
    p.add_argument(
        "--input", type=_size, default=(5, 5), metavar="HxW", help="input size (default: 5x5)"
    )
    p.add_argument(
        "--kernel", type=_size, default=(3, 3), metavar="KxK", help="kernel size (default: 3x3)"
    )
    p.add_argument("--kernel-name", help="use a classic kernel, e.g. sobel_x (sets --kernel)")
    p.add_argument(
        "--values",
        metavar="ROWS",
        help="your own input, rows split by ';', e.g. '1 2 3; 4 5 6' (sets --input)",
    )
    p.add_argument(
        "--kernel-values", metavar="ROWS", help="your own kernel, e.g. '1 0; 0 -1' (sets --kernel)"
    )
    p.add_argument("--stride", type=_ints, default=1, metavar="S", help="S or RxC (default: 1)")
    p.add_argument(
        "--padding", type=_padding, default=0, help="int, RxC, valid, same or full (default: 0)"
    )
    p.add_argument("--dilation", type=_ints, default=1, metavar="D", help="D or RxC (default: 1)")
    p.add_argument(
        "--transposed", action="store_true", help="a transposed convolution (ConvTranspose2d)"
    )
    p.add_argument(
        "--output-padding",
        type=_ints,
        default=0,
        metavar="A",
        help="with --transposed: cells added at the end (default: 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the small integer values")
    p.add_argument("--out", default="out/conv-explain.gif", help="GIF file (default: %(default)s)")
    p.set_defaults(func=cmd_conv_explain)

    p = sub.add_parser(
        "pool-explain",
        help="animate a pooling window over a small input",
        description="Print the output size and write an animated GIF of max or mean pooling, "
        "window by window, as F.max_pool2d / F.avg_pool2d compute it.",
        examples=[
            "convlens pool-explain --input 4x4 --size 2 --mode max",
            "convlens pool-explain --input 5x5 --size 2 --padding 1 --ceil-mode",
            "convlens pool-explain --values '1 2 3; 4 5 6; 7 8 9' --size 2 --stride 1 --mode mean",
        ],
    )
    p.add_argument(
        "--input", type=_size, default=(4, 4), metavar="HxW", help="input size (default: 4x4)"
    )
    p.add_argument("--values", metavar="ROWS", help="your own input, e.g. '1 2 3; 4 5 6'")
    p.add_argument("--size", type=_ints, default=2, help="window size, K or RxC (default: 2)")
    p.add_argument("--stride", type=_ints, help="S or RxC (default: the window size)")
    p.add_argument(
        "--padding", type=_ints, default=0, help="P or RxC, at most half the window (default: 0)"
    )
    p.add_argument("--dilation", type=_ints, default=1, help="max pooling only (default: 1)")
    p.add_argument(
        "--ceil-mode", action="store_true", help="keep a last, partial window (ceil_mode=True)"
    )
    p.add_argument(
        "--exclude-pad",
        action="store_true",
        help="mean pooling averages the input cells only (count_include_pad=False)",
    )
    p.add_argument(
        "--mode", choices=("max", "mean"), default="max", help="max or mean (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the small integer values")
    p.add_argument("--out", default="out/pool-explain.gif", help="GIF file (default: %(default)s)")
    p.set_defaults(func=cmd_pool_explain)


def _check_out(out: str, suffixes: tuple[str, ...]) -> None:
    if not out.lower().endswith(suffixes):
        raise ConfigError(f"Expected --out ending in {', '.join(suffixes)}. Received: {out!r}")


def cmd_kernels(args: argparse.Namespace) -> int:
    import numpy as np

    from convlens.io import save_figure
    from convlens.look.kernels import DEFAULT_KERNELS, MAX_SIDE, draw_kernels, sample_photo
    from convlens.primer.kernels import get_kernel

    _check_out(args.out, (".png", ".svg", ".pdf"))
    names = args.kernel or DEFAULT_KERNELS
    for name in names:
        get_kernel(name)  # unknown names fail before any work
    if args.image:
        from convlens.data.images import load_image

        mode = "RGB" if args.color else "L"
        img = load_image(args.image, mode=mode, max_pixels=args.max_pixels, reduce_to=MAX_SIDE)
        image = np.asarray(img)
        title = f"Classic kernels on {args.image}"
    else:
        image = sample_photo(color=args.color)
        title = "Classic kernels on scikit-image's sample photo"
    path = save_figure(draw_kernels(image, [n.lower() for n in names], title=title), args.out)
    print(f"wrote {path}")
    return 0


def cmd_conv_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from convlens.io import save_gif
    from convlens.look.explain import (
        FRAME_MS,
        axis_formulas,
        conv_explain_frames,
        conv_transpose_explain_frames,
    )
    from convlens.primer.convmath import explain_output_size, explain_transposed_output_size
    from convlens.primer.kernels import get_kernel

    _check_out(args.out, (".gif",))
    rng = np.random.default_rng(args.seed)
    if args.kernel_values is not None:
        kernel = _matrix(args.kernel_values, "--kernel-values")
    elif args.kernel_name:
        kernel = get_kernel(args.kernel_name).weights
    else:
        kernel = rng.integers(-1, 3, args.kernel).astype(float)
    if args.values is not None:
        x = _matrix(args.values, "--values")
    else:
        x = rng.integers(0, 10, args.input).astype(float)
    if args.transposed:
        if isinstance(args.padding, str):
            raise ConfigError(
                f"Expected --padding an integer or RxC with --transposed. "
                f"Received: {args.padding!r}"
            )
        geometry = dict(
            stride=args.stride,
            padding=args.padding,
            output_padding=args.output_padding,
            dilation=args.dilation,
        )
        frames = conv_transpose_explain_frames(x, kernel, **geometry)  # checks every argument
        print(axis_formulas(x.shape, kernel.shape, explain_transposed_output_size, **geometry))
    else:
        if args.output_padding != 0:
            raise ConfigError(
                f"--output-padding needs --transposed. Received: {args.output_padding!r}"
            )
        geometry = dict(stride=args.stride, padding=args.padding, dilation=args.dilation)
        frames = conv_explain_frames(x, kernel, **geometry)  # checks every argument first
        print(axis_formulas(x.shape, kernel.shape, explain_output_size, **geometry))
    print(f"wrote {save_gif(frames, args.out, ms=FRAME_MS)} ({len(frames)} frames)")
    return 0


def cmd_pool_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from convlens.io import save_gif
    from convlens.look.explain import FRAME_MS, axis_formulas, pool_explain_frames
    from convlens.primer.convmath import explain_output_size

    _check_out(args.out, (".gif",))
    if args.values is not None:
        x = _matrix(args.values, "--values")
    else:
        x = np.random.default_rng(args.seed).integers(0, 10, args.input).astype(float)
    frames = pool_explain_frames(
        x,
        args.size,
        stride=args.stride,
        padding=args.padding,
        mode=args.mode,
        dilation=args.dilation,
        ceil_mode=args.ceil_mode,
        count_include_pad=not args.exclude_pad,
    )
    size = args.size if isinstance(args.size, tuple) else (args.size, args.size)
    print(
        axis_formulas(
            x.shape,
            size,
            explain_output_size,
            stride=size if args.stride is None else args.stride,
            padding=args.padding,
            dilation=args.dilation,
            ceil_mode=args.ceil_mode,
        )
    )
    print(f"wrote {save_gif(frames, args.out, ms=FRAME_MS)} ({len(frames)} frames)")
    return 0
