"""Animated lessons: a kernel (or pooling window) sliding over a padded input, cell by cell.

Each frame shows the padded input (padding cells grey) with the window outlined, the
kernel, the output grid filling up, and the arithmetic of the current cell. The first frame
states the sizes and the output-size formula with the numbers filled in.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from PIL import Image

from convlens.io import figure_image
from convlens.primer.convmath import (
    Step,
    conv2d_steps,
    explain_output_size,
    pad2d,
    pool2d_steps,
)

PAD_COLOUR, WINDOW_COLOUR, DONE_COLOUR, NOW_COLOUR = "#d9d9d9", "#d62728", "#cfe3f7", "#ffcf66"
FRAME_MS = 900  # per cell: time to read its arithmetic (`convlens.io.save_gif(..., ms=FRAME_MS)`)


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
            text = f"{v:g}" if float(v).is_integer() else f"{v:.1f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if w <= 9 else 7)
    ax.set_title(title, fontsize=10)


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
    panels = 3 if kernel is not None else 2
    for k, step in enumerate([None, *steps]):
        fig, axes = plt.subplots(
            1,
            panels,
            figsize=(3.2 * panels + 1, 4.2),
            gridspec_kw={
                "width_ratios": [
                    w,
                    *([max(kernel.shape[1], 2)] if kernel is not None else []),
                    out_shape[1],
                ]
            },
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
            "padded input (grey = padding)",
            shade=pad_shade,
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
                        markersize=15,
                        markerfacecolor="none",
                        markeredgecolor=WINDOW_COLOUR,
                        linewidth=1,
                    )
        _grid(axes[-1], out, f"output {out_shape[0]}x{out_shape[1]}", shade=shade, blank=blank)
        fig.suptitle(intro if step is None else describe(step), fontsize=9, wrap=True)
        fig.tight_layout(rect=(0, 0, 1, 0.86))
        frames.append(figure_image(fig, dpi=80))
    return frames


def _terms(patch: np.ndarray, kernel: np.ndarray, limit: int = 9) -> str:
    terms = [f"{a:g}*{b:g}" for a, b in zip(patch.ravel(), kernel.ravel())]
    return " + ".join(terms[:limit]) + (" + ..." if len(terms) > limit else "")


def conv_explain_frames(
    x: np.ndarray, kernel: np.ndarray, *, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> list[Image.Image]:
    """Frames of a 2-D cross-correlation (what Conv2d computes) of small integer arrays."""
    steps = list(conv2d_steps(x, kernel, stride=stride, padding=padding, dilation=dilation))
    padded = pad2d(x, padding, kernel.shape, dilation=dilation, stride=stride)
    pad = _pad_sizes(x.shape, padded.shape, steps, padding, kernel.shape, dilation, stride)
    oh = 1 + max(s.out_index[0] for s in steps)
    ow = 1 + max(s.out_index[1] for s in steps)
    formula = explain_output_size(
        x.shape[0], kernel.shape[0], stride=stride, padding=padding, dilation=dilation
    )
    intro = (
        f"input {x.shape[0]}x{x.shape[1]}, kernel {kernel.shape[0]}x{kernel.shape[1]}, "
        f"stride {stride}, padding {padding!r}, dilation {dilation}\n{formula}"
    )
    return _render(
        padded,
        pad,
        steps,
        (oh, ow),
        kernel,
        intro,
        lambda s: (
            f"output[{s.out_index[0]}, {s.out_index[1]}] = {_terms(s.patch, kernel)} = {s.value:g}"
        ),
    )


def pool_explain_frames(
    x: np.ndarray, size: int, *, stride: int | None = None, padding: int = 0, mode: str = "max"
) -> list[Image.Image]:
    """Frames of a 2-D max or mean pooling."""
    steps = list(pool2d_steps(x, size, stride=stride, padding=padding, mode=mode))
    padded = pad2d(x, padding, (size, size), value=-np.inf if mode == "max" else 0.0)
    pad = (padding,) * 4
    oh = 1 + max(s.out_index[0] for s in steps)
    ow = 1 + max(s.out_index[1] for s in steps)
    formula = explain_output_size(x.shape[0], size, stride=stride or size, padding=padding)
    intro = (
        f"{mode} pooling: input {x.shape[0]}x{x.shape[1]}, window {size}x{size}, stride "
        f"{stride or size}, padding {padding}\n{formula}"
    )

    def describe(s: Step) -> str:
        vals = ", ".join(f"{v:g}" for v in s.patch.ravel() if np.isfinite(v))
        return f"output[{s.out_index[0]}, {s.out_index[1]}] = {mode}({vals}) = {s.value:g}"

    return _render(padded, pad, steps, (oh, ow), None, intro, describe)


def _pad_sizes(shape, padded_shape, steps, padding, kshape, dilation, stride):
    from convlens.primer.convmath import _pads

    (top, bottom), (left, right) = _pads(
        padding, tuple(kshape), (dilation, dilation), stride, "conv2d"
    )
    return top, bottom, left, right
