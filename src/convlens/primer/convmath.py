"""What a convolution and a pooling layer compute: a readable reference, numpy in, numpy out.

Two paths give the same numbers. `method="loop"` is the lesson: nested loops over output
cells, each the sum of an input patch times the kernel. `method="fast"` (the default, so it
is usable on real photos) gathers every patch at once with numpy's `sliding_window_view`
and does one `einsum`. Both get their padding and output size from
`convlens.primer.geometry` (re-exported here: `output_size`, `explain_output_size`,
`resolve_padding`, `window`), the one place that knows the formula

    out = floor((n + 2p - d(k-1) - 1) / s) + 1

`flip=False` is cross-correlation, what PyTorch's `Conv2d` computes; `flip=True` flips the
kernel first: the textbook convolution of `numpy.convolve` and `scipy.signal.convolve2d`.
Stride and dilation are an int or a (rows, cols) pair.

Shapes: `x` is (H, W) or (C, H, W). `kernel` is (kh, kw), (C, kh, kw) or (O, C, kh, kw). A
2-D kernel on a (C, H, W) input is applied to each channel separately (C, H', W'); a
(C, kh, kw) kernel sums over channels into one map (H', W'), like one Conv2d filter; an
(O, C, kh, kw) kernel gives (O, H', W'), like Conv2d with O filters and no bias.

The classic hand-made kernels (sobel, blur, ...) are in `convlens.primer.kernels`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convlens.errors import ConvMathError, suggest
from convlens.primer.geometry import (
    PADDING_MODES,
    Padding,
    Pair,
    Window,
    _geometry,
    _pads,
    _pair,
    _pool_geometry,
    _window_at,
    explain_output_size,
    output_size,
    receptive_reach,
    resolve_padding,
    window,
)


# ----------------------------------------------------------------------------- checks
def _as_input(x: object, where: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ConvMathError(f"{where}: Expected numbers. Received: an array of {a.dtype}")
    return a.astype(np.float64)


def _kernel_as_4d(
    x: np.ndarray, kernel: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """x as (C, H, W) and kernel as (O, C, kh, kw), plus how to shape the result."""
    if x.ndim not in (2, 3):
        raise ConvMathError(
            f"{where}: Expected x of shape (H, W) or (C, H, W). Received: x.shape={x.shape}"
        )
    x3 = x[None] if x.ndim == 2 else x
    c = x3.shape[0]
    if kernel.ndim == 2:
        if x.ndim == 2:
            return x3, kernel[None, None], "2d"
        eye = np.zeros((c, c) + kernel.shape)  # the same kernel on every channel
        for i in range(c):
            eye[i, i] = kernel
        return x3, eye, "per-channel"
    if kernel.ndim == 3:
        kernel = kernel[None]
        shape = "2d"
    elif kernel.ndim == 4:
        shape = "4d"
    else:
        raise ConvMathError(
            f"{where}: Expected kernel of shape (kh, kw), (C, kh, kw) or "
            f"(O, C, kh, kw). Received: kernel.shape={kernel.shape}"
        )
    if kernel.shape[1] != c:
        raise ConvMathError(f"{where}: kernel has {kernel.shape[1]} input channels, x has {c}")
    return x3, kernel, shape


def pad2d(
    x: np.ndarray,
    padding: Padding,
    kernel: tuple[int, int] = (1, 1),
    *,
    dilation: Pair = 1,
    stride: Pair = 1,
    value: float = 0.0,
) -> np.ndarray:
    """x (H, W) or (C, H, W) with `padding` zeros (or `value`) around the last two axes."""
    d = _pair("dilation", dilation, "pad2d")
    (top, bottom), (left, right) = _pads(padding, tuple(kernel), d, stride, "pad2d")
    a = np.asarray(x, dtype=np.float64)
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(a, widths, constant_values=value)


# ----------------------------------------------------------------------------- convolution
def conv2d(
    x: object,
    kernel: object,
    *,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    flip: bool = False,
    method: str = "fast",
) -> np.ndarray:
    """2-D convolution (cross-correlation unless `flip`) of x with kernel; see module doc.

    Example:
        >>> conv2d(np.eye(5), [[1, 0], [0, 1]])           # (4, 4): 2 on the diagonal
    """
    where = "conv2d"
    if method not in ("fast", "loop"):
        raise ConvMathError(
            f"{where}: Expected method 'fast' or 'loop'. Received: method={method!r}"
        )
    xa, ka = _as_input(x, where), _as_input(kernel, where)
    x3, k4, shape = _kernel_as_4d(xa, ka, where)
    if flip:
        k4 = k4[..., ::-1, ::-1]
    kh, kw = k4.shape[2:]
    (sh, sw), (dh, dw), pads, (oh, ow) = _geometry(
        x3.shape[1:], (kh, kw), stride, padding, dilation, where, flip
    )
    xp = np.pad(x3, [(0, 0), *pads])  # (C, H+p, W+p)
    if method == "loop":
        out = np.zeros((k4.shape[0], oh, ow))
        for o in range(k4.shape[0]):  # each filter
            for i in range(oh):  # each output row
                for j in range(ow):  # each output column
                    total = 0.0
                    for c in range(k4.shape[1]):
                        for u in range(kh):
                            for v in range(kw):
                                total += xp[c, i * sh + u * dh, j * sw + v * dw] * k4[o, c, u, v]
                    out[o, i, j] = total
    else:
        windows = sliding_window_view(
            xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2)
        )  # (C, H', W', reach_h, reach_w)
        windows = windows[:, ::sh, ::sw, ::dh, ::dw][:, :oh, :ow]
        out = np.einsum("chwuv,ocuv->ohw", windows, k4, optimize=True)  # (O, H', W')
    return out[0] if shape == "2d" else out


def conv1d(
    signal: object,
    kernel: object,
    *,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    flip: bool = False,
    method: str = "fast",
) -> np.ndarray:
    """1-D convolution of a signal (N,) with a kernel (k,): a 2-D one with one row.

    Example:
        >>> conv1d([1, 2, 3, 4], [1, -1])                 # array([-1., -1., -1.])
    """
    s, k = _as_input(signal, "conv1d"), _as_input(kernel, "conv1d")
    if s.ndim != 1 or k.ndim != 1:
        raise ConvMathError(
            f"conv1d: Expected 1-D signal and kernel. Received: shapes {s.shape} and {k.shape}"
        )
    pad = (0, padding) if not isinstance(padding, (tuple, list)) else (0, padding[1])
    try:
        return conv2d(
            s[None],
            k[None],
            stride=stride,
            padding=pad,
            dilation=dilation,
            flip=flip,
            method=method,
        )[0]
    except ConvMathError as exc:
        raise ConvMathError(str(exc).replace("conv2d", "conv1d")) from None


# ----------------------------------------------------------------------------- pooling
def pool2d(
    x: object, size: Pair, *, stride: Pair | None = None, padding: Padding = 0, mode: str = "max"
) -> np.ndarray:
    """Max or mean pooling of x (H, W) or (C, H, W); stride defaults to size (PyTorch).

    Padding counts like PyTorch: at most half the window, max pooling pads with -inf (never
    chosen), mean pooling with zeros that count in the average (avg_pool2d's
    count_include_pad=True).

    Example:
        >>> pool2d(np.arange(16).reshape(4, 4), 2)        # [[5, 7], [13, 15]]
    """
    where = "pool2d"
    if mode not in ("max", "mean"):
        raise ConvMathError(
            f"{where}: Expected mode 'max' or 'mean'. Received: mode={mode!r}"
            f"{suggest(str(mode), ('max', 'mean'))}"
        )
    xa = _as_input(x, where)
    if xa.ndim not in (2, 3):
        raise ConvMathError(
            f"{where}: Expected x of shape (H, W) or (C, H, W). Received: x.shape={xa.shape}"
        )
    kh, kw = _pair("size", size, where)
    x3 = xa[None] if xa.ndim == 2 else xa
    (sh, sw), _, pads, (oh, ow) = _pool_geometry(x3.shape[1:], (kh, kw), stride, padding, where)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x3, [(0, 0), *pads], constant_values=fill)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]
    out = windows.max(axis=(3, 4)) if mode == "max" else windows.mean(axis=(3, 4))
    return out[0] if xa.ndim == 2 else out


# ----------------------------------------------------------------------------- steps
@dataclass(frozen=True)
class Step:
    """One output cell: where the window sits in the padded input and what it sums.

    Attributes:
        out_index: (i, j) of the output cell.
        rows, cols: indices into the PADDED input that the window covers.
        patch: the input values under the window (kh, kw).
        products: patch * kernel (conv) or the patch itself (pooling).
        value: the output value (sum of products, max or mean).
    """

    out_index: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    patch: np.ndarray
    products: np.ndarray
    value: float


def conv2d_steps(
    x: object,
    kernel: object,
    *,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    flip: bool = False,
) -> Iterator[Step]:
    """The arithmetic of each output cell of a single-channel conv2d, row by row."""
    xa, ka = _as_input(x, "conv2d"), _as_input(kernel, "conv2d")
    if xa.ndim != 2 or ka.ndim != 2:
        raise ConvMathError(
            f"conv2d_steps: Expected a 2-D x and kernel. Received: shapes {xa.shape} and {ka.shape}"
        )
    k = ka[::-1, ::-1] if flip else ka
    strides, dils, pads, (oh, ow) = _geometry(
        xa.shape, k.shape, stride, padding, dilation, "conv2d", flip
    )
    xp = np.pad(xa, pads)
    for i in range(oh):
        for j in range(ow):
            win = _window_at(i, j, k.shape, strides, dils, pads, xa.shape)
            patch = xp[np.ix_(win.rows, win.cols)]
            products = patch * k
            yield Step((i, j), win.rows, win.cols, patch, products, float(products.sum()))


def pool2d_steps(
    x: object, size: Pair, *, stride: Pair | None = None, padding: Padding = 0, mode: str = "max"
) -> Iterator[Step]:
    """The arithmetic of each output cell of a 2-D pooling, row by row."""
    xa = _as_input(x, "pool2d")
    if xa.ndim != 2:
        raise ConvMathError(f"pool2d_steps: Expected a 2-D x. Received: shape {xa.shape}")
    pool2d(xa, size, stride=stride, padding=padding, mode=mode)  # validates everything
    k = _pair("size", size, "pool2d")
    strides, dils, pads, (oh, ow) = _pool_geometry(xa.shape, k, stride, padding, "pool2d")
    xp = np.pad(xa, pads, constant_values=-np.inf if mode == "max" else 0.0)
    for i in range(oh):
        for j in range(ow):
            win = _window_at(i, j, k, strides, dils, pads, xa.shape)
            patch = xp[np.ix_(win.rows, win.cols)]
            value = patch.max() if mode == "max" else patch.mean()
            yield Step((i, j), win.rows, win.cols, patch, patch, float(value))


__all__ = [
    "PADDING_MODES",
    "Step",
    "Window",
    "conv1d",
    "conv2d",
    "conv2d_steps",
    "explain_output_size",
    "output_size",
    "pad2d",
    "pool2d",
    "pool2d_steps",
    "receptive_reach",
    "resolve_padding",
    "window",
]
