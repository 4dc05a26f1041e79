"""A grid of a data set's images with their class names (what `ds.show_batch()` draws)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from convlens.look.pixels import show_pixels


def draw_samples(
    images: torch.Tensor, titles: Sequence[str], *, cols: int | None = None, title: str = ""
) -> Figure:
    """uint8 images (N, C, H, W) in a grid, each with its title (e.g. its class name)."""
    n = len(images)
    cols = cols or min(n, max(4, round(n**0.5 * 1.5)), 12)
    rows = -(-n // max(cols, 1))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, text in zip(axes.flat, images, titles):
        show_pixels(ax, img, text)
        ax.axis("on")
        for side in ax.spines.values():
            side.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
