"""One way to put an image on a matplotlib axis: a (C, H, W) tensor or array, gray or RGB."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from convlens.io import to_uint8

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def show_pixels(ax: Axes, pixels: torch.Tensor | np.ndarray, title: str | None = None) -> None:
    """Draw an image (C, H, W) without ticks: uint8 as stored (0 black, 255 white), anything
    else scaled by `convlens.io.to_uint8`; one channel in gray, three as RGB."""
    a = pixels.detach().cpu().numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
    img = to_uint8(a).transpose(1, 2, 0)
    ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=255)
    if title is not None:
        ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
