"""CLI for the convolution primer: `kernels`, `conv-explain`, `pool-explain`."""

from __future__ import annotations

import argparse

import numpy as np

from convlens.errors import ConfigError


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


def _padding(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def register(sub: argparse._SubParsersAction) -> None:
    """Add the primer subcommands."""
    p = sub.add_parser(
        "kernels",
        help="apply classic kernels (blur, sharpen, edges) to a real photo",
        description="Apply classic 3x3 kernels to an image and write one figure: the original "
        "beside each result, titled with the kernel and its weights. Images are "
        "converted to grayscale unless --color (then each kernel runs on each RGB "
        "channel). Edge kernels show the size of the response. Without IMAGE, a "
        "photo shipped with scikit-image is used. A photo larger than 1024 pixels on its "
        "longer side is downscaled first (a JPEG while it is read). "
        "Example: convlens kernels photo.jpg --kernel sobel_x sharpen",
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
        "window, the products and the sum that make one output cell. "
        "Example: convlens conv-explain --input 7x7 --kernel 3 --stride 2 --padding 1",
    )
    p.add_argument(
        "--input", type=_size, default=(5, 5), metavar="HxW", help="input size (default: 5x5)"
    )
    p.add_argument(
        "--kernel", type=_size, default=(3, 3), metavar="KxK", help="kernel size (default: 3x3)"
    )
    p.add_argument("--kernel-name", help="use a classic kernel, e.g. sobel_x (sets --kernel)")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--padding", type=_padding, default=0, help="int, valid, same or full")
    p.add_argument("--dilation", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed of the small integer values")
    p.add_argument("--out", default="out/conv-explain.gif", help="GIF file (default: %(default)s)")
    p.set_defaults(func=cmd_conv_explain)

    p = sub.add_parser(
        "pool-explain",
        help="animate a pooling window over a small input",
        description="Print the output size and write an animated GIF of max or mean pooling, "
        "window by window. Example: convlens pool-explain --input 4x4 --size 2",
    )
    p.add_argument("--input", type=_size, default=(4, 4), metavar="HxW")
    p.add_argument("--size", type=int, default=2, help="window size (default: 2)")
    p.add_argument("--stride", type=int, help="default: the window size")
    p.add_argument("--padding", type=int, default=0)
    p.add_argument("--mode", choices=("max", "mean"), default="max")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/pool-explain.gif", help="GIF file (default: %(default)s)")
    p.set_defaults(func=cmd_pool_explain)


def _check_out(out: str, suffixes: tuple[str, ...]) -> None:
    if not out.lower().endswith(suffixes):
        raise ConfigError(f"Expected --out ending in {', '.join(suffixes)}. Received: {out!r}")


def cmd_kernels(args: argparse.Namespace) -> int:
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
    from convlens.io import save_gif
    from convlens.look.explain import FRAME_MS, conv_explain_frames
    from convlens.primer.convmath import explain_output_size
    from convlens.primer.kernels import get_kernel

    _check_out(args.out, (".gif",))
    rng = np.random.default_rng(args.seed)
    if args.kernel_name:
        kernel = get_kernel(args.kernel_name).weights
    else:
        kernel = rng.integers(-1, 3, args.kernel).astype(float)
    x = rng.integers(0, 10, args.input).astype(float)
    frames = conv_explain_frames(
        x, kernel, stride=args.stride, padding=args.padding, dilation=args.dilation
    )  # checks every argument first
    rows = explain_output_size(
        x.shape[0],
        kernel.shape[0],
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
    )
    cols = explain_output_size(
        x.shape[1],
        kernel.shape[1],
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
    )
    print(f"rows: {rows}\ncols: {cols}" if rows != cols else rows)
    print(f"wrote {save_gif(frames, args.out, ms=FRAME_MS)} ({len(frames)} frames)")
    return 0


def cmd_pool_explain(args: argparse.Namespace) -> int:
    from convlens.io import save_gif
    from convlens.look.explain import FRAME_MS, pool_explain_frames
    from convlens.primer.convmath import explain_output_size

    _check_out(args.out, (".gif",))
    x = np.random.default_rng(args.seed).integers(0, 10, args.input).astype(float)
    frames = pool_explain_frames(
        x, args.size, stride=args.stride, padding=args.padding, mode=args.mode
    )
    print(
        explain_output_size(
            x.shape[0], args.size, stride=args.stride or args.size, padding=args.padding
        )
    )
    print(f"wrote {save_gif(frames, args.out, ms=FRAME_MS)} ({len(frames)} frames)")
    return 0
