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

`groups` splits the channels as Conv2d(groups=...) does. Pooling (with padding, dilation,
ceil_mode, count_include_pad) is in `convlens.primer.pooling`, the transposed convolution in
`convlens.primer.transposed`; both are re-exported here.

The classic hand-made kernels (sobel, blur, ...) are in `convlens.primer.kernels`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convlens.errors import ConvMathError
from convlens.primer.geometry import (
    PADDING_MODES,
    Padding,
    Pair,
    Window,
    _geometry,
    _pads,
    _pair,
    _pos_int,
    _window_at,
    explain_output_size,
    output_size,
    receptive_reach,
    resolve_padding,
    window,
)
from convlens.primer.pooling import Step, _as_input, pool2d, pool2d_grid, pool2d_steps
from convlens.primer.transposed import (
    conv_transpose2d,
    explain_transposed_output_size,
    transposed_output_size,
)


# ----------------------------------------------------------------------------- checks
def _kernel_as_4d(
    x: np.ndarray, kernel: np.ndarray, where: str, groups: int = 1
) -> tuple[np.ndarray, np.ndarray, str]:
    """x as (C, H, W) and kernel as (O, C/groups, kh, kw), plus how to shape the result."""
    if x.ndim not in (2, 3):
        raise ConvMathError(
            f"{where}: Expected x of shape (H, W) or (C, H, W). Received: x.shape={x.shape}"
        )
    x3 = x[None] if x.ndim == 2 else x
    c = x3.shape[0]
    if kernel.ndim == 2:
        if x.ndim == 2:
            return x3, kernel[None, None], "2d"
        if groups == c:  # depthwise: one (1, kh, kw) filter per channel
            return x3, np.broadcast_to(kernel, (c, 1) + kernel.shape), "per-channel"
        eye = np.zeros((c, c) + kernel.shape)  # the same kernel on every channel
        for i in range(c):
            eye[i, i] = kernel
        kernel, shape = eye, "per-channel"
    elif kernel.ndim == 3:
        kernel = kernel[None]
        shape = "2d"
    elif kernel.ndim == 4:
        shape = "4d"
    else:
        raise ConvMathError(
            f"{where}: Expected kernel of shape (kh, kw), (C, kh, kw) or "
            f"(O, C/groups, kh, kw). Received: kernel.shape={kernel.shape}"
        )
    _check_groups(c, kernel.shape[0], kernel.shape[1], groups, where)
    return x3, kernel, shape


def _check_groups(c: int, o: int, per_group: int, groups: int, where: str) -> None:
    """Torch's rule: in and out channels divisible by groups, C/groups channels per filter."""
    if c % groups:
        raise ConvMathError(
            f"{where}: in_channels={c} is not divisible by groups={groups}; use groups "
            f"that divide {c}"
        )
    if o % groups:
        raise ConvMathError(
            f"{where}: out_channels={o} (kernel.shape[0]) is not divisible by groups={groups}"
        )
    if per_group * groups != c:
        raise ConvMathError(
            f"{where}: kernel has {per_group} input channels, x has {c}"
            + (f" (groups={groups} needs {c // groups} per filter)" if groups > 1 else "")
        )


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
    groups: int = 1,
    flip: bool = False,
    method: str = "fast",
) -> np.ndarray:
    """2-D convolution (cross-correlation unless `flip`) of x with kernel; see module doc.

    `groups` splits the C input channels into groups of C/groups, each seen by
    O/groups filters of shape (C/groups, kh, kw), as Conv2d(groups=...); groups == C is a
    depthwise convolution.

    Example:
        >>> conv2d(np.eye(5), [[1, 0], [0, 1]])           # (4, 4): 2 on the diagonal
    """
    where = "conv2d"
    if method not in ("fast", "loop"):
        raise ConvMathError(
            f"{where}: Expected method 'fast' or 'loop'. Received: method={method!r}"
        )
    xa, ka = _as_input(x, where), _as_input(kernel, where)
    g = _pos_int("groups", groups, where)
    x3, k4, shape = _kernel_as_4d(xa, ka, where, g)
    if flip:
        k4 = k4[..., ::-1, ::-1]
    kh, kw = k4.shape[2:]
    (sh, sw), (dh, dw), pads, (oh, ow) = _geometry(
        x3.shape[1:], (kh, kw), stride, padding, dilation, where, flip
    )
    xp = np.pad(x3, [(0, 0), *pads])  # (C, H+p, W+p)
    n_out, per_group = k4.shape[:2]
    if method == "loop":
        out = np.zeros((n_out, oh, ow))
        for o in range(n_out):  # each filter
            first = o // (n_out // g) * per_group  # the first channel of its group
            for i in range(oh):  # each output row
                for j in range(ow):  # each output column
                    total = 0.0
                    for c in range(per_group):
                        for u in range(kh):
                            for v in range(kw):
                                xv = xp[first + c, i * sh + u * dh, j * sw + v * dw]
                                total += xv * k4[o, c, u, v]
                    out[o, i, j] = total
    else:
        windows = sliding_window_view(
            xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2)
        )  # (C, H', W', reach_h, reach_w)
        windows = windows[:, ::sh, ::sw, ::dh, ::dw][:, :oh, :ow]
        windows = windows.reshape(g, per_group, *windows.shape[1:])
        k5 = k4.reshape(g, n_out // g, *k4.shape[1:])
        out = np.einsum("gchwuv,gocuv->gohw", windows, k5, optimize=True)
        out = out.reshape(n_out, oh, ow)  # (O, H', W')
    return out[0] if shape == "2d" else out


def conv1d(
    signal: object,
    kernel: object,
    *,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    groups: int = 1,
    flip: bool = False,
    method: str = "fast",
) -> np.ndarray:
    """1-D convolution: a 2-D one with one row. Shapes as conv2d's without the height: a
    signal (N,) or (C, N), a kernel (k,), (C, k) or (O, C/groups, k).

    Example:
        >>> conv1d([1, 2, 3, 4], [1, -1])                 # array([-1., -1., -1.])
    """
    s, k = _as_input(signal, "conv1d"), _as_input(kernel, "conv1d")
    if s.ndim not in (1, 2) or not 1 <= k.ndim <= 3:
        raise ConvMathError(
            f"conv1d: Expected a signal (N,) or (C, N) and a kernel (k,), (C, k) or "
            f"(O, C/groups, k). Received: shapes {s.shape} and {k.shape}"
        )
    pad = (0, padding) if not isinstance(padding, (tuple, list)) else (0, padding[1])
    try:
        out = conv2d(
            s[None] if s.ndim == 1 else s[:, None],
            k[None] if k.ndim == 1 else k[..., None, :],
            stride=(1, stride) if isinstance(stride, int) else stride,
            padding=pad,
            dilation=(1, dilation) if isinstance(dilation, int) else dilation,
            groups=groups,
            flip=flip,
            method=method,
        )
    except ConvMathError as exc:
        raise ConvMathError(str(exc).replace("conv2d", "conv1d")) from None
    return out[0] if out.ndim == 2 else out[:, 0]


# ----------------------------------------------------------------------------- steps
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


__all__ = [
    "PADDING_MODES",
    "Step",
    "Window",
    "conv1d",
    "conv2d",
    "conv2d_steps",
    "conv_transpose2d",
    "explain_output_size",
    "explain_transposed_output_size",
    "output_size",
    "pad2d",
    "pool2d",
    "pool2d_grid",
    "pool2d_steps",
    "receptive_reach",
    "resolve_padding",
    "transposed_output_size",
    "window",
]
