"""Pictures of experiments: a CNN-versus-MLP comparison and a sweep, beside their tables.

`write_compare` and `write_sweep` write what the engine writes (the Markdown table and the
CSV) plus the plot, and return every path in that order.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from convlens.engine import sweep as sweeping
from convlens.io import save_figure


def draw_compare(results: Sequence[sweeping.Result]) -> Figure:
    """Test accuracy per epoch for each model (the mean over its seeds), and params /
    mult-adds side by side."""
    by_model: dict[str, list[sweeping.Result]] = {}
    for result in results:
        by_model.setdefault(sweeping.label(result.combo), []).append(result)
    rows = [
        _Model(
            name,
            rs[0].params,
            rs[0].mult_adds,
            [sum(c) / len(c) for c in zip(*(r.curve for r in rs))],
        )
        for name, rs in by_model.items()
    ]
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


@dataclass(frozen=True)
class _Model:
    """One model of a comparison, as the picture shows it."""

    model: str
    params: int
    mult_adds: int
    curve: list[float]  # mean test accuracy per epoch


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


def draw_sweep(rows: Sequence[dict[str, Any]], title: str = "Sweep, best first") -> Figure:
    """Test accuracy of each combination (`convlens.engine.sweep.summarize` rows), best at
    the top: a dot at the mean and a bar for the spread over seeds. Dots rather than bars,
    since the axis is zoomed to where the accuracies are; long names wrap."""
    labels = [textwrap.fill(str(r["run"]), 34) for r in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(
        figsize=(7.5, 1.2 + 0.3 * lines + 0.15 * len(rows)), layout="constrained"
    )
    where = list(range(len(rows)))[::-1]  # best on top
    means = [100 * r["accuracy"] for r in rows]
    spreads = [100 * r["spread"] for r in rows]
    ax.errorbar(means, where, xerr=spreads, fmt="o", color="#2f6db5", ecolor="#2f6db5", capsize=4)
    for y, m, r in zip(where, means, rows):
        seeds = f" ± {100 * r['spread']:.2f} ({r['seeds']} seeds)" if r["seeds"] > 1 else ""
        ax.annotate(
            f"{m:.2f}%{seeds}",
            (m, y),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_yticks(where, labels, fontsize=8)
    low = min(m - s for m, s in zip(means, spreads))
    high = max(m + s for m, s in zip(means, spreads))
    pad = max(1.0, 0.15 * (high - low))
    ax.set_xlim(max(0.0, low - pad), min(100.0, high + pad))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("test accuracy %")
    ax.grid(axis="x", alpha=0.3)
    spread = any(r["seeds"] > 1 for r in rows)
    ax.set_title(
        f"{title} ({'bars: spread over seeds' if spread else 'one seed each'})", fontsize=10
    )
    return fig


def write_compare(
    rows: Sequence[dict[str, Any]], results: Sequence[sweeping.Result], out: str | Path
) -> list[Path]:
    """compare.md, compare.csv and compare.png in `out`."""
    return [
        *sweeping.write_outputs(rows, out, "compare"),
        save_figure(draw_compare(results), Path(out) / "compare.png"),
    ]


def write_sweep(rows: Sequence[dict[str, Any]], out: str | Path) -> list[Path]:
    """sweep.md, sweep.csv and sweep.png in `out`."""
    return [
        *sweeping.write_outputs(rows, out),
        save_figure(draw_sweep(rows), Path(out) / "sweep.png"),
    ]
