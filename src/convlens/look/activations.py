"""Pictures of what a trained model does with one image: feature maps of every conv and pool
layer, and an attribution map (computed in `convlens.look.attribution`) over the image."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from convlens.look.pixels import show_pixels
from convlens.models.hooks import capture_activations, spatial_layers

MAX_MAPS = 16  # channels drawn per layer
GRID_COLS = 16  # maps per row when every map of a layer is drawn
DEAD = "#c62828"


def layer_scale(maps: torch.Tensor) -> dict:
    """imshow settings shared by every map of one layer (C, H, W): one range from min(0, the
    smallest value) to the largest, so a weak map looks weak and an all-zero one dark."""
    lo = min(0.0, float(maps.min()))
    hi = max(float(maps.max()), lo + 1e-6)
    return {"cmap": "viridis", "vmin": lo, "vmax": hi}


def dead_maps(maps: torch.Tensor) -> list[int]:
    """Channels of one layer's maps (C, H, W) that are all zero for this image (a ReLU that
    never fired)."""
    return [int(i) for i in torch.nonzero(maps.flatten(1).abs().amax(1) == 0).flatten()]


def _mark_dead(ax: Axes) -> None:
    ax.text(
        0.5,
        0.5,
        "dead",
        color=DEAD,
        fontsize=7,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontweight="bold",
    )
    for side in ax.spines.values():
        side.set_edgecolor(DEAD)


def draw_feature_maps(
    model: nn.Module, x: torch.Tensor, pixels: torch.Tensor, *, title: str = ""
) -> Figure:
    """Feature maps of every conv/pool layer for one normalised input x (1, C, H, W);
    `pixels` (C, H, W) uint8 is that input as a picture."""
    acts = capture_activations(model, x, spatial_layers(model))
    acts = {k: v for k, v in acts.items() if v.dim() == 4}
    rows = 1 + len(acts)
    fig, axes = plt.subplots(
        rows,
        MAX_MAPS // 2 + 2,
        figsize=(13.5, 1.6 * rows + 1),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.4] + [1] * (MAX_MAPS // 2) + [0.12]},
    )
    for ax in axes.flat:
        ax.axis("off")
    show_pixels(axes[0, 0], pixels, "input")
    axes[0, 0].axis("on")
    for r, (name, a) in enumerate(acts.items(), start=0):
        maps = a[0].float().cpu()
        shown = min(MAX_MAPS // 2, maps.shape[0])
        scale, dead = layer_scale(maps), dead_maps(maps)
        label = axes[r + 1 if r + 1 < rows else r, 0]
        label.text(
            0.95,
            0.5,
            f"{name}\n{'x'.join(map(str, maps.shape))}"
            + (f"\nfirst {shown} of {maps.shape[0]}" if shown < maps.shape[0] else ""),
            ha="right",
            va="center",
            fontsize=8,
            transform=label.transAxes,
        )
        for j in range(shown):
            ax = axes[r + 1, j + 1]
            im = ax.imshow(maps[j].numpy(), **scale)
            ax.axis("on"), ax.set_xticks([]), ax.set_yticks([])
            if j in dead:
                _mark_dead(ax)
        bar = axes[r + 1, -1]
        bar.axis("on")
        fig.colorbar(im, cax=bar)
        bar.tick_params(labelsize=7)
    fig.suptitle(
        (title or "Feature maps of every conv and pooling layer")
        + "\nbright = strong activation, one scale per layer (its colour bar); "
        "dead = all zero for this image",
        fontsize=10,
    )
    return fig


def draw_layer_maps(
    model: nn.Module,
    x: torch.Tensor,
    pixels: torch.Tensor,
    *,
    maps: int | None = None,
    layer: str | None = None,
    title: str = "",
) -> Figure:
    """The first `maps` feature maps (None: all) of every conv/pool layer, or of `layer` only,
    for one input: a grid per layer under the input image, each layer its own titled band."""
    names = [layer] if layer is not None else spatial_layers(model)
    acts = {k: v[0].float().cpu() for k, v in capture_activations(model, x, names).items()}
    acts = {k: v for k, v in acts.items() if v.dim() == 3}
    shown = {k: min(v.shape[0], maps or v.shape[0]) for k, v in acts.items()}
    cols = min(GRID_COLS, max(shown.values(), default=1))
    heights = [2.6] + [-(-n // cols) * 0.78 + 0.7 for n in shown.values()]
    fig = plt.figure(figsize=(max(5.0, 0.78 * cols + 1.2), sum(heights)))
    bands = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    show_pixels(bands[0].add_axes((0.3, 0.02, 0.4, 0.6)), pixels)
    bands[0].suptitle(
        (title or "Feature maps") + "\nbright = strong activation, one scale per layer\n"
        "(its colour bar); dead = all zero for this image",
        fontsize=10,
    )
    for band, h, (name, a) in zip(bands[1:], heights[1:], acts.items()):
        n = shown[name]
        rows = -(-n // cols)
        scale, dead = layer_scale(a), dead_maps(a[:n])
        axes = band.subplots(rows, cols, squeeze=False)
        # room for its title; the grid spans the band's width (matplotlib's default margins
        # of 12% and 10%, with the colour bar beside it, left a third of the width empty)
        band.subplots_adjust(
            top=1 - 0.42 / h, bottom=0.28 / h, left=0.02, right=0.98, hspace=0.35, wspace=0.12
        )
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([]), ax.set_yticks([])
            if i >= n:
                ax.axis("off")
                continue
            im = ax.imshow(a[i].numpy(), **scale)
            ax.set_title(str(i), fontsize=6, pad=1)
            if i in dead:
                _mark_dead(ax)
        band.colorbar(im, ax=axes, shrink=0.9, pad=0.01).ax.tick_params(labelsize=7)
        what = f"{n} maps" if n == a.shape[0] else f"first {n} of {a.shape[0]} maps"
        gone = f", {len(dead)} dead" if dead else ""
        band.suptitle(f"{name}: {what}, {a.shape[1]}x{a.shape[2]} each{gone}", fontsize=9)
    return fig


# how to read each attribution map, one line under its title
READING = {
    "saliency": "bright = pixels whose small change moves the class score most (|gradient|)",
    "gradcam": "bright = regions whose features in that layer raise the class score",
    "integrated-gradients": "red = pixels that raise the class score against a black image, "
    "blue = lower it",
    "occlusion": "red = covering this patch lowers the class score (it mattered), "
    "blue = covering it raises the score",
}


def draw_attribution(pixels: torch.Tensor, heat: np.ndarray, *, kind: str, label: str) -> Figure:
    """Three panels: the image, the map with its colour bar, and the map over the image,
    under a title that says how to read it. A signed map (integrated gradients, occlusion) is
    drawn red for the class and blue against it, 0 white."""
    signed = bool(heat.min() < 0)
    lim = float(np.abs(heat).max()) or 1.0
    style = (
        {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
        if signed
        else {"cmap": "inferno", "vmin": 0.0, "vmax": float(heat.max()) or 1.0}
    )
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.8), layout="constrained")
    show_pixels(axes[0], pixels, "input")
    im = axes[1].imshow(heat, **style)
    axes[1].set_title(kind + (" (red: for, blue: against)" if signed else ""), fontsize=9)
    bar = fig.colorbar(im, ax=axes[1], shrink=0.85, pad=0.02)
    bar.set_label("attribution", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    show_pixels(axes[2], pixels, "overlay")
    axes[2].imshow(heat, alpha=0.55, **style)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    reading = READING.get(kind.split(" ")[0], "")
    fig.suptitle(
        f"{kind}: where the model looked for '{label}'" + (f"\n{reading}" if reading else ""),
        fontsize=10,
    )
    return fig
