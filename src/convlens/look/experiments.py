"""Pictures of experiments: a CNN-versus-MLP comparison and a sweep, beside their tables.

`write_compare` and `write_sweep` write what the engine writes (the Markdown table, and the
CSV of a sweep) plus the plot, and return every path in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from convlens.engine import compare as comparing
from convlens.engine import sweep as sweeping
from convlens.io import save_figure


def draw_compare(rows: Sequence[comparing.Row]) -> Figure:
    """Test accuracy per epoch for each model, and params / mult-adds side by side."""
    fig, (ax_c, ax_b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for r in rows:
        ax_c.plot(
            range(1, len(r.curve) + 1),
            [100 * a for a in r.curve],
            "-o",
            markersize=4,
            label=f"{r.model} ({r.params:,} params)",
        )
    ax_c.set_xlabel("epoch"), ax_c.set_ylabel("test accuracy %"), ax_c.grid(alpha=0.3)
    epochs = max((len(r.curve) for r in rows), default=1)
    if epochs <= 20:
        ax_c.set_xticks(range(1, epochs + 1))
    else:
        ax_c.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_c.set_xlim(0.5, epochs + 0.5)
    ax_c.legend(fontsize=8)
    ax_c.set_title("same data, same budget", fontsize=10)
    x = range(len(rows))
    for shift, values, label in (
        (-0.2, [r.params for r in rows], "parameters"),
        (0.2, [r.mult_adds for r in rows], "mult-adds / image"),
    ):
        bars = ax_b.bar([i + shift for i in x], values, 0.4, label=label)
        ax_b.bar_label(bars, [_short(v) for v in values], fontsize=7, padding=2)
    ax_b.set_xticks(list(x), [r.model for r in rows])
    _log_axis(ax_b, [v for r in rows for v in (r.params, r.mult_adds)])
    ax_b.legend(fontsize=8, loc="upper left")
    ax_b.set_title("size and compute", fontsize=10)
    fig.tight_layout()
    return fig


def _short(value: float) -> str:
    """93,834 -> '93.8k', 2,794,240 -> '2.79M'."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:g}"


def _log_axis(ax: Axes, values: Sequence[float]) -> None:
    """A log y-axis labelled at 1, 2 and 5 times the powers of ten (as 100k, 2M), from
    below the smallest value to room above the largest for the legend and labels."""
    positive = [v for v in values if v > 0] or [1.0]
    ax.set_yscale("log")
    ax.set_ylim(min(positive) / 2, max(positive) * 12)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def draw_sweep(rows: Sequence[dict[str, Any]]) -> Figure:
    """Test accuracy of each combination (`convlens.engine.sweep.summarize` rows), best first,
    with the spread over seeds as error bars."""
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4))
    ax.bar(
        range(len(rows)),
        [100 * r["accuracy"] for r in rows],
        yerr=[100 * r["spread"] for r in rows],
        color="#2f6db5",
        capsize=4,
    )
    ax.set_xticks(range(len(rows)), [r["run"] for r in rows], rotation=30, ha="right", fontsize=8)
    low = min(100 * r["accuracy"] for r in rows)
    ax.set_ylim(max(0, low - 5), 100)
    ax.set_ylabel("test accuracy %")
    ax.set_title("Sweep, best first (error bars: spread over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def write_compare(rows: Sequence[comparing.Row], out: str | Path) -> list[Path]:
    """compare.md and compare.png in `out`."""
    return [
        *comparing.write_outputs(rows, out),
        save_figure(draw_compare(rows), Path(out) / "compare.png"),
    ]


def write_sweep(rows: Sequence[dict[str, Any]], out: str | Path) -> list[Path]:
    """sweep.md, sweep.csv and sweep.png in `out`."""
    return [
        *sweeping.write_outputs(rows, out),
        save_figure(draw_sweep(rows), Path(out) / "sweep.png"),
    ]
