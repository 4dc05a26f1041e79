"""`photo`: a real photo to try kernels and models on. (What the front door takes as an
image is read by `convlens.data.images.to_image`, on its way to a model by `run.prepare`.)"""

from __future__ import annotations

import numpy as np
from PIL import Image

from convlens.errors import ImageError
from convlens.look.kernels import sample_photo

__all__ = ["photo"]


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
