"""Architecture picture: each feature map a 3-D box, dense layers as thin tall bars.

In the style of visualkeras: a box's width follows the channels, its height the feature-map
height and its (pseudo-perspective) depth the feature-map width, all on sqrt scales with
clamps so 1x1x1024 and 32x32x64 both stay readable. Shapes and types come from
`convlens.models.summary` (one forward pass), colours and legend from the row category. Drawn
with matplotlib Polygon patches, so PNG, SVG and PDF come from one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convlens.errors import ConfigError
from convlens.io import save_figure
from convlens.models.summary import ModelSummary, shape_text, summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

OUT_SUFFIXES = (".png", ".svg", ".pdf")
DPI = 150
COLORS = {  # category -> face colour (Tableau 10)
    "input": "#bab0ac",
    "conv": "#4e79a7",
    "block": "#9c6ade",
    "pool": "#f28e2b",
    "flatten": "#d4a6c8",
    "dense": "#59a14f",
    "norm": "#edc948",
    "activation": "#e15759",
    "dropout": "#76b7b2",
    "other": "#b07aa1",
}
LABELS = {
    "input": "input",
    "conv": "convolution",
    "block": "residual block",
    "pool": "pooling",
    "flatten": "flatten",
    "dense": "dense (linear)",
    "norm": "normalisation",
    "activation": "activation",
    "dropout": "dropout",
    "other": "other",
}
# Drawing units are points (1/72 inch): text sizes and box sizes share one scale.
GAP, MARGIN, FONT = 14.0, 18.0, 7.0


@dataclass(frozen=True)
class _Item:
    """One drawn layer: a box (C, H, W) or a bar (N)."""

    name: str
    category: str
    shape: tuple[int, ...]
    width: float  # x extent of the front face
    height: float  # y extent of the front face
    depth: float  # perspective offset (dx = dy = depth)

    @property
    def label_width(self) -> float:
        return 0.62 * FONT * max(len(self.name), len(shape_text(self.shape)))

    @property
    def slot(self) -> float:
        return max(self.width + self.depth, self.label_width) + GAP


def check_out_path(out: str | Path) -> Path:
    """Return `out` as a Path if its suffix is one we can write, else raise ConfigError."""
    path = Path(out)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(
            f"Expected an output file ending in {', '.join(OUT_SUFFIXES)}. "
            f"Received: out={str(out)!r}"
        )
    return path


def draw_architecture(
    model: nn.Module, input_shape: tuple[int, ...], *, out: str | Path | None = None
) -> Figure:
    """Draw `model` on `input_shape` as layered boxes; save to `out` (.png/.svg/.pdf) if given.

    Raises:
        ConfigError: unknown output suffix or bad input shape. ModelError: forward fails.
    """
    if out is not None:
        check_out_path(out)
    return draw_summary(summary(model, input_shape), out=out)


def draw_summary(s: ModelSummary, *, out: str | Path | None = None) -> Figure:
    """Draw the layers of an existing summary (see `draw_architecture`)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    path = check_out_path(out) if out is not None else None
    items = _items(s)
    items_w = sum(i.slot for i in items) - GAP
    total_w = items_w + 2 * MARGIN
    top = max(i.height / 2 + i.depth for i in items)
    bottom = max(i.height / 2 for i in items)
    label_h, head_h = 2.6 * FONT + 6, 6.2 * FONT + 16
    total_h = top + bottom + label_h + head_h + 2 * MARGIN
    seen = list(dict.fromkeys(i.category for i in items))
    legend_w = sum(0.62 * FONT * len(LABELS[c]) + 2.6 * FONT + 8 for c in seen)
    title = s.spec_text if s.spec_text and len(s.spec_text) <= 110 else s.model_name
    title_w = 0.62 * (FONT + 1.5) * len(title)
    total_w = max(total_w, legend_w + 2 * MARGIN, title_w + 2 * MARGIN, 300.0)

    # whole pixels, so the saved PNG is exactly figsize * DPI
    px_w, px_h = math.ceil(total_w / 72 * DPI), math.ceil(total_h / 72 * DPI)
    fig = Figure(figsize=(px_w / DPI, px_h / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, total_w)
    ax.set_ylim(-(bottom + label_h + MARGIN), top + head_h + MARGIN)
    ax.set_axis_off()
    x = (total_w - items_w) / 2  # centred when the header is wider than the layers
    for item in items:
        _draw_item(ax, x, item)
        cx = x + (item.width + item.depth) / 2
        ax.text(
            cx,
            -bottom - 4,
            f"{item.name}\n{shape_text(item.shape)}",
            ha="center",
            va="top",
            fontsize=FONT,
            linespacing=1.25,
            color="#222222",
        )
        x += item.slot

    ax.text(
        MARGIN,
        top + head_h + MARGIN - 4,
        title,
        ha="left",
        va="top",
        fontsize=FONT + 1.5,
        fontweight="bold",
        color="#222222",
    )
    ax.text(
        MARGIN,
        top + head_h + MARGIN - 4 - 1.9 * FONT,
        f"input {shape_text(s.input_shape)}  |  {s.total_params:,} parameters  |  "
        f"{s.total_mult_adds:,} mult-adds",
        ha="left",
        va="top",
        fontsize=FONT,
        color="#555555",
    )
    handles = [
        Patch(facecolor=COLORS[c], edgecolor="#333333", linewidth=0.5, label=LABELS[c])
        for c in seen
    ]
    fig.legend(
        handles=handles,
        loc="upper left",
        ncol=len(handles),
        fontsize=FONT,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.2,
        borderaxespad=0,
        bbox_to_anchor=((MARGIN - 2) / total_w, 1 - (MARGIN + 3.9 * FONT + 2) / total_h),
    )
    if path is not None:
        save_figure(fig, path, dpi=DPI, close=False, crop=False)  # laid out to the pixel
    return fig


def _items(s: ModelSummary) -> list[_Item]:
    """The layers worth drawing: the input, then rows that change the shape or hold weights
    (element-wise activations and norms that keep the shape are folded into the previous)."""
    items = [_item("input", "input", s.input_shape)]
    for row in s.rows:
        elementwise = row.category not in ("conv", "block", "dense")
        if elementwise and row.output_shape == items[-1].shape:
            continue
        items.append(_item(row.name, row.category, row.output_shape))
    return items


def _item(name: str, category: str, shape: tuple[int, ...]) -> _Item:
    """Box sizes on sqrt scales with clamps; vectors become thin tall bars."""
    dims = [n for n in shape]
    if len(dims) >= 3 and math.prod(dims[-2:]) > 1:
        c, h, w = math.prod(dims[:-2]), dims[-2], dims[-1]
        return _Item(
            name,
            category,
            tuple(shape),
            width=_clamp(3 + 2.0 * math.sqrt(c), 4, 64),
            height=_clamp(7.5 * math.sqrt(h), 12, 130),
            depth=_clamp(3.6 * math.sqrt(w), 5, 56),
        )
    n = math.prod(dims) if dims else 1
    return _Item(
        name,
        category,
        tuple(shape),
        width=5.0,
        height=_clamp(10 + 4.0 * math.sqrt(n), 14, 160),
        depth=3.0,
    )


def _draw_item(ax, x: float, item: _Item) -> None:
    """Front, top and side faces of a pseudo-perspective box centred on y = 0."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Polygon

    base = to_rgb(COLORS[item.category])
    light = tuple(v + (1 - v) * 0.35 for v in base)
    dark = tuple(v * 0.72 for v in base)
    w, h, d = item.width, item.height, item.depth
    y = -h / 2
    faces = [
        ([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], base),  # front
        ([(x, y + h), (x + d, y + h + d), (x + w + d, y + h + d), (x + w, y + h)], light),  # top
        ([(x + w, y), (x + w + d, y + d), (x + w + d, y + h + d), (x + w, y + h)], dark),  # side
    ]
    for points, colour in faces:
        ax.add_patch(
            Polygon(
                points,
                closed=True,
                facecolor=colour,
                edgecolor="#2b2b2b",
                linewidth=0.5,
                joinstyle="round",
            )
        )


def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)
