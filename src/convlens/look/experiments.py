"""Pictures of experiments: a CNN-versus-MLP comparison and a sweep, beside their tables.

`write_compare` and `write_sweep` write what the engine writes (the Markdown table, and the
CSV of a sweep) plus the plot, and return every path in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

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
    ax_c.legend(fontsize=8)
    ax_c.set_title("same data, same budget", fontsize=10)
    x = range(len(rows))
    ax_b.bar([i - 0.2 for i in x], [r.params for r in rows], 0.4, label="parameters")
    ax_b.bar([i + 0.2 for i in x], [r.mult_adds for r in rows], 0.4, label="mult-adds / image")
    ax_b.set_xticks(list(x), [r.model for r in rows])
    ax_b.set_yscale("log"), ax_b.legend(fontsize=8)
    ax_b.set_title("size and compute", fontsize=10)
    fig.tight_layout()
    return fig


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
