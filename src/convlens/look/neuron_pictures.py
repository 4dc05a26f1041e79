"""Pictures of `convlens.look.neurons`: what channels want to see (feature visualisation),
the region one unit sees (receptive field on the image) and how maps follow a shifted input
(translation equivariance)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from convlens.look.neurons import (
    Box,
    FeatureVis,
    gradient_box,
    receptive_box,
    shift_response,
    shift_right,
    unit_gradient,
)
from convlens.look.weights import grid_shape
from convlens.models.hooks import capture_activations, conv_layers


def _show(ax: plt.Axes, pixels: np.ndarray) -> None:
    """A (C, H, W) 0..1 image: RGB as it is, one channel in gray."""
    if pixels.shape[0] == 3:
        ax.imshow(np.clip(pixels.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    else:
        ax.imshow(pixels[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])


def draw_feature_vis(fv: FeatureVis) -> Figure:
    """One optimised image per channel, with its activation on the noise and on the image."""
    rows, cols = grid_shape(len(fv.channels))
    size = (1.7 * cols + 0.4, 1.9 * rows + 1.0)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(fv.channels):
            ax.axis("off")
            continue
        _show(ax, fv.pixels[i])
        ax.set_title(
            f"channel {fv.channels[i]}\n{fv.start[i]:.2g} -> {fv.final[i]:.2g}", fontsize=8
        )
    fig.suptitle(
        f"What {fv.layer}'s channels want to see (activation maximisation)\n"
        f"under each name: its mean activation on the starting noise -> on this image",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _rectangle(ax: plt.Axes, box: tuple[int, int, int, int], **style: Any) -> None:
    top, left, bottom, right = box
    ax.add_patch(
        Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False, **style)
    )


def draw_receptive_field(
    model: nn.Module,
    x: torch.Tensor,
    pixels: torch.Tensor,
    layer: str | None = None,
    unit: tuple[int, int] | None = None,
    *,
    title: str = "",
) -> Figure:
    """The input region one unit of `layer` sees (the summary's receptive field) drawn on the
    image, beside the unit's input gradient with the same box: the gradient stays inside."""
    layer = layer or conv_layers(model)[-1]
    maps = capture_activations(model, x, [layer])[layer]  # (1, C, h, w)
    h, w = maps.shape[-2:]
    unit = unit or (h // 2, w // 2)
    channel = int(maps[0, :, unit[0], unit[1]].argmax())  # the unit's most active channel
    shape = tuple(x.shape[1:])
    box = receptive_box(model, shape, layer, unit)  # type: ignore[arg-type]
    inside = box.clipped(*shape[-2:])
    grad = unit_gradient(model, x, layer, unit, channel)
    found = gradient_box(grad)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 4.6))
    _show(left, pixels.float().numpy() / 255)
    _rectangle(left, (inside.top, inside.left, inside.bottom, inside.right), color="yellow", lw=2)
    left.set_title(f"receptive field of {layer} unit {unit}", fontsize=9)
    im = right.imshow(grad, cmap="magma")
    _rectangle(right, (inside.top, inside.left, inside.bottom, inside.right), color="yellow", lw=2)
    if found is not None:
        _rectangle(right, found, color="cyan", lw=1.2, ls="--")
    fig.colorbar(im, ax=right, shrink=0.8, label="|d unit / d pixel|")
    right.set_title(f"its input gradient (channel {channel}); cyan: nonzero", fontsize=9)
    fig.suptitle(title or _rf_caption(box, inside, found), fontsize=9)
    fig.tight_layout()
    return fig


def _rf_caption(box: Box, inside: Box, found: tuple[int, int, int, int] | None) -> str:
    size, jump = box.size, box.jump
    where = f"rows {inside.top}-{inside.bottom}, columns {inside.left}-{inside.right}"
    grad = (
        "zero (the unit is off)"
        if found is None
        else (f"rows {found[0]}-{found[2]}, columns {found[1]}-{found[3]}")
    )
    return (
        f"summary: receptive field {size[0]}x{size[1]}, jump {jump[0]}: yellow box {where}\n"
        f"input gradient nonzero at {grad}"
    )


def _number(v: float) -> str:
    return "n/a" if np.isnan(v) else f"{v:.2f}"


def draw_equivariance(
    model: nn.Module, x: torch.Tensor, pixels: torch.Tensor, shift: int = 4, *, title: str = ""
) -> Figure:
    """The image and the image shifted right; a conv map of each (it moves along); how much
    every layer's maps change, in place and once shifted back, and the output's change."""
    response = shift_response(model, x, shift)
    moved = shift_right(pixels[None].float(), shift)[0]
    first = conv_layers(model)[0]
    before = capture_activations(model, x, [first])[first][0]
    after = capture_activations(model, shift_right(x, shift), [first])[first][0]
    channel = int(before.flatten(1).std(1).argmax())  # the map with the most going on
    fig = plt.figure(figsize=(10, 6.4))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1.05])
    panels = [
        (pixels.float().numpy() / 255, "the image", None),
        (moved.numpy() / 255, f"shifted {shift} px right", None),
        (before[channel].numpy(), f"{first} map {channel}", "viridis"),
        (after[channel].numpy(), f"{first} map {channel}, shifted input", "viridis"),
    ]
    lim = float(max(before[channel].max(), after[channel].max())) or 1.0
    for k, (img, name, cmap) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        if cmap is None:
            _show(ax, img)
        else:
            ax.imshow(img, cmap=cmap, vmin=0, vmax=lim)
            ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(name, fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    at = np.arange(len(response.layers))
    bars = ax.bar(at - 0.2, response.moved, 0.4, label="changed in place")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    back = ax.bar(at + 0.2, np.nan_to_num(response.after_shift_back), 0.4)
    back.set_label("after shifting back")
    ax.bar_label(back, labels=[_number(v) for v in response.after_shift_back], fontsize=8)
    ax.set_ylim(0, 1.15 * max(float(np.nanmax(response.moved)), 1e-6))
    ax.set_xticks(at, response.layers, fontsize=8)
    ax.set_ylabel("||f(shifted) - f(x)|| / ||f(x)||", fontsize=8)
    ax.legend(fontsize=8)
    ax.set_title(
        f"maps move with the input (small after shifting back); the class probabilities "
        f"change by {response.output_change:.1%} (half the L1 distance)",
        fontsize=9,
    )
    fig.suptitle(title or f"Translation equivariance: a {shift}-pixel shift", fontsize=10)
    fig.tight_layout()
    return fig
