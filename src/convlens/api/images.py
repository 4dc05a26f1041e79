"""What the front door takes as an image: a file path, the bytes of a file, a PIL image, a
numpy array or a torch tensor of pixels; all become a PIL image ("L" or "RGB"). And `photo`,
a real photo to try kernels and models on."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from convlens.data.images import load_image
from convlens.errors import ImageError
from convlens.look.kernels import sample_photo

__all__ = ["to_image", "is_image", "photo"]

IMAGE_HELP = "a file path, the bytes of an image file, a PIL image, a numpy array or a tensor"


def photo(name: str = "camera", *, gray: bool = False) -> np.ndarray:
    """A real photo that works offline (shipped with scikit-image), as uint8 pixels:
    (H, W) for a gray one, (H, W, 3) for a colour one.

    Args:
        name: camera (the default, gray), astronaut, coffee, chelsea (a cat), rocket, moon,
            coins, clock, brick, grass or gravel.
        gray: a colour photo as gray (H, W) (luma, as PIL converts it).

    Raises:
        DataError: an unknown name (the message lists the photos).

    Example:
        >>> img = cl.photo()                        # (512, 512) uint8
        >>> cl.conv2d(img / 255, cl.KERNELS["sobel_x"].weights, padding="same")
        >>> cl.photo("chelsea", gray=True).shape    # (300, 451)
    """
    if not isinstance(gray, bool):
        raise ImageError(f"Expected gray=True or False. Received: gray={gray!r}")
    pixels = sample_photo(name=name)
    if gray and pixels.ndim == 3:
        return np.asarray(Image.fromarray(pixels).convert("L"))
    return pixels


def is_image(item: Any) -> bool:
    """True for one image of a kind `to_image` reads (not a list of them)."""
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return item.ndim in (2, 3) or (item.ndim == 4 and item.shape[0] == 1)
    return isinstance(item, (str, Path, bytes, bytearray, Image.Image))


def to_image(item: Any) -> Image.Image:
    """One image as a PIL image in mode "L" or "RGB".

    Arrays and tensors hold pixels: (H, W), (H, W, C) or (C, H, W) with 1, 3 or 4 channels
    (a leading batch of one is dropped); uint8 as they are, floats in [0, 1] scaled to 0-255
    (floats above 1 are taken as 0-255).

    Raises:
        ImageError: not an image, or an array of another shape (named in the message).
    """
    if isinstance(item, Image.Image):
        return _plain_mode(item)
    if isinstance(item, (str, Path, bytes, bytearray)):
        return load_image(bytes(item) if isinstance(item, bytearray) else item)
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().float().numpy() if item.is_floating_point() else item.numpy()
    if isinstance(item, np.ndarray):
        return _from_array(item)
    raise ImageError(f"Expected an image: {IMAGE_HELP}. Received: {type(item).__name__}")


def _from_array(a: np.ndarray) -> Image.Image:
    shape = tuple(a.shape)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))) or 0 in a.shape:
        raise ImageError(
            f"Expected an image array (H, W), (H, W, C) or (C, H, W) with 1, 3 or 4 channels. "
            f"Received: shape {shape}"
        )
    if a.dtype != np.uint8:
        f = np.nan_to_num(a.astype(np.float64))
        f = f * 255 if f.size and f.max() <= 1.0 else f
        a = np.round(f).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(a))
    return _plain_mode(img)


def _plain_mode(img: Image.Image) -> Image.Image:
    """Any PIL mode (RGBA, palette, 16-bit ...) as "L" or "RGB", the way the one image
    loader converts files (alpha on white)."""
    if img.mode in ("L", "RGB"):
        return img
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return load_image(buf.getvalue())
