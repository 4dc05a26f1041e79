"""Axis ticks and labels of the per-epoch pictures on short runs (1, 2 and 5 epochs): integer
epoch ticks, distinct and readable value ticks, sensible log ticks, labels inside the plot."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from convlens.engine import history
from convlens.engine.sweep import Result
from convlens.look.experiments import draw_compare
from convlens.look.results import draw_curves
from convlens.look.weights import draw_evolution_strip


def tick_labels(fig: Figure, ax: Axes, axis: str) -> list[str]:
    """The visible major tick labels of one axis, as drawn."""
    fig.canvas.draw()
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    lo, hi = min(lo, hi), max(lo, hi)
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks if lo <= t.get_position()[axis == "y"] <= hi]


def metrics(epochs: int, best: int) -> list[dict]:
    """Per-epoch metrics whose test accuracy peaks at epoch `best`."""
    return [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "test_loss": 1.1 / e,
            "train_accuracy": 0.5 + 0.08 * e,
            "test_accuracy": 0.9 - 0.01 * abs(e - best),
        }
        for e in range(1, epochs + 1)
    ]


@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_evolution_strip_has_epoch_ticks_and_distinct_percentages(monkeypatch, epochs):
    base = torch.linspace(-1, 1, 8 * 9).reshape(8, 1, 3, 3)
    hist = {"conv1": {e: base * (1.04**e) for e in range(epochs + 1)}}  # ~4% a step, alike
    monkeypatch.setattr(history, "read_history", lambda path: hist)
    fig = draw_evolution_strip(SimpleNamespace(path="run"))
    (ax,) = [a for a in fig.get_axes() if a.lines]
    assert tick_labels(fig, ax, "x") == [str(e) for e in range(1, epochs + 1)]
    ys = tick_labels(fig, ax, "y")
    assert len(ys) >= 3 and len(set(ys)) == len(ys) and ys[0] == "0%", ys
    # each label is its tick's value, not a rounding of it (7.5% was drawn as "8%")
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert [float(y.rstrip("%")) for y in ys] == pytest.approx([100 * t for t in ticks])
    plt.close("all")


@pytest.mark.parametrize("epochs", [2, 35])
def test_evolution_strip_title_clears_the_grid_and_no_band_is_left_empty(monkeypatch, epochs):
    base = torch.linspace(-1, 1, 8 * 9).reshape(8, 1, 3, 3)
    hist = {"conv1": {e: base * (1.04**e) for e in range(epochs + 1)}}
    monkeypatch.setattr(history, "read_history", lambda path: hist)
    fig = draw_evolution_strip(SimpleNamespace(path="run"))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    grid = [a for a in fig.get_axes() if a.images]
    (plot,) = [a for a in fig.get_axes() if a.lines]
    title = fig.subfigs[0]._suptitle  # the grid band's title
    top_row = max(a.get_window_extent(renderer).y1 for a in grid)
    assert title.get_window_extent(renderer).y0 > top_row  # the title sits above the filters
    bottom_row = min(a.get_tightbbox(renderer).y0 for a in grid)
    gap_inches = (bottom_row - plot.get_tightbbox(renderer).y1) / fig.dpi
    assert 0 < gap_inches < 1.0, gap_inches  # the curve follows the grid, no empty band
    plt.close("all")


@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_compare_has_epoch_ticks_and_labelled_log_ticks(epochs):
    results = [
        Result({"model": "mlp"}, 0, 0.87, 0.35, 93_834, 93_664, 1.0, 1e4, (0.8,) * epochs),
        Result({"model": "keras_mnist"}, 0, 0.89, 0.29, 93_322, 2_794_240, 9.0, 1e3,
               (0.85,) * epochs),
    ]  # fmt: skip
    fig = draw_compare(results)
    curve, bars = fig.get_axes()
    assert tick_labels(fig, curve, "x") == [str(e) for e in range(1, epochs + 1)]
    ys = tick_labels(fig, bars, "y")
    assert {"100k", "1M"} <= set(ys) and "2M" in ys, ys  # 1-2-5 steps between the decades
    assert all(not y.startswith("$") for y in ys), ys  # no 10^5 mathtext
    plt.close("all")


@pytest.mark.parametrize(("epochs", "best"), [(1, 1), (2, 1), (2, 2), (5, 1), (5, 5), (20, 20)])
def test_curves_keep_the_best_label_inside_the_plot(epochs, best):
    fig = draw_curves(metrics(epochs, best))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.get_axes()[1]
    (label,) = [t for t in ax.texts if t.get_text().startswith("best ")]
    box, inside = label.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1, (box, inside)
    assert inside.y0 <= box.y0 and box.y1 <= inside.y1, (box, inside)
    assert tick_labels(fig, ax, "x")[:2] == ["1", "2"][:epochs]
    plt.close("all")


def test_evolution_strip_percent_labels_are_the_tick_values(monkeypatch):
    """Mean changes up to ~10% give a 2.5% tick step: 7.5% is labelled 7.5%, not 8%."""
    base = torch.linspace(-1, 1, 8 * 9).reshape(8, 1, 3, 3)
    steps = [0.097, 0.076, 0.028, 0.007]
    hist = {"conv1": {0: base}}
    for e, c in enumerate(steps, start=1):
        hist["conv1"][e] = hist["conv1"][e - 1] * (1 + c)
    monkeypatch.setattr(history, "read_history", lambda path: hist)
    fig = draw_evolution_strip(SimpleNamespace(path="run"))
    (ax,) = [a for a in fig.get_axes() if a.lines]
    ys = tick_labels(fig, ax, "y")
    assert "7.5%" in ys and "2.5%" in ys, ys
    plt.close("all")
