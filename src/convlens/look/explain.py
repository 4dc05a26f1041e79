"""Animated lessons: a kernel (or pooling window) sliding over a padded input, cell by cell.

Each frame shows the input (padding cells grey, when there is padding) with the window
outlined, the kernel, the output grid filling up, and the arithmetic of the current cell, in
the same layout on every frame. The first frame states the sizes and the output-size formula
with the numbers filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from PIL import Image

from convlens.io import figure_image
from convlens.primer.convmath import (
    Step,
    conv2d_steps,
    explain_output_size,
    pool2d_grid,
    pool2d_steps,
)
from convlens.primer.geometry import Padding, Pair, _pads, _pair
from convlens.primer.transposed import (
    conv_transpose2d_steps,
    explain_transposed_output_size,
    transposed_canvas,
)

PAD_COLOUR, WINDOW_COLOUR, DONE_COLOUR, NOW_COLOUR = "#d9d9d9", "#d62728", "#cfe3f7", "#ffcf66"
FRAME_MS = 900  # per cell: time to read its arithmetic (`convlens.io.save_gif(..., ms=FRAME_MS)`)
CELL = 0.46  # inches per table cell; the frame is sized to its tables, so little is empty
TEXT_PT, TITLE_PT = 12, 12  # the arithmetic and the panel titles (at DPI: about 17 px)
DPI = 100
LINE = 0.26  # inches per line of text above the panels


def input_title(pad: Sequence[int]) -> str:
    """The input panel's title: it names the grey border only when there is one."""
    return "padded input (grey = padding)" if any(pad) else "input"


def frame_size(
    columns: Sequence[int], rows: int, texts: Sequence[str]
) -> tuple[tuple[float, float], float, float]:
    """(figsize, panels_top, cell inches) of a frame whose panels are tables `columns` cells
    wide and at most `rows` high, under the longest of `texts`: the frame is as wide as that
    text, cells grow (up to twice CELL) to fill that width, the text band is just tall enough."""
    lines = [line for t in texts for line in t.split("\n")]
    text_w = max(len(line) for line in lines) * TEXT_PT * 0.55 / 72 + 0.4
    gaps = 0.5 * len(columns) + 0.3
    cell = min(2 * CELL, max(CELL, (text_w - gaps) / sum(columns)))
    band = LINE * max(t.count("\n") + 1 for t in texts) + 0.2
    height = cell * rows + 0.8 + band  # 0.8: the panel titles and margins
    return (max(text_w, cell * sum(columns) + gaps), height), 1 - band / height, cell


def _finish(fig, text: str, panels_top: float) -> Image.Image:
    """Lay the panels out below `panels_top` the same way on every frame (the layout never
    depends on the text, so the GIF does not jump), then hang the text above them."""
    fig.tight_layout(rect=(0, 0, 1, panels_top), pad=0.5, w_pad=1.0)
    fig.text(
        0.5,
        1 - 0.08 / fig.get_figheight(),
        text,
        ha="center",
        va="top",
        fontsize=TEXT_PT,
        wrap=True,
    )
    return figure_image(fig, dpi=DPI)


def _grid(
    ax,
    values: np.ndarray,
    title: str,
    *,
    shade: np.ndarray | None = None,
    blank: np.ndarray | None = None,
) -> None:
    """Draw `values` as a table of numbers with optional cell colours."""
    h, w = values.shape
    ax.set_xlim(-0.5, w - 0.5), ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
    for (i, j), v in np.ndenumerate(values):
        colour = shade[i, j] if shade is not None and shade[i, j] else "white"
        ax.add_patch(
            Rectangle(
                (j - 0.5, i - 0.5), 1, 1, facecolor=colour, edgecolor="#888888", linewidth=0.6
            )
        )
        if blank is None or not blank[i, j]:
            text = f"{v:g}" if float(v).is_integer() else f"{v:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=11 if w <= 9 else 9)
    ax.set_title(title, fontsize=TITLE_PT)


def _render(
    padded: np.ndarray,
    pad: tuple[int, int, int, int],
    steps: Sequence[Step],
    out_shape: tuple[int, int],
    kernel: np.ndarray | None,
    intro: str,
    describe,
) -> list[Image.Image]:
    top, bottom, left, right = pad
    h, w = padded.shape
    is_pad = np.zeros((h, w), bool)
    is_pad[:top], is_pad[h - bottom :], is_pad[:, :left], is_pad[:, w - right :] = (
        True,
        True,
        True,
        True,
    )
    pad_shade = np.where(is_pad, PAD_COLOUR, "")
    out = np.zeros(out_shape)
    frames = []
    columns = [w, *([max(kernel.shape[1], 2)] if kernel is not None else []), out_shape[1]]
    texts = [intro, *(describe(s) for s in steps)]
    figsize, panels_top, cell = frame_size(columns, max(h, out_shape[0]), texts)
    for k, step in enumerate([None, *steps]):
        fig, axes = plt.subplots(
            1, len(columns), figsize=figsize, gridspec_kw={"width_ratios": columns}
        )
        blank = np.ones(out_shape, bool)
        shade = np.full(out_shape, "", dtype=object)
        for s in steps[:k]:
            out[s.out_index] = s.value
            blank[s.out_index] = False
            shade[s.out_index] = DONE_COLOUR
        _grid(
            axes[0],
            np.where(np.isfinite(padded), padded, 0),
            input_title(pad),
            shade=pad_shade,
            blank=~np.isfinite(padded),  # max pooling pads with -inf: never chosen, shown empty
        )
        if kernel is not None:
            _grid(axes[1], kernel, "kernel")
        if step is not None:
            shade[step.out_index] = NOW_COLOUR
            r0, c0 = step.rows[0], step.cols[0]
            axes[0].add_patch(
                Rectangle(
                    (c0 - 0.5, r0 - 0.5),
                    step.cols[-1] - c0 + 1,
                    step.rows[-1] - r0 + 1,
                    fill=False,
                    linewidth=2.5,
                    edgecolor=WINDOW_COLOUR,
                )
            )
            for r in step.rows:  # dilated windows skip cells: mark the ones used
                for c in step.cols:
                    axes[0].plot(
                        c,
                        r,
                        "o",
                        markersize=cell * 72 * 0.7,
                        markerfacecolor="none",
                        markeredgecolor=WINDOW_COLOUR,
                        linewidth=1,
                    )
        _grid(axes[-1], out, f"output {out_shape[0]}x{out_shape[1]}", shade=shade, blank=blank)
        frames.append(_finish(fig, intro if step is None else describe(step), panels_top))
    return frames


def _terms(patch: np.ndarray, kernel: np.ndarray, limit: int = 9) -> str:
    terms = [f"{a:g}*{b:g}" for a, b in zip(patch.ravel(), kernel.ravel())]
    return " + ".join(terms[:limit]) + (" + ..." if len(terms) > limit else "")


def _text(value: object) -> str:
    """A pair as 'rows x cols' when its two values differ."""
    if isinstance(value, (tuple, list)):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return repr(value) if isinstance(value, str) else str(value)


def _axis(value: object, axis: int) -> object:
    return value[axis] if isinstance(value, (tuple, list)) else value


def axis_formulas(shape: tuple[int, int], kshape: tuple[int, int], explain, **kwargs) -> str:
    """The output-size formula of each axis (once when both read the same), e.g. to print."""
    rows, cols = (
        explain(shape[a], kshape[a], **{k: _axis(v, a) for k, v in kwargs.items()}) for a in (0, 1)
    )
    return rows if rows == cols else f"rows: {rows}\ncols: {cols}"


def conv_explain_frames(
    x: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
) -> list[Image.Image]:
    """Frames of a 2-D cross-correlation (what Conv2d computes) of small arrays; stride,
    padding and dilation may differ per axis (rows, cols)."""
    steps = list(conv2d_steps(x, kernel, stride=stride, padding=padding, dilation=dilation))
    dils = _pair("dilation", dilation, "conv2d")
    (top, bottom), (left, right) = _pads(padding, tuple(kernel.shape), dils, stride, "conv2d")
    padded = np.pad(np.asarray(x, dtype=np.float64), ((top, bottom), (left, right)))
    oh = 1 + max(s.out_index[0] for s in steps)
    ow = 1 + max(s.out_index[1] for s in steps)
    formula = axis_formulas(
        x.shape,
        kernel.shape,
        explain_output_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    intro = (
        f"input {x.shape[0]}x{x.shape[1]}, kernel {kernel.shape[0]}x{kernel.shape[1]}, "
        f"stride {_text(stride)}, padding {_text(padding)}, dilation {_text(dilation)}\n{formula}"
    )
    return _render(
        padded,
        (top, bottom, left, right),
        steps,
        (oh, ow),
        kernel,
        intro,
        lambda s: (
            f"output[{s.out_index[0]}, {s.out_index[1]}] = {_terms(s.patch, kernel)} = {s.value:g}"
        ),
    )


def pool_explain_frames(
    x: np.ndarray,
    size: Pair,
    *,
    stride: Pair | None = None,
    padding: Padding = 0,
    mode: str = "max",
    dilation: Pair = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> list[Image.Image]:
    """Frames of a 2-D max or mean pooling, with PyTorch's padding, dilation, ceil_mode
    and count_include_pad."""
    args: dict[str, Any] = dict(
        stride=stride, padding=padding, mode=mode, dilation=dilation, ceil_mode=ceil_mode
    )
    steps = list(pool2d_steps(x, size, count_include_pad=count_include_pad, **args))
    grid = pool2d_grid(x, size, **args)
    sizes, dils = _pair("size", size, "pool2d"), _pair("dilation", dilation, "pool2d")
    (top, _), (left, _) = _pads(padding, sizes, dils, 1, "pool2d")
    pad = (top, grid.shape[0] - top - x.shape[0], left, grid.shape[1] - left - x.shape[1])
    oh = 1 + max(s.out_index[0] for s in steps)
    ow = 1 + max(s.out_index[1] for s in steps)
    strides = sizes if stride is None else stride
    formula = axis_formulas(
        x.shape,
        sizes,
        explain_output_size,
        stride=strides,
        padding=padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
    )
    extra = f", dilation {_text(dilation)}" if dils != (1, 1) else ""
    extra += ", ceil_mode" if ceil_mode else ""
    extra += ", count_include_pad=False" if mode == "mean" and not count_include_pad else ""
    intro = (
        f"{mode} pooling: input {x.shape[0]}x{x.shape[1]}, window {sizes[0]}x{sizes[1]}, "
        f"stride {_text(strides)}, padding {_text(padding)}{extra}\n{formula}"
    )

    def describe(s: Step) -> str:
        vals = [f"{v:g}" for v in s.products.ravel() if np.isfinite(v)]
        head = f"output[{s.out_index[0]}, {s.out_index[1]}] = "
        if mode == "max":
            return f"{head}max({', '.join(vals)}) = {s.value:g}"
        return f"{head}({' + '.join(vals)}) / {len(vals)} = {s.value:.3g}"

    return _render(grid, pad, steps, (oh, ow), None, intro, describe)


def conv_transpose_explain_frames(
    x: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> list[Image.Image]:
    """Frames of a 2-D transposed convolution: each input cell adds value * kernel into the
    output canvas, accumulated frame by frame; a last frame crops the padding off."""
    args: dict[str, Any] = dict(
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
    )
    steps = list(conv_transpose2d_steps(x, kernel, **args))
    (ch, cw), (oh, ow), (top, left) = transposed_canvas(x.shape, kernel.shape, **args)
    cropped = np.ones((ch, cw), bool)
    cropped[top : top + oh, left : left + ow] = False
    formula = axis_formulas(x.shape, kernel.shape, explain_transposed_output_size, **args)
    intro = (
        f"transposed conv: input {x.shape[0]}x{x.shape[1]}, kernel "
        f"{kernel.shape[0]}x{kernel.shape[1]}, stride {_text(stride)}, padding "
        f"{_text(padding)}, output_padding {_text(output_padding)}, dilation "
        f"{_text(dilation)}\neach input cell adds value*kernel into the canvas; padding crops "
        f"the canvas' border (grey)\n{formula}"
    )
    canvas = np.zeros((ch, cw))
    touched = np.zeros((ch, cw), bool)
    frames = []
    columns = [max(x.shape[1], 2), max(kernel.shape[1], 2), cw]
    texts = [
        intro,
        f"input[{x.shape[0]}, {x.shape[1]}] = {x.max():g} adds {x.max():g} * kernel into "
        f"canvas rows {ch}..{ch}, cols {cw}..{cw} (every 10th)",
    ]
    figsize, panels_top, _ = frame_size(columns, max(ch, x.shape[0]), texts)
    for k, step in enumerate([None, *steps, None]):
        fig, axes = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": columns})
        in_shade = np.full(x.shape, "", dtype=object)
        now = np.zeros((ch, cw), bool)
        if step is not None:
            canvas[np.ix_(step.rows, step.cols)] += step.products
            now[np.ix_(step.rows, step.cols)] = True
            in_shade[step.in_index] = NOW_COLOUR
        shade = np.where(cropped, PAD_COLOUR, np.where(touched, DONE_COLOUR, "")).astype(object)
        shade[now] = NOW_COLOUR
        touched |= now
        _grid(axes[0], x, "input", shade=in_shade)
        _grid(axes[1], kernel, "kernel")
        last = k == len(steps) + 1
        title = f"output {oh}x{ow}" if last else f"canvas {ch}x{cw} (grey = cropped)"
        _grid(axes[2], canvas, title, shade=shade, blank=~touched)
        if last:
            axes[2].add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5),
                    ow,
                    oh,
                    fill=False,
                    linewidth=2.5,
                    edgecolor=WINDOW_COLOUR,
                )
            )
            text = f"output = the canvas without its grey border: {oh}x{ow}\n{formula}"
        elif step is None:
            text = intro
        else:
            (i, j), r, c = step.in_index, step.rows, step.cols
            text = (
                f"input[{i}, {j}] = {step.value:g} adds {step.value:g} * kernel into canvas "
                f"rows {r[0]}..{r[-1]}, cols {c[0]}..{c[-1]}"
                + (f" (every {r[1] - r[0]}th)" if len(r) > 1 and r[1] - r[0] > 1 else "")
            )
        frames.append(_finish(fig, text, panels_top))
    return frames
