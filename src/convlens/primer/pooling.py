"""Pooling: what a max or mean pooling layer computes, as F.max_pool2d / F.avg_pool2d do
(padding, dilation, ceil_mode, count_include_pad), numpy in, numpy out; and `Step`, the
arithmetic of one output cell that the conv and pool animations show.

Re-exported by `convlens.primer.convmath`, the primer's front page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convlens.errors import ConvMathError, suggest
from convlens.primer.geometry import Padding, Pair, _pair, _pool_geometry

__all__ = ["Step", "pool2d", "pool2d_grid", "pool2d_steps"]

PairT = tuple[int, int]


# ----------------------------------------------------------------------------- checks
def _as_input(x: object, where: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ConvMathError(f"{where}: Expected numbers. Received: an array of {a.dtype}")
    return a.astype(np.float64)


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


# ----------------------------------------------------------------------------- pooling
def pool2d(
    x: object,
    size: Pair,
    *,
    stride: Pair | None = None,
    padding: Padding = 0,
    mode: str = "max",
    dilation: Pair = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Max or mean pooling of x (H, W) or (C, H, W); stride defaults to size (PyTorch).

    As F.max_pool2d / F.avg_pool2d: padding at most half the window; max pooling pads with
    -inf (never chosen) and may be dilated (mean pooling may not); mean pooling divides by
    the window's cells inside the padded input (`count_include_pad`) or inside the input
    only. `ceil_mode` keeps a last, partial window unless it would start past the input.

    Example:
        >>> pool2d(np.arange(16).reshape(4, 4), 2)        # [[5, 7], [13, 15]]
    """
    xa = _as_input(x, "pool2d")
    grid, counted, (kh, kw), (sh, sw), (dh, dw), (oh, ow) = _pool_grid(
        xa, size, stride, padding, mode, dilation, ceil_mode, count_include_pad
    )

    def windows(a: np.ndarray) -> np.ndarray:
        view = sliding_window_view(a, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(-2, -1))
        return view[..., ::sh, ::sw, :, :][..., :oh, :ow, ::dh, ::dw]

    if mode == "max":
        out = windows(grid).max(axis=(-2, -1))
    else:
        out = windows(grid).sum(axis=(-2, -1)) / windows(counted).sum(axis=(-2, -1))
    return out[0] if xa.ndim == 2 else out


def _pool_grid(
    xa: np.ndarray,
    size: Pair,
    stride: Pair | None,
    padding: Padding,
    mode: str,
    dilation: Pair,
    ceil_mode: bool,
    count_include_pad: bool,
) -> tuple[np.ndarray, np.ndarray, PairT, PairT, PairT, PairT]:
    """The padded input (C, H", W") every window reads (a ceil_mode window may reach past
    the padding), the cells its mean counts (1) and the pool's geometry."""
    where = "pool2d"
    if mode not in ("max", "mean"):
        raise ConvMathError(
            f"{where}: Expected mode 'max' or 'mean'. Received: mode={mode!r}"
            f"{suggest(str(mode), ('max', 'mean'))}"
        )
    if xa.ndim not in (2, 3):
        raise ConvMathError(
            f"{where}: Expected x of shape (H, W) or (C, H, W). Received: x.shape={xa.shape}"
        )
    k = _pair("size", size, where)
    if mode == "mean" and _pair("dilation", dilation, where) != (1, 1):
        raise ConvMathError(
            f"{where}: mean pooling has no dilation (nor has F.avg_pool2d). "
            f"Received: dilation={dilation!r}"
        )
    x3 = xa[None] if xa.ndim == 2 else xa
    strides, dils, pads, outs = _pool_geometry(
        x3.shape[1:], k, stride, padding, where, dilation, bool(ceil_mode)
    )
    beyond = [
        max(0, (o - 1) * s + d * (n - 1) + 1 - (size_ + a + b))
        for o, s, d, n, size_, (a, b) in zip(outs, strides, dils, k, x3.shape[1:], pads)
    ]
    grow = [(0, 0), (0, beyond[0]), (0, beyond[1])]
    fill = -np.inf if mode == "max" else 0.0
    grid = np.pad(np.pad(x3, [(0, 0), *pads], constant_values=fill), grow, constant_values=fill)
    ones = np.ones((1, *x3.shape[1:]))
    if count_include_pad:
        counted = np.pad(np.pad(ones, [(0, 0), *pads], constant_values=1.0), grow)
    else:
        counted = np.pad(np.pad(ones, [(0, 0), *pads]), grow)
    return grid, counted, k, strides, dils, outs


# ----------------------------------------------------------------------------- steps
def pool2d_steps(
    x: object,
    size: Pair,
    *,
    stride: Pair | None = None,
    padding: Padding = 0,
    mode: str = "max",
    dilation: Pair = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Iterator[Step]:
    """The arithmetic of each output cell of a 2-D pooling, row by row. A mean's
    `products` are the window's cells that count (the others NaN)."""
    xa = _as_input(x, "pool2d")
    if xa.ndim != 2:
        raise ConvMathError(f"pool2d_steps: Expected a 2-D x. Received: shape {xa.shape}")
    grid, counted, k, strides, dils, (oh, ow) = _pool_grid(
        xa, size, stride, padding, mode, dilation, ceil_mode, count_include_pad
    )
    for i in range(oh):
        for j in range(ow):
            rows = tuple(i * strides[0] + u * dils[0] for u in range(k[0]))
            cols = tuple(j * strides[1] + v * dils[1] for v in range(k[1]))
            patch = grid[0][np.ix_(rows, cols)]
            if mode == "max":
                yield Step((i, j), rows, cols, patch, patch, float(patch.max()))
            else:
                used = counted[0][np.ix_(rows, cols)] > 0
                value = float(patch.sum() / used.sum())
                yield Step((i, j), rows, cols, patch, np.where(used, patch, np.nan), value)


def pool2d_grid(
    x: object,
    size: Pair,
    *,
    stride: Pair | None = None,
    padding: Padding = 0,
    mode: str = "max",
    dilation: Pair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """The padded input (H", W") that `pool2d_steps`' rows and cols index: padding (and
    past it, the reach of a ceil_mode window) filled with -inf (max) or 0 (mean)."""
    xa = _as_input(x, "pool2d")
    return _pool_grid(xa, size, stride, padding, mode, dilation, ceil_mode, True)[0][0]
