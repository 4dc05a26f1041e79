"""Transposed convolution (what ConvTranspose2d computes), numpy in, numpy out.

Where a convolution gathers a window of the input into one output cell, a transposed
convolution scatters: each input cell (i, j) adds value * kernel into the output at rows
i*s + u*d and columns j*s + v*d. The canvas this fills is s(n-1) + d(k-1) + 1 cells along
an axis; `padding` p then crops p cells from each side and `output_padding` adds cells at
the end (to tell apart input sizes a strided convolution maps to the same size):

    out = s(n-1) - 2p + d(k-1) + output_padding + 1

(o' = s(i'-1) + a + k - 2p in Dumoulin & Visin's "A guide to convolution arithmetic",
with a = output_padding and d = 1.)

Shapes: `x` is (H, W) or (C, H, W); `kernel` is (kh, kw) or, as ConvTranspose2d's weight,
(C, O/groups, kh, kw). A 2-D x with a 2-D kernel gives (H', W'), otherwise (O, H', W').
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from convlens.errors import ConvMathError
from convlens.primer.geometry import Pair, _pair, _pos_int
from convlens.primer.pooling import _as_input

__all__ = [
    "Scatter",
    "conv_transpose2d",
    "conv_transpose2d_steps",
    "explain_transposed_output_size",
    "transposed_canvas",
    "transposed_output_size",
]


def _zero_pair(name: str, value: object, where: str) -> tuple[int, int]:
    """An integer >= 0 or a (rows, cols) pair of them, as a pair."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise ConvMathError(
            f"{where}: Expected {name} an integer >= 0 or a (rows, cols) pair of them. "
            f"Received: {name}={value!r}"
        )
    return int(values[0]), int(values[1])


def _axis(
    n: int, k: int, s: int, p: int, a: int, d: int, where: str, axis: str = ""
) -> tuple[int, int]:
    """(canvas length, output length) along one axis; checks torch's rules."""
    if a >= s and a >= d:
        raise ConvMathError(
            f"{where}: output_padding must be smaller than stride or dilation (as in "
            f"PyTorch). Received: output_padding={a}{axis} with stride={s}, dilation={d}"
        )
    canvas = s * (n - 1) + d * (k - 1) + 1
    out = canvas - 2 * p + a
    if out < 1:
        raise ConvMathError(
            f"{where}: padding={p}{axis} crops all of the {canvas} cells the kernel "
            f"scatters into; use padding <= {(canvas + a - 1) // 2}"
        )
    return canvas, out


def transposed_output_size(
    n: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """s(n-1) - 2p + d(k-1) + output_padding + 1, as ConvTranspose2d counts it.

    Example:
        >>> transposed_output_size(3, 3, stride=2, padding=1, output_padding=1)   # 6
    """
    where = "transposed_output_size"
    n, kernel = _pos_int("n", n, where), _pos_int("kernel", kernel, where)
    stride, dilation = _pos_int("stride", stride, where), _pos_int("dilation", dilation, where)
    p = _zero_pair("padding", padding, where)[0]
    a = _zero_pair("output_padding", output_padding, where)[0]
    return _axis(n, kernel, stride, p, a, dilation, where)[1]


def explain_transposed_output_size(
    n: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> str:
    """The transposed output-size formula with the numbers filled in."""
    out = transposed_output_size(
        n,
        kernel,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )
    return (
        f"out = s(n-1) - 2p + d(k-1) + output_padding + 1 = {stride}*({n}-1) - 2*{padding} + "
        f"{dilation}*({kernel}-1) + {output_padding} + 1 = {out}"
    )


def _shapes(x: np.ndarray, kernel: np.ndarray, groups: int, where: str):
    """x as (C, H, W), kernel as (C, O/groups, kh, kw), and whether the result is 2-D."""
    if x.ndim not in (2, 3) or kernel.ndim not in (2, 4):
        raise ConvMathError(
            f"{where}: Expected x (H, W) or (C, H, W) and kernel (kh, kw) or "
            f"(C, O/groups, kh, kw). Received: shapes {x.shape} and {kernel.shape}"
        )
    x3 = x[None] if x.ndim == 2 else x
    k4 = kernel[None, None] if kernel.ndim == 2 else kernel
    c = x3.shape[0]
    if c % groups:
        raise ConvMathError(f"{where}: in_channels={c} is not divisible by groups={groups}")
    if k4.shape[0] != c:
        raise ConvMathError(
            f"{where}: kernel has {k4.shape[0]} input channels (kernel.shape[0]), x has {c}"
        )
    return x3, k4, x.ndim == 2 and kernel.ndim == 2


@dataclass(frozen=True)
class Scatter:
    """What one input cell adds to the output canvas.

    Attributes:
        in_index: (i, j) of the input cell.
        value: its value.
        rows, cols: the canvas cells it adds to (before `padding` crops the canvas).
        products: value * kernel, the numbers added there (kh, kw).
    """

    in_index: tuple[int, int]
    value: float
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    products: np.ndarray


def transposed_canvas(
    shape: tuple[int, int],
    kernel: tuple[int, int],
    *,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
    where: str = "conv_transpose2d",
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(canvas shape incl. output_padding, output shape, crop (top, left)) of an input
    `shape` (H, W): the output is canvas[top : top + H', left : left + W']."""
    s, d = _pair("stride", stride, where), _pair("dilation", dilation, where)
    p, a = (
        _zero_pair("padding", padding, where),
        _zero_pair("output_padding", output_padding, where),
    )
    axes = [
        _axis(n, k, si, pi, ai, di, where, f" ({name})")
        for n, k, si, pi, ai, di, name in zip(shape, kernel, s, p, a, d, ("rows", "cols"))
    ]
    canvas = (axes[0][0] + a[0], axes[1][0] + a[1])
    return canvas, (axes[0][1], axes[1][1]), p


def conv_transpose2d(
    x: object,
    kernel: object,
    *,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
    groups: int = 1,
    method: str = "fast",
) -> np.ndarray:
    """Transposed convolution of x with kernel, as F.conv_transpose2d; see module doc.

    Example:
        >>> conv_transpose2d([[1, 2], [3, 4]], np.ones((2, 2)), stride=2)  # 4x4 of blocks
    """
    where = "conv_transpose2d"
    if method not in ("fast", "loop"):
        raise ConvMathError(
            f"{where}: Expected method 'fast' or 'loop'. Received: method={method!r}"
        )
    g = _pos_int("groups", groups, where)
    x3, k4, flat = _shapes(_as_input(x, where), _as_input(kernel, where), g, where)
    c, (h, w), (per_out, kh, kw) = x3.shape[0], x3.shape[1:], k4.shape[1:]
    (ch, cw), (oh, ow), (top, left) = transposed_canvas(
        (h, w),
        (kh, kw),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )
    (sh, sw), (dh, dw) = _pair("stride", stride, where), _pair("dilation", dilation, where)
    canvas = np.zeros((per_out * g, ch, cw))
    per_in = c // g
    if method == "loop":
        for ci in range(c):  # each input channel scatters into the outputs of its group
            for o in range(per_out):
                out_channel = ci // per_in * per_out + o
                for i in range(h):
                    for j in range(w):
                        for u in range(kh):
                            for v in range(kw):
                                canvas[out_channel, i * sh + u * dh, j * sw + v * dw] += (
                                    x3[ci, i, j] * k4[ci, o, u, v]
                                )
    else:
        xg = x3.reshape(g, per_in, h, w)
        kg = k4.reshape(g, per_in, per_out, kh, kw)
        spread = np.einsum("gchw,gcouv->gohwuv", xg, kg, optimize=True)
        spread = spread.reshape(g * per_out, h, w, kh, kw)
        for u in range(kh):  # each kernel cell lands on a strided grid of the canvas
            for v in range(kw):
                rows = slice(u * dh, u * dh + (h - 1) * sh + 1, sh)
                cols = slice(v * dw, v * dw + (w - 1) * sw + 1, sw)
                canvas[:, rows, cols] += spread[:, :, :, u, v]
    out = canvas[:, top : top + oh, left : left + ow]
    return out[0] if flat else out


def conv_transpose2d_steps(
    x: object,
    kernel: object,
    *,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> Iterator[Scatter]:
    """What each cell of a 2-D x scatters with a 2-D kernel, row by row."""
    where = "conv_transpose2d"
    xa, ka = _as_input(x, where), _as_input(kernel, where)
    if xa.ndim != 2 or ka.ndim != 2:
        raise ConvMathError(
            f"conv_transpose2d_steps: Expected a 2-D x and kernel. Received: shapes "
            f"{xa.shape} and {ka.shape}"
        )
    transposed_canvas(
        xa.shape,
        ka.shape,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )  # checks every argument
    (sh, sw), (dh, dw) = _pair("stride", stride, where), _pair("dilation", dilation, where)
    for (i, j), value in np.ndenumerate(xa):
        rows = tuple(i * sh + u * dh for u in range(ka.shape[0]))
        cols = tuple(j * sw + v * dw for v in range(ka.shape[1]))
        yield Scatter((i, j), float(value), rows, cols, value * ka)
