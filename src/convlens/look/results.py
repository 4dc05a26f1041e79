"""Pictures of results: training curves, test predictions with true labels, the confusion
matrix, the most confident mistakes, and predictions on your own images with their top-k."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from convlens.engine.evaluate import Evaluation
from convlens.engine.predict import Prediction
from convlens.errors import DataError
from convlens.io import save_figure
from convlens.look.pixels import show_pixels

WRONG, RIGHT = "#c62828", "#2e7d32"


def draw_curves(metrics: Sequence[dict]) -> Figure:
    """Loss and accuracy per epoch, train and test."""
    if not metrics:
        raise DataError("no finished epoch in this run yet; curves need at least one")
    epochs = [m["epoch"] for m in metrics]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, style in (("train", "-o"), ("test", "-s")):
        ax_l.plot(epochs, [m[f"{key}_loss"] for m in metrics], style, label=key, markersize=4)
        ax_a.plot(
            epochs, [100 * m[f"{key}_accuracy"] for m in metrics], style, label=key, markersize=4
        )
    ax_l.set_title("loss (train includes label smoothing)", fontsize=10)
    ax_a.set_title("accuracy", fontsize=10)
    ax_a.set_ylabel("%")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(epochs if len(epochs) <= 20 else ax.get_xticks())
    best = max(metrics, key=lambda m: m["test_accuracy"])
    x, y = best["epoch"], 100 * best["test_accuracy"]
    # inside the plot: the label leans away from the nearer side and the nearer edge
    (x0, x1), (y0, y1) = ax_a.get_xlim(), ax_a.get_ylim()
    right = (x - x0) / (x1 - x0 or 1) > 0.5
    low = (y - y0) / (y1 - y0 or 1) < 0.25
    ax_a.annotate(
        f"best {y:.2f}%",
        (x, y),
        textcoords="offset points",
        xytext=(-6 if right else 6, 8 if low else -8),
        ha="right" if right else "left",
        va="bottom" if low else "top",
        fontsize=8,
        annotation_clip=False,
    )
    fig.tight_layout()
    return fig


def draw_test_predictions(
    ev: Evaluation, images: torch.Tensor, indices: Sequence[int], *, cols: int = 6
) -> tuple[Figure, list[int]]:
    """Test images with predicted (and probability) and true labels; wrong ones in red.
    Returns the figure and the indices it shows that were predicted wrong."""
    rows = -(-len(indices) // cols)
    # constrained layout keeps each row's titles (two lines on a wrong one) between its own
    # images and the row above; tight_layout let a two-line title run into the image above
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.9 * cols, 2.4 * rows + 0.4), squeeze=False, layout="constrained"
    )
    wrong = []
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        pred, true = int(ev.preds[i]), int(ev.targets[i])
        show_pixels(ax, images[i])
        ax.axis("on")
        ok = pred == true
        if not ok:
            wrong.append(int(i))
            for side in ax.spines.values():
                side.set_edgecolor(WRONG), side.set_linewidth(3)
        title = f"{ev.classes[pred]} {ev.probs[i, pred]:.0%}"
        # no empty second line for a right one: a title sits just above its own image
        ax.set_title(
            title if ok else f"{title}\ntrue: {ev.classes[true]}",
            fontsize=8,
            color=RIGHT if ok else WRONG,
            pad=3,
        )
    fig.suptitle(
        f"Predictions on {ev.data} {ev.split} (above each image: the predicted class and "
        f"its probability; red: wrong, with the true class)",
        fontsize=10,
    )
    return fig, wrong


def draw_confusion(ev: Evaluation) -> Figure:
    """The confusion matrix: colours row-normalised (recall), numbers are counts."""
    cm = ev.confusion
    k = len(ev.classes)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(5.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(
                j,
                i,
                f"{n}",
                ha="center",
                va="center",
                fontsize=7 if k > 10 else 8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), ev.classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), ev.classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, shrink=0.7, label="fraction of the true class")
    ax.set_title(f"Confusion matrix, {ev.data} {ev.split}: accuracy {ev.accuracy:.2%}", fontsize=10)
    fig.tight_layout()
    return fig


def draw_mistakes(ev: Evaluation, images: torch.Tensor, *, n: int = 18, cols: int = 6) -> Figure:
    """The most confidently wrong test images, with both probabilities."""
    top = ev.top_losses(n)
    if len(top) == 0:
        raise DataError(f"no mistakes on {ev.data} {ev.split}: nothing to show")
    rows = -(-len(top) // cols)
    # constrained layout leaves room for each row's two-line titles (tight_layout let them
    # run into the images above); 2.4 inches a row fit a 2-inch image and its titles
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.0 * cols, 2.4 * rows + 0.3), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, top):
        pred, true = int(ev.preds[i]), int(ev.targets[i])
        show_pixels(ax, images[i])
        ax.axis("on")
        ax.set_title(
            f"said {ev.classes[pred]} {ev.probs[i, pred]:.0%}\nwas {ev.classes[true]} "
            f"{ev.probs[i, true]:.0%}",
            fontsize=8,
            color=WRONG,
        )
    fig.suptitle(
        f"The {len(top)} most confident mistakes on {ev.data} {ev.split} (highest loss first)",
        fontsize=10,
    )
    return fig


def draw_predictions(
    preds: Sequence[Prediction], *, top_k: int = 5, out: str | Path | None = None
) -> Figure:
    """One row per image: the input as the model sees it, and its top-k probabilities;
    written to `out` (.png, .svg, .pdf) when given."""
    n = max(1, len(preds))
    fig, axes = plt.subplots(
        n, 2, figsize=(8, 2.4 * n), squeeze=False, gridspec_kw={"width_ratios": [1, 2.2]}
    )
    for (ax_img, ax_bar), p in zip(axes, preds):
        show_pixels(ax_img, p.image, Path(p.source).name if "[" not in p.source else p.source)
        if p.prepared.inverted:
            ax_img.set_xlabel("inverted", fontsize=8)
        top = p.top(top_k)[::-1]
        colours = ["#9aa5b1"] * (len(top) - 1) + ["#2f6db5"]
        ax_bar.barh([name for name, _ in top], [pr for _, pr in top], color=colours)
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("probability")
        for y, (_, pr) in enumerate(top):
            inside = pr > 0.5
            ax_bar.text(
                pr - 0.01 if inside else pr + 0.01,
                y,
                f"{pr:.1%}",
                va="center",
                ha="right" if inside else "left",
                fontsize=8,
                color="white" if inside else "black",
            )
        ax_bar.spines[["top", "right"]].set_visible(False)
    fig.suptitle("What the model sees, and what it predicts", fontsize=11)
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out, close=False)
    return fig
