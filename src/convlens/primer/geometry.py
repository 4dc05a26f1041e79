"""Where a conv or pooling window sits: padding, output sizes, and which input cells one
output cell reads (shared by `convmath`, the summary's formulas and the web explorer).

`resolve_padding` turns int, 'valid', 'same' or 'full' into zeros before and after on one
axis; `output_size` is the one place that knows the formula

    out = floor((n + 2p - d(k-1) - 1) / s) + 1      (ceil instead of floor with ceil_mode)

and `window` says which cells of the padded input output cell (i, j) reads: rows
i*s + u*d and columns j*s + v*d. Kernel, stride and dilation are an int or a (rows, cols)
pair; pools may pad at most half their window, as PyTorch requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convlens.errors import ConvMathError, suggest

__all__ = [
    "PADDING_MODES",
    "Padding",
    "Window",
    "adaptive_window",
    "explain_output_size",
    "output_size",
    "receptive_reach",
    "resolve_padding",
    "window",
]

Padding = int | str | tuple[int | str, ...]  # per axis: (rows, cols)
Pair = int | tuple[int, ...]  # an int for both axes, or (rows, cols)
Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
PADDING_MODES = ("valid", "same", "full")


# ----------------------------------------------------------------------------- sizes
def _pos_int(name: str, value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConvMathError(f"{where}: Expected {name} an integer >= 1. Received: {name}={value!r}")
    return int(value)


def _pair(name: str, value: object, where: str) -> tuple[int, int]:
    """An integer >= 1 or a (rows, cols) pair of them, as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConvMathError(
                f"{where}: Expected {name} an integer or a (rows, cols) pair. "
                f"Received: {name}={value!r}"
            )
        return _pos_int(name, value[0], where), _pos_int(name, value[1], where)
    n = _pos_int(name, value, where)
    return n, n


def resolve_padding(
    padding: Padding,
    kernel: int,
    *,
    dilation: int = 1,
    stride: int = 1,
    flip: bool = False,
    where: str = "conv",
) -> tuple[int, int]:
    """Zeros (before, after) on one axis for `padding` = int, 'valid', 'same' or 'full'.

    'same' keeps the size at stride 1. When the kernel's reach d(k-1) is odd (an even kernel)
    one side gets an extra zero: after for cross-correlation (as PyTorch does), before for the
    flipped convolution (as numpy and scipy do). 'full' pads d(k-1) on both sides: every
    overlap counts.
    """
    reach = dilation * (kernel - 1)  # how far the kernel extends past one pixel
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            if stride != 1:
                raise ConvMathError(
                    f"{where}: padding='same' with stride={stride} is ambiguous "
                    f"(PyTorch refuses it too); use stride=1 or an int padding"
                )
            small, large = reach // 2, reach - reach // 2
            return (large, small) if flip else (small, large)
        if mode == "full":
            return reach, reach
        raise ConvMathError(
            f"{where}: Expected padding an int, a pair or one of "
            f"{', '.join(PADDING_MODES)}. Received: padding={padding!r}"
            f"{suggest(mode, PADDING_MODES)}"
        )
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ConvMathError(f"{where}: Expected padding >= 0. Received: padding={padding!r}")
    return int(padding), int(padding)


def _pads(
    padding: Padding,
    kernel: tuple[int, ...],
    dilation: tuple[int, int],
    stride: Pair,
    where: str,
    flip: bool = False,
) -> Pads:
    """Padding ((top, bottom), (left, right)) of a 2-D window, from `resolve_padding`."""
    strides = tuple(stride) if isinstance(stride, (tuple, list)) else (stride, stride)
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ConvMathError(
                f"{where}: Expected padding as (rows, cols). Received: padding={padding!r}"
            )
        per_axis = tuple(padding)
    else:
        per_axis = (padding, padding)
    return tuple(
        resolve_padding(
            p,
            k,
            dilation=d,
            stride=s,
            flip=flip,  # type: ignore
            where=where,
        )
        for p, k, d, s in zip(per_axis, kernel, dilation, strides)
    )


def _axis_out(
    n: int,
    kernel: int,
    stride: int,
    pads: tuple[int, int],
    dilation: int,
    ceil_mode: bool,
    *,
    drop_late: bool = True,
) -> int:
    """Output cells along one axis, as PyTorch counts them (< 1: not even one window fits).

    With ceil_mode a last, partial window counts too, unless it would start past the input
    (in the right padding or beyond): PyTorch drops that one.
    """
    before, after = pads
    room = n + before + after - dilation * (kernel - 1) - 1  # last start of a whole window
    if not ceil_mode:
        return room // stride + 1 if room >= 0 else 0
    out = -(-room // stride) + 1  # ceil(room / stride) + 1
    if drop_late and (out - 1) * stride >= n + before:
        out -= 1
    return out


def output_size(
    n: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1, with p from `padding` (before + after); with
    `ceil_mode` (pooling) ceil instead of floor, as PyTorch counts it.

    Example:
        >>> output_size(28, 3)                            # 26
        >>> output_size(28, 3, stride=2, padding=1)       # 14
    """
    where = "output_size"
    n, kernel = _pos_int("n", n, where), _pos_int("kernel", kernel, where)
    stride, dilation = _pos_int("stride", stride, where), _pos_int("dilation", dilation, where)
    before, after = resolve_padding(padding, kernel, dilation=dilation, stride=stride, where=where)
    out = _axis_out(n, kernel, stride, (before, after), dilation, bool(ceil_mode))
    if out < 1:
        raise ConvMathError(
            f"{where}: a kernel reaching {dilation * (kernel - 1) + 1} does not "
            f"fit in {n} + {before + after} padding; use more padding or a "
            f"smaller kernel"
        )
    return out


def explain_output_size(
    n: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> str:
    """The output-size formula with the numbers filled in, e.g. for the CLI to print."""
    out = output_size(
        n, kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode
    )
    before, after = resolve_padding(padding, kernel, dilation=dilation, stride=stride)
    pad = f"2*{before}" if before == after else f"({before}+{after})"
    named = f" (padding={padding!r})" if isinstance(padding, str) else ""
    rnd = "ceil" if ceil_mode else "floor"
    text = (
        f"out = {rnd}((n + 2p - d(k-1) - 1) / s) + 1 = {rnd}(({n} + {pad} - "
        f"{dilation}*({kernel}-1) - 1) / {stride}) + 1 = "
    )
    if ceil_mode:
        whole = _axis_out(n, kernel, stride, (before, after), dilation, True, drop_late=False)
        if whole != out:
            return (
                f"{text}{whole} - 1 = {out}{named} (ceil_mode; the last window would "
                f"start past the input, so it is dropped)"
            )
        return f"{text}{out}{named} (ceil_mode)"
    return f"{text}{out}{named}"


# ----------------------------------------------------------------------------- windows
Geometry = tuple[tuple[int, int], tuple[int, int], Pads, tuple[int, int]]


def _geometry(
    shape: tuple[int, int],
    kernel: tuple[int, int],
    stride: Pair,
    padding: Padding,
    dilation: Pair,
    where: str,
    flip: bool = False,
    ceil_mode: bool = False,
) -> Geometry:
    """(stride, dilation, pads, output shape) of a 2-D window sliding over `shape`."""
    strides, dils = _pair("stride", stride, where), _pair("dilation", dilation, where)
    pads = _pads(padding, kernel, dils, strides, where, flip)
    outs = tuple(
        _axis_out(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(shape, kernel, strides, pads, dils)
    )
    for n, (b, a), d, out in zip(shape, pads, dils, outs):
        if out < 1:
            kh, kw = kernel
            dil = f" (dilation {_pair_text(dils)})" if dils != (1, 1) else ""
            most = max(1, (n + b + a - 1) // d + 1)
            raise ConvMathError(
                f"{where}: kernel {kh}x{kw}{dil} does not fit in input {shape[0]}x{shape[1]} "
                f"with padding={padding!r}; use padding='same' or a kernel <= {most}x{most}"
            )
    return strides, dils, pads, outs  # type: ignore[return-value]


def _pool_geometry(
    shape: tuple[int, int],
    size: tuple[int, int],
    stride: Pair | None,
    padding: Padding,
    where: str,
    dilation: Pair = 1,
    ceil_mode: bool = False,
) -> Geometry:
    """`_geometry` of a pooling window; stride defaults to the window, and padding may be
    at most half the window, as PyTorch requires."""
    geometry = _geometry(
        shape, size, size if stride is None else stride, padding, dilation, where, False, ceil_mode
    )
    if any(max(p) > k // 2 for k, p in zip(size, geometry[2])):
        raise ConvMathError(
            f"{where}: padding should be at most half of the window (PyTorch's "
            f"rule: pad <= size // 2). Received: padding={padding!r} with "
            f"size {size[0]}x{size[1]}"
        )
    return geometry


@dataclass(frozen=True)
class Window:
    """Where one output cell of a conv or pool reads its input.

    Attributes:
        out_index: (i, j) of the output cell.
        rows, cols: indices into the PADDED input that the window covers.
        pads: ((top, bottom), (left, right)) padding around the input.
        padded_shape: (H, W) of the padded input.
    """

    out_index: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    pads: Pads
    padded_shape: tuple[int, int]

    def read(self, x: object, fill: float = 0.0, beyond: float | None = None) -> np.ndarray:
        """The cells of x (..., H, W) under the window, as (..., kh, kw). Padding reads as
        `fill`; cells past the padded input (a ceil_mode pool's last window) as `beyond`
        (default: `fill`)."""
        a = np.asarray(x, dtype=np.float64)
        (top, bottom), (left, right) = self.pads
        over_h = max(0, self.rows[-1] + 1 - self.padded_shape[0])
        over_w = max(0, self.cols[-1] + 1 - self.padded_shape[1])
        lead = [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, lead + [(top, bottom), (left, right)], constant_values=fill)
        a = np.pad(
            a, lead + [(0, over_h), (0, over_w)], constant_values=fill if beyond is None else beyond
        )
        return a[..., list(self.rows), :][..., list(self.cols)]


def _window_at(
    i: int,
    j: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: Pads,
    shape: tuple[int, int],
) -> Window:
    """Output cell (i, j) reads padded rows i*s + u*d and columns j*s + v*d."""
    rows = tuple(i * stride[0] + u * dilation[0] for u in range(kernel[0]))
    cols = tuple(j * stride[1] + v * dilation[1] for v in range(kernel[1]))
    padded = (shape[0] + pads[0][0] + pads[0][1], shape[1] + pads[1][0] + pads[1][1])
    return Window((i, j), rows, cols, pads, padded)


def window(
    shape: tuple[int, int],
    kernel: Pair,
    out_index: tuple[int, int],
    *,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    flip: bool = False,
    ceil_mode: bool = False,
) -> Window:
    """Which input cells output cell `out_index` of a conv or pool over an input of `shape`
    (H, W) reads. Pass a pool's stride (its window, when not set) and its `ceil_mode`."""
    where = "window"
    hw = (_pos_int("height", shape[0], where), _pos_int("width", shape[1], where))
    k = _pair("kernel", kernel, where)
    strides, dils, pads, (oh, ow) = _geometry(
        hw, k, stride, padding, dilation, where, flip, ceil_mode
    )
    i, j = (int(v) for v in out_index)
    if not (0 <= i < oh and 0 <= j < ow):
        raise ConvMathError(
            f"{where}: Expected an output cell inside {oh}x{ow}. Received: "
            f"out_index={tuple(out_index)!r}"
        )
    return _window_at(i, j, k, strides, dils, pads, hw)


def adaptive_window(
    shape: tuple[int, int], out_shape: tuple[int, int], out_index: tuple[int, int]
) -> Window:
    """Which input cells output cell `out_index` of an adaptive pool (e.g. a global average
    pool) reads: rows floor(i*H/oh) to ceil((i+1)*H/oh), as PyTorch splits the input."""
    where = "adaptive_window"
    hw = (_pos_int("height", shape[0], where), _pos_int("width", shape[1], where))
    outs = (_pos_int("height", out_shape[0], where), _pos_int("width", out_shape[1], where))
    index = tuple(int(v) for v in out_index)
    if not all(0 <= i < o for i, o in zip(index, outs)):
        raise ConvMathError(
            f"{where}: Expected an output cell inside {outs[0]}x{outs[1]}. "
            f"Received: out_index={tuple(out_index)!r}"
        )
    rows, cols = (
        tuple(range(i * n // o, -(-(i + 1) * n // o))) for i, n, o in zip(index, hw, outs)
    )
    return Window(index, rows, cols, ((0, 0), (0, 0)), hw)  # type: ignore[arg-type]


def receptive_reach(kernel: int, dilation: int = 1) -> int:
    """How many input pixels one kernel row spans: d(k-1) + 1."""
    return dilation * (kernel - 1) + 1


def _pair_text(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"
