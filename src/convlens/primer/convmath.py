"""What a convolution and a pooling layer compute: a readable reference, numpy in, numpy out.

Two paths give the same numbers. `method="loop"` is the lesson: nested loops over output
cells, each the sum of an input patch times the kernel. `method="fast"` (the default, so it
is usable on real photos) gathers every patch at once with numpy's `sliding_window_view`
and does one `einsum`. Both get their padding and output size from `resolve_padding` and
`output_size`, the one place that knows the formula

    out = floor((n + 2p - d(k-1) - 1) / s) + 1

`flip=False` is cross-correlation, what PyTorch's `Conv2d` computes; `flip=True` flips the
kernel first: the textbook convolution of `numpy.convolve` and `scipy.signal.convolve2d`.

Shapes: `x` is (H, W) or (C, H, W). `kernel` is (kh, kw), (C, kh, kw) or (O, C, kh, kw). A
2-D kernel on a (C, H, W) input is applied to each channel separately (C, H', W'); a
(C, kh, kw) kernel sums over channels into one map (H', W'), like one Conv2d filter; an
(O, C, kh, kw) kernel gives (O, H', W'), like Conv2d with O filters and no bias.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convlens.errors import ConvMathError, suggest

Padding = int | tuple[int, int] | str
PADDING_MODES = ("valid", "same", "full")


# ----------------------------------------------------------------------------- sizes
def _pos_int(name: str, value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConvMathError(f"{where}: Expected {name} an integer >= 1. Received: "
                            f"{name}={value!r}")
    return int(value)


def resolve_padding(padding: Padding, kernel: int, *, dilation: int = 1, stride: int = 1,
                    flip: bool = False, where: str = "conv") -> tuple[int, int]:
    """Zeros (before, after) on one axis for `padding` = int, 'valid', 'same' or 'full'.

    'same' keeps the size at stride 1. When the kernel's reach d(k-1) is odd (an even kernel)
    one side gets an extra zero: after for cross-correlation (as PyTorch does), before for the
    flipped convolution (as numpy and scipy do). 'full' pads d(k-1) on both sides: every
    overlap counts.
    """
    reach = dilation * (kernel - 1)                 # how far the kernel extends past one pixel
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            if stride != 1:
                raise ConvMathError(f"{where}: padding='same' with stride={stride} is ambiguous "
                                    f"(PyTorch refuses it too); use stride=1 or an int padding")
            small, large = reach // 2, reach - reach // 2
            return (large, small) if flip else (small, large)
        if mode == "full":
            return reach, reach
        raise ConvMathError(f"{where}: Expected padding an int, a pair or one of "
                            f"{', '.join(PADDING_MODES)}. Received: padding={padding!r}"
                            f"{suggest(mode, PADDING_MODES)}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ConvMathError(f"{where}: Expected padding >= 0. Received: padding={padding!r}")
    return int(padding), int(padding)


def _pads(padding: Padding, kernel: tuple[int, int], dilation: tuple[int, int], stride: int,
          where: str, flip: bool = False) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ConvMathError(f"{where}: Expected padding as (rows, cols). Received: "
                                f"padding={padding!r}")
        return tuple(resolve_padding(p, k, dilation=d, stride=stride, flip=flip,  # type: ignore
                                     where=where) for p, k, d in zip(padding, kernel, dilation))
    return tuple(resolve_padding(padding, k, dilation=d, stride=stride, flip=flip,  # type: ignore
                                 where=where) for k, d in zip(kernel, dilation))


def output_size(n: int, kernel: int, *, stride: int = 1, padding: Padding = 0,
                dilation: int = 1) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1, with p from `padding` (before + after)."""
    where = "output_size"
    n, kernel = _pos_int("n", n, where), _pos_int("kernel", kernel, where)
    stride, dilation = _pos_int("stride", stride, where), _pos_int("dilation", dilation, where)
    before, after = resolve_padding(padding, kernel, dilation=dilation, stride=stride,
                                    where=where)
    span = n + before + after - dilation * (kernel - 1)
    if span < 1:
        raise ConvMathError(f"{where}: a kernel reaching {dilation * (kernel - 1) + 1} does not "
                            f"fit in {n} + {before + after} padding; use more padding or a "
                            f"smaller kernel")
    return (span - 1) // stride + 1


def explain_output_size(n: int, kernel: int, *, stride: int = 1, padding: Padding = 0,
                        dilation: int = 1) -> str:
    """The output-size formula with the numbers filled in, e.g. for the CLI to print."""
    out = output_size(n, kernel, stride=stride, padding=padding, dilation=dilation)
    before, after = resolve_padding(padding, kernel, dilation=dilation, stride=stride)
    pad = f"2*{before}" if before == after else f"({before}+{after})"
    named = f" (padding={padding!r})" if isinstance(padding, str) else ""
    return (f"out = floor((n + 2p - d(k-1) - 1) / s) + 1 = floor(({n} + {pad} - "
            f"{dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}{named}")


# ----------------------------------------------------------------------------- checks
def _as_input(x: object, where: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ConvMathError(f"{where}: Expected numbers. Received: an array of {a.dtype}")
    return a.astype(np.float64)


def _kernel_as_4d(x: np.ndarray, kernel: np.ndarray, where: str
                  ) -> tuple[np.ndarray, np.ndarray, str]:
    """x as (C, H, W) and kernel as (O, C, kh, kw), plus how to shape the result."""
    if x.ndim not in (2, 3):
        raise ConvMathError(f"{where}: Expected x of shape (H, W) or (C, H, W). Received: "
                            f"x.shape={x.shape}")
    x3 = x[None] if x.ndim == 2 else x
    c = x3.shape[0]
    if kernel.ndim == 2:
        if x.ndim == 2:
            return x3, kernel[None, None], "2d"
        eye = np.zeros((c, c) + kernel.shape)      # the same kernel on every channel
        for i in range(c):
            eye[i, i] = kernel
        return x3, eye, "per-channel"
    if kernel.ndim == 3:
        kernel = kernel[None]
        shape = "2d"
    elif kernel.ndim == 4:
        shape = "4d"
    else:
        raise ConvMathError(f"{where}: Expected kernel of shape (kh, kw), (C, kh, kw) or "
                            f"(O, C, kh, kw). Received: kernel.shape={kernel.shape}")
    if kernel.shape[1] != c:
        raise ConvMathError(f"{where}: kernel has {kernel.shape[1]} input channels, x has {c}")
    return x3, kernel, shape


def pad2d(x: np.ndarray, padding: Padding, kernel: tuple[int, int] = (1, 1), *,
          dilation: int | tuple[int, int] = 1, stride: int = 1, value: float = 0.0) -> np.ndarray:
    """x (H, W) or (C, H, W) with `padding` zeros (or `value`) around the last two axes."""
    d = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    (top, bottom), (left, right) = _pads(padding, tuple(kernel), d, stride, "pad2d")
    a = np.asarray(x, dtype=np.float64)
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(a, widths, constant_values=value)


def _geometry(shape: tuple[int, int], kernel: tuple[int, int], stride: int, padding: Padding,
              dilation: int, where: str, flip: bool = False):
    stride = _pos_int("stride", stride, where)
    dilation = _pos_int("dilation", dilation, where)
    pads = _pads(padding, kernel, (dilation, dilation), stride, where, flip)
    outs = []
    for n, k, (b, a), axis in zip(shape, kernel, pads, ("rows", "cols")):
        reach = dilation * (k - 1) + 1
        if n + b + a < reach:
            kh, kw = kernel
            raise ConvMathError(
                f"{where}: kernel {kh}x{kw}{f' (dilation {dilation})' if dilation > 1 else ''} "
                f"does not fit in input {shape[0]}x{shape[1]} with padding={padding!r}; use "
                f"padding='same' or a kernel <= {max(1, (n + b + a - 1) // dilation + 1)}"
                f"x{max(1, (n + b + a - 1) // dilation + 1)}")
        outs.append((n + b + a - reach) // stride + 1)
    return stride, dilation, pads, tuple(outs)


# ----------------------------------------------------------------------------- convolution
def conv2d(x: object, kernel: object, *, stride: int = 1, padding: Padding = 0,
           dilation: int = 1, flip: bool = False, method: str = "fast") -> np.ndarray:
    """2-D convolution (cross-correlation unless `flip`) of x with kernel; see module doc."""
    where = "conv2d"
    if method not in ("fast", "loop"):
        raise ConvMathError(f"{where}: Expected method 'fast' or 'loop'. Received: "
                            f"method={method!r}")
    xa, ka = _as_input(x, where), _as_input(kernel, where)
    x3, k4, shape = _kernel_as_4d(xa, ka, where)
    if flip:
        k4 = k4[..., ::-1, ::-1]
    kh, kw = k4.shape[2:]
    stride, dilation, pads, (oh, ow) = _geometry(x3.shape[1:], (kh, kw), stride, padding,
                                                 dilation, where, flip)
    xp = np.pad(x3, [(0, 0), *pads])                                   # (C, H+p, W+p)
    if method == "loop":
        out = np.zeros((k4.shape[0], oh, ow))
        for o in range(k4.shape[0]):                     # each filter
            for i in range(oh):                          # each output row
                for j in range(ow):                      # each output column
                    total = 0.0
                    for c in range(k4.shape[1]):
                        for u in range(kh):
                            for v in range(kw):
                                total += (xp[c, i * stride + u * dilation, j * stride + v * dilation]
                                          * k4[o, c, u, v])
                    out[o, i, j] = total
    else:
        windows = sliding_window_view(xp, ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1),
                                      axis=(1, 2))             # (C, H', W', reach_h, reach_w)
        windows = windows[:, ::stride, ::stride, ::dilation, ::dilation][:, :oh, :ow]
        out = np.einsum("chwuv,ocuv->ohw", windows, k4, optimize=True)  # (O, H', W')
    return out[0] if shape == "2d" else out


def conv1d(signal: object, kernel: object, *, stride: int = 1, padding: Padding = 0,
           dilation: int = 1, flip: bool = False, method: str = "fast") -> np.ndarray:
    """1-D convolution of a signal (N,) with a kernel (k,): a 2-D one with one row."""
    s, k = _as_input(signal, "conv1d"), _as_input(kernel, "conv1d")
    if s.ndim != 1 or k.ndim != 1:
        raise ConvMathError(f"conv1d: Expected 1-D signal and kernel. Received: shapes "
                            f"{s.shape} and {k.shape}")
    pad = (0, padding) if not isinstance(padding, (tuple, list)) else (0, padding[1])
    try:
        return conv2d(s[None], k[None], stride=stride, padding=pad, dilation=dilation,
                      flip=flip, method=method)[0]
    except ConvMathError as exc:
        raise ConvMathError(str(exc).replace("conv2d", "conv1d")) from None


# ----------------------------------------------------------------------------- pooling
def pool2d(x: object, size: int | tuple[int, int], *, stride: int | None = None,
           padding: Padding = 0, mode: str = "max") -> np.ndarray:
    """Max or mean pooling of x (H, W) or (C, H, W); stride defaults to size (PyTorch).

    Padding counts like PyTorch: max pooling pads with -inf (never chosen), mean pooling
    with zeros that count in the average (avg_pool2d's count_include_pad=True).
    """
    where = "pool2d"
    if mode not in ("max", "mean"):
        raise ConvMathError(f"{where}: Expected mode 'max' or 'mean'. Received: mode={mode!r}"
                            f"{suggest(str(mode), ('max', 'mean'))}")
    xa = _as_input(x, where)
    if xa.ndim not in (2, 3):
        raise ConvMathError(f"{where}: Expected x of shape (H, W) or (C, H, W). Received: "
                            f"x.shape={xa.shape}")
    kh, kw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    kh, kw = _pos_int("size", kh, where), _pos_int("size", kw, where)
    stride = kh if stride is None else stride
    x3 = xa[None] if xa.ndim == 2 else xa
    stride, _, pads, (oh, ow) = _geometry(x3.shape[1:], (kh, kw), stride, padding, 1, where)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x3, [(0, 0), *pads], constant_values=fill)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
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


def conv2d_steps(x: object, kernel: object, *, stride: int = 1, padding: Padding = 0,
                 dilation: int = 1, flip: bool = False) -> Iterator[Step]:
    """The arithmetic of each output cell of a single-channel conv2d, row by row."""
    xa, ka = _as_input(x, "conv2d"), _as_input(kernel, "conv2d")
    if xa.ndim != 2 or ka.ndim != 2:
        raise ConvMathError(f"conv2d_steps: Expected a 2-D x and kernel. Received: shapes "
                            f"{xa.shape} and {ka.shape}")
    k = ka[::-1, ::-1] if flip else ka
    stride, dilation, pads, (oh, ow) = _geometry(xa.shape, k.shape, stride, padding, dilation,
                                                 "conv2d", flip)
    xp = np.pad(xa, pads)
    for i in range(oh):
        for j in range(ow):
            rows = tuple(i * stride + u * dilation for u in range(k.shape[0]))
            cols = tuple(j * stride + v * dilation for v in range(k.shape[1]))
            patch = xp[np.ix_(rows, cols)]
            products = patch * k
            yield Step((i, j), rows, cols, patch, products, float(products.sum()))


def pool2d_steps(x: object, size: int, *, stride: int | None = None, padding: Padding = 0,
                 mode: str = "max") -> Iterator[Step]:
    """The arithmetic of each output cell of a 2-D pooling, row by row."""
    xa = _as_input(x, "pool2d")
    if xa.ndim != 2:
        raise ConvMathError(f"pool2d_steps: Expected a 2-D x. Received: shape {xa.shape}")
    pool2d(xa, size, stride=stride, padding=padding, mode=mode)    # validates everything
    stride = size if stride is None else stride
    _, _, pads, (oh, ow) = _geometry(xa.shape, (size, size), stride, padding, 1, "pool2d")
    xp = np.pad(xa, pads, constant_values=-np.inf if mode == "max" else 0.0)
    for i in range(oh):
        for j in range(ow):
            rows = tuple(range(i * stride, i * stride + size))
            cols = tuple(range(j * stride, j * stride + size))
            patch = xp[np.ix_(rows, cols)]
            value = patch.max() if mode == "max" else patch.mean()
            yield Step((i, j), rows, cols, patch, patch, float(value))


# ----------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class Kernel:
    """A classic hand-made kernel."""

    name: str
    weights: np.ndarray
    description: str


def _k(name: str, rows: list[list[float]], description: str, scale: float = 1.0) -> Kernel:
    w = np.array(rows, dtype=np.float64) * scale
    w.setflags(write=False)
    return Kernel(name, w, description)


_g = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])
KERNELS: dict[str, Kernel] = {k.name: k for k in (
    _k("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]], "copies the image"),
    _k("box_blur", [[1, 1, 1]] * 3, "mean of the 3x3 neighbourhood", 1 / 9),
    _k("gaussian_blur", [[1, 2, 1], [2, 4, 2], [1, 2, 1]], "weighted mean, nearer counts more",
       1 / 16),
    _k("gaussian_blur_5x5", _g.tolist(), "wider Gaussian blur (5x5)", 1 / 256),
    _k("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "centre minus its neighbours"),
    _k("sobel_x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "vertical edges (left-to-right change)"),
    _k("sobel_y", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "horizontal edges (top-to-bottom change)"),
    _k("prewitt_x", [[-1, 0, 1]] * 3, "vertical edges, unweighted"),
    _k("prewitt_y", [[-1, -1, -1], [0, 0, 0], [1, 1, 1]], "horizontal edges, unweighted"),
    _k("laplacian", [[0, 1, 0], [1, -4, 1], [0, 1, 0]], "second derivative: edges both ways"),
    _k("outline", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], "edges in every direction"),
    _k("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], "relief lit from the top left"),
    _k("horizontal_edge", [[10, 10, 10], [0, 0, 0], [-10, -10, -10]],
       "bright-above-dark boundaries (the notebooks' example)"),
)}


def get_kernel(name: str) -> Kernel:
    """A classic kernel by name; ConvMathError with a suggestion for unknown names."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in KERNELS:
        raise ConvMathError(f"unknown kernel {name!r}{suggest(key, KERNELS)}; known: "
                            f"{', '.join(KERNELS)}")
    return KERNELS[key]


def receptive_reach(kernel: int, dilation: int = 1) -> int:
    """How many input pixels one kernel row spans: d(k-1) + 1."""
    return dilation * (kernel - 1) + 1


__all__ = ["conv1d", "conv2d", "pool2d", "output_size", "explain_output_size",
           "resolve_padding", "pad2d", "conv2d_steps", "pool2d_steps", "Step", "Kernel",
           "KERNELS", "get_kernel", "receptive_reach", "PADDING_MODES"]

