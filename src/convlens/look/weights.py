"""Pictures of weights: conv filters in a grid (3x3 ones beside the classic kernel each
resembles), how they evolve and how much they change epoch by epoch, and an MLP's first- and
second-layer weights as images."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PIL import Image
from torch import nn

from convlens.engine.runs import Run
from convlens.errors import DataError, ModelError
from convlens.io import figure_image, to_uint8
from convlens.models.hooks import conv_layers, conv_module
from convlens.primer.kernels import KERNELS

MAX_FILTERS = 64  # filters drawn per layer (the count is in the title when capped)
MAX_PAIRS = 32  # 3x3 filters drawn beside their closest classic kernel
MAX_ROWS = 16  # filters drawn as rows of input-channel slices, for deeper layers
MAX_CHANNELS = 8  # input channels drawn per filter for deeper layers
# a filter "resembles" a classic kernel at this |cosine similarity| or more; random 3x3 filters
# reach it about 1 time in 12 (their best match has a median of 0.56)
RESEMBLES = 0.8


def grid_shape(n: int, *, max_cols: int = 8) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for n panels, at most `max_cols` wide."""
    cols = max(1, min(max_cols, n, int(np.ceil(np.sqrt(n)))))
    return -(-n // cols), cols


def _limit(w: np.ndarray) -> float:
    return float(np.abs(w).max()) or 1.0


def closest_kernel(weights: np.ndarray) -> tuple[str, float]:
    """The classic 3x3 kernel most like `weights` (cosine similarity of zero-mean, unit-norm
    weights; a negative match counts, marked by a minus sign in the similarity)."""

    def unit(a: np.ndarray) -> np.ndarray:
        a = a - a.mean()
        n = np.linalg.norm(a)
        return a / n if n else a

    w = unit(weights)
    scores = {
        name: float((unit(k.weights) * w).sum())
        for name, k in KERNELS.items()
        if k.weights.shape == weights.shape and name not in ("identity", "box_blur")
    }
    name = max(scores, key=lambda n: abs(scores[n]))
    return name, scores[name]


def draw_filters(model: nn.Module, layer: str | None = None, *, title: str = "") -> Figure:
    """Kernels of a conv layer: RGB patches for colour input; a near-square grid for one input
    channel (3x3 ones beside their closest classic kernel); for deeper layers one row per
    filter, its first input-channel slices across."""
    convs = conv_layers(model)
    if not convs:
        raise ModelError("this model has no Conv2d layer; for an MLP use `convlens show mlp`")
    layer = layer or convs[0]
    w = conv_module(model, layer).weight.detach().float().cpu().numpy()  # (O, C, kh, kw)
    o, c = w.shape[:2]
    lim = _limit(w)
    if c == 3:
        return _rgb_filters(w[:MAX_FILTERS], layer, o, title)
    if c == 1 and w.shape[2:] == (3, 3):
        return _filters_with_kernels(w[:MAX_PAIRS, 0], layer, o, lim, title)
    if c == 1:
        return _gray_filters(w[:MAX_FILTERS, 0], layer, o, lim, title)
    return _channel_rows(w, layer, lim, title)


def _capped(n: int, total: int, what: str = "filters") -> str:
    return f"{total} {what}" if n == total else f"first {n} of {total} {what}"


def _gray_filters(w: np.ndarray, layer: str, total: int, lim: float, title: str) -> Figure:
    rows, cols = grid_shape(len(w))
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.0 * cols + 1.4, 1.05 * rows + 0.9), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= len(w):
            ax.axis("off")
            continue
        im = ax.imshow(w[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(str(i), fontsize=7, pad=2)
    fig.colorbar(im, ax=axes, shrink=0.6, label="weight")
    kh, kw = w.shape[1:]
    fig.suptitle(
        title
        or f"{layer}: {_capped(len(w), total)}, {kh}x{kw}, one input channel\n"
        f"red = positive weight, blue = negative",
        fontsize=10,
    )
    return fig


def _channel_rows(w: np.ndarray, layer: str, lim: float, title: str) -> Figure:
    o, c = w.shape[:2]
    n, ch = min(o, MAX_ROWS), min(c, MAX_CHANNELS)
    fig, axes = plt.subplots(n, ch, figsize=(0.75 * ch + 2.2, 0.72 * n + 1.3), squeeze=False)
    for i in range(n):
        for j in range(ch):
            im = axes[i, j].imshow(w[i, j], cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(f"filter {i}", rotation=0, fontsize=7, ha="right", va="center")
    for j in range(ch):
        axes[0, j].set_title(f"in {j}", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.5, label="weight")
    fig.suptitle(
        title
        or f"{layer}: {_capped(n, o)} (rows) x {_capped(ch, c, 'input-channel slices')}"
        f"\n(columns), {w.shape[2]}x{w.shape[3]} each",
        fontsize=10,
    )
    return fig


def _rgb_filters(w: np.ndarray, layer: str, total: int, title: str) -> Figure:
    rows, cols = grid_shape(len(w))
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.2 * rows + 0.6), squeeze=False)
    for ax, f in zip(axes.flat, w):
        ax.imshow(to_uint8(f.transpose(1, 2, 0)), interpolation="nearest")
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= len(w):
            ax.axis("off")
    fig.suptitle(
        title
        or f"{layer}: {_capped(len(w), total, 'colour filters')} as RGB patches\n"
        f"(each scaled to its range)",
        fontsize=10,
    )
    return fig


def _filters_with_kernels(w: np.ndarray, layer: str, total: int, lim: float, title: str) -> Figure:
    pairs = len(w)
    cols = 4
    rows = -(-pairs // cols)
    height = rows * 1.55 + 0.8
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.25, height), squeeze=False)
    # margins in inches: 8 rows of filters left an inch empty under the title as fractions
    fig.subplots_adjust(top=1 - 0.95 / height, bottom=0.25 / height)
    for k in range(rows * cols):
        ax_w, ax_k = axes[k // cols, 2 * (k % cols)], axes[k // cols, 2 * (k % cols) + 1]
        for ax in (ax_w, ax_k):
            ax.set_xticks([]), ax.set_yticks([])
        if k >= pairs:
            ax_w.axis("off"), ax_k.axis("off")
            continue
        name, score = closest_kernel(w[k])
        im = ax_w.imshow(w[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax_w.set_title(f"filter {k}", fontsize=8)
        # the classic kernel on its own symmetric scale (its values are not weights)
        ref = KERNELS[name].weights * np.sign(score)
        close = abs(score) >= RESEMBLES
        ax_k.imshow(
            ref, cmap="RdBu_r", vmin=-_limit(ref), vmax=_limit(ref), alpha=1.0 if close else 0.3
        )
        signed = f"{'-' if score < 0 else ''}{name}"
        # a miss is rounded down: 0.7996 read "0.80" under "no match" beside "sim >= 0.8"
        below = np.floor(abs(score) * 100) / 100
        ax_k.set_title(
            f"{signed}\nsim {abs(score):.2f}" if close else f"no match\n({signed} {below:.2f})",
            fontsize=7 if close else 6,  # a faded name stays clear of its neighbours
            color="black" if close else "#777777",
        )
    fig.colorbar(im, ax=axes, shrink=0.6, label="learned weight (left panels)")
    fig.suptitle(
        title
        or f"{layer}: {_capped(pairs, total)} (left) beside the most similar classic "
        f"kernel (right, on its own scale)\nnamed when it resembles the filter: sim >= "
        f"{RESEMBLES} (cosine of zero-mean weights; faded below); '-name' = sign flipped",
        fontsize=10,
        y=1 - 0.1 / height,
        va="top",
    )
    return fig


# ----------------------------------------------------------------------------- evolution
def _history_of(run: Run, layer: str | None) -> tuple[str, dict[int, torch.Tensor]]:
    from convlens.engine.history import read_history

    history = read_history(run.path)
    if not history:
        raise DataError(
            f"no filter history in {run.path}; train with --record-filters first "
            f"(or all) to keep the filters of every epoch"
        )
    layer = layer or next(iter(history))
    if layer not in history:
        raise DataError(
            f"no filter history for {layer!r} in {run.path}; recorded: "
            f"{', '.join(history)} (train with --record-filters {layer})"
        )
    return layer, dict(sorted(history[layer].items()))


def filter_changes(hist: dict[int, torch.Tensor]) -> dict[int, np.ndarray]:
    """Per epoch after the first recorded, each filter's relative change since the epoch
    before: ||W_e - W_(e-1)|| / ||W_(e-1)|| over all its weights (O,)."""
    epochs = list(hist)
    out = {}
    for before, after in zip(epochs, epochs[1:]):
        a, b = hist[before].flatten(1).double(), hist[after].flatten(1).double()
        norm = a.norm(dim=1).clamp_min(1e-12)
        out[after] = ((b - a).norm(dim=1) / norm).numpy()
    return out


def _pct(v: float) -> str:
    """A change as a percentage: one decimal below 10% (so a small change is not "0%")."""
    return f"{v:.1%}" if abs(v) < 0.1 else f"{v:.0%}"


def _evolution_title(layer: str, w: torch.Tensor, k: int) -> str:
    shown = f"the first {k} of {w.shape[0]} filters" if k < w.shape[0] else f"all {k} filters"
    channel = f" (input channel 0 of {w.shape[1]} drawn)" if w.shape[1] > 1 else ""
    return f"{layer}: {shown}{channel}"


def draw_evolution_strip(run: Run, layer: str | None = None, *, n: int = 16) -> Figure:
    """Rows = epochs (0 = initial weights), columns = filters, under each its relative change
    since the epoch before; below, the mean change per epoch."""
    layer, hist = _history_of(run, layer)
    first = next(iter(hist.values()))
    k = min(n, first.shape[0])
    lim = max(_limit(w[:k].numpy()) for w in hist.values())
    changes = filter_changes(hist)
    plot = 2.7 if changes else 0.0  # the mean-change plot, once there is a change to plot
    grid = 0.95 * len(hist) + 0.9
    fig = plt.figure(figsize=(max(7.0, 0.72 * k + 2.0), grid + plot))
    heights = [grid, plot] if changes else [grid]
    bands = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    top = bands[0]
    axes = top.subplots(len(hist), k, squeeze=False)
    # margins in inches: fractions of a long run's 35-inch grid left an empty band below
    top.subplots_adjust(left=0.1, right=0.88, top=1 - 0.75 / grid, bottom=0.3 / grid)
    for r, (epoch, w) in enumerate(hist.items()):
        for i in range(k):
            ax = axes[r, i]
            im = ax.imshow(w[i, 0].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([]), ax.set_yticks([])
            if epoch in changes:
                ax.set_xlabel(_pct(changes[epoch][i]), fontsize=6, labelpad=1)
        axes[r, 0].set_ylabel(f"epoch {epoch}", rotation=0, ha="right", va="center", fontsize=8)
    top.colorbar(im, ax=axes, shrink=min(0.7, 5.0 / grid), label="weight")
    top.suptitle(
        f"{_evolution_title(layer, first, k)}, epoch by epoch (epoch 0 = initial weights)\n"
        f"under each: its change since the epoch before, ||W_e - W_e-1|| / ||W_e-1||",
        fontsize=10,
        y=1 - 0.1 / grid,
        va="top",
    )
    if not changes:
        return fig
    ax = bands[1].add_subplot(1, 1, 1)
    bands[1].subplots_adjust(left=0.1, right=0.88, bottom=0.25, top=0.85)
    means = [float(c.mean()) for c in changes.values()]
    ax.plot(list(changes), means, "o-")
    ax.set_xlabel("epoch"), ax.set_ylabel("mean change")
    # from 0, so one epoch (or changes alike) still gets distinct ticks; decimals to fit them
    top = 1.15 * max(max(means), 1e-6)
    ax.set_ylim(0, top)
    ticks = MaxNLocator(5).tick_values(0, top)
    step = 100 * float(ticks[1] - ticks[0])
    # as many decimals as the step needs (a 2.5% step: 7.5%, not a rounded 8%)
    decimals = next(d for d in range(6) if abs(step * 10**d - round(step * 10**d)) < 1e-6)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(changes) <= 20:
        ax.set_xticks(list(changes))
    if len(changes) == 1:
        ax.set_xlim(min(changes) - 1, min(changes) + 1)
    ax.set_title(f"mean relative change of all {first.shape[0]} filters per epoch", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def evolution_frame(
    layer: str, epoch: int, w: torch.Tensor, *, lim: float, change: np.ndarray | None, n: int
) -> Figure:
    """One epoch of a layer's filters (input channel 0), at most `n`, each labelled with its
    relative change since the epoch before (None: the initial weights); the title says how
    many filters of how many are drawn and what the percentages are."""
    k = min(n, w.shape[0])
    rows, cols = grid_shape(k)
    # at least 5.6 x 3.4 inches, so two filters still make a frame whose title fits
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(5.6, 1.0 * cols + 1.8), max(3.4, 1.1 * rows + 1.3)),
        squeeze=False,
        layout="constrained",
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= k:
            ax.axis("off")
            continue
        im = ax.imshow(w[i, 0].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xlabel(_pct(change[i]) if change is not None else "start", fontsize=8, labelpad=1)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    state = (
        f"mean change {change.mean():.1%}\nunder each filter: its change since epoch {epoch - 1}"
        if change is not None
        else "the initial weights"
    )
    fig.suptitle(f"{_evolution_title(layer, w, k)}\nepoch {epoch}, {state}", fontsize=10)
    return fig


def evolution_frames(
    run: Run, layer: str | None = None, *, n: int = MAX_FILTERS
) -> list[Image.Image]:
    """One GIF frame per recorded epoch of a layer's filters (all of them up to `n`), each
    filter's relative change since the epoch before under it."""
    layer, hist = _history_of(run, layer)
    lim = max(_limit(w[:n].numpy()) for w in hist.values())
    changes = filter_changes(hist)
    return [
        figure_image(
            evolution_frame(layer, epoch, w, lim=lim, change=changes.get(epoch), n=n), dpi=100
        )
        for epoch, w in hist.items()
    ]


# ----------------------------------------------------------------------------- MLP
def draw_mlp_weights(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    n: int = 32,
    cnn: nn.Module | None = None,
) -> Figure:
    """An MLP's weights as images: each first-layer unit's weights over the input image, and
    each second-layer unit through the first layer (the rows of W2 @ W1, ReLU left out);
    with `cnn`, that CNN's first-layer filters beside the first layer."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears or any(isinstance(m, nn.Conv2d) for m in model.modules()):
        raise ModelError(
            "`mlp` needs an MLP run (its first layer a Linear on the flattened "
            "image, no Conv2d); use `convlens show filters` for a CNN"
        )
    c, h, w = input_shape
    w1 = linears[0].weight.detach().float().cpu().numpy()
    if w1.shape[1] != c * h * w:
        raise ModelError(
            f"the first Linear layer takes {w1.shape[1]} inputs, not the {c}x{h}x{w} image"
        )
    bands = [(w1, "MLP layer 1: each hidden unit's weights as an image")]
    if len(linears) > 1 and linears[1].in_features == w1.shape[0]:
        w2 = linears[1].weight.detach().float().cpu().numpy()
        bands.append(
            (w2 @ w1, "MLP layer 2: each unit through layer 1 (rows of W2 @ W1, ReLU left out)")
        )
    rows = [grid_shape(min(n, len(b)))[0] for b, _ in bands]
    wide = 2 if cnn is not None else 1
    fig = plt.figure(figsize=(9.2 * wide, sum(r * 0.95 + 0.8 for r in rows) + 0.5))
    subs = fig.subfigures(len(bands), 1, height_ratios=[r + 0.9 for r in rows], squeeze=False)
    for sub, (weights, what) in zip(subs[:, 0], bands):
        images = weights[:n].reshape(-1, c, h, w).mean(1)
        left = sub.subfigures(1, wide, squeeze=False)[0] if cnn is not None else [sub]
        _weight_grid(left[0], images, f"{what}: {_capped(len(images), len(weights), 'units')}")
    if cnn is not None and conv_layers(cnn):
        layer = conv_layers(cnn)[0]
        wc = conv_module(cnn, layer).weight.detach().float().cpu().numpy()[:, 0]
        panel = subs[0, 0].subfigs[1]
        _weight_grid(panel, wc[:n], f"CNN {layer}: {_capped(len(wc[:n]), len(wc))}")
    return fig


def _weight_grid(sub: Any, images: np.ndarray, title: str) -> None:
    """Images (N, H, W) of weights in a near-square grid on a subfigure, one colour scale."""
    rows, cols = grid_shape(len(images))
    axes = sub.subplots(rows, cols, squeeze=False)
    sub.subplots_adjust(top=1 - 0.55 / (rows * 0.95 + 0.8), bottom=0.03, left=0.03, right=0.85)
    lim = _limit(images)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= len(images):
            ax.axis("off")
            continue
        im = ax.imshow(images[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(str(i), fontsize=6, pad=1)
    sub.colorbar(im, ax=axes, shrink=0.8, label="weight (red +, blue -)")
    sub.suptitle(title, fontsize=9)
