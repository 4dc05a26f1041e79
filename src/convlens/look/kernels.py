"""Classic kernels on a real photo: the original beside what each kernel makes of it.

A photo larger than MAX_SIDE on its longer side is downscaled before any kernel runs: a
panel shows about 460 pixels across, and a 3x3 kernel on a 40-megapixel photo would cost
gigabytes for a difference nobody could see.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from convlens.errors import DataError, suggest
from convlens.primer.convmath import conv2d
from convlens.primer.kernels import get_kernel

MAX_SIDE = 1024  # pixels on the longer side of the photo the kernels run on
DEFAULT_KERNELS = (
    "identity",
    "box_blur",
    "gaussian_blur",
    "sharpen",
    "sobel_x",
    "sobel_y",
    "outline",
    "emboss",
)


# real photos that scikit-image ships (offline), by their skimage.data names
PHOTOS = {
    "camera": "a photographer with a tripod, gray, 512x512",
    "astronaut": "Eileen Collins in her space suit, colour, 512x512",
    "coffee": "a cup of coffee, colour, 600x400",
    "chelsea": "Chelsea the cat, colour, 451x300",
    "rocket": "a rocket on its launch pad, colour, 640x427",
    "moon": "the surface of the moon, gray, 512x512",
    "coins": "Greek coins, gray, 384x303",
    "clock": "a clock in motion blur, gray, 400x300",
    "brick": "a brick wall, gray, 512x512",
    "grass": "grass, gray, 512x512",
    "gravel": "gravel, gray, 512x512",
}


def sample_photo(color: bool = False, *, name: str | None = None) -> np.ndarray:
    """A real photo shipped with scikit-image (works offline): uint8 (H, W) or (H, W, 3).
    `name` is one of PHOTOS; without it the gray camera photo, or with `color` the
    astronaut."""
    from skimage import data

    if name is None:
        name = "astronaut" if color else "camera"
    if not isinstance(name, str) or name not in PHOTOS:
        raise DataError(
            f"unknown photo {name!r}{suggest(str(name), PHOTOS)}; photos: {', '.join(PHOTOS)}"
        )
    return np.asarray(getattr(data, name)())


def fit(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """`image` (uint8, (H, W) or (H, W, 3)) downscaled so that its longer side is at most
    `max_side` (Lanczos, which averages instead of skipping pixels); smaller ones as they are."""
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pixels = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return np.asarray(pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def apply_kernel(image: np.ndarray, name: str) -> np.ndarray:
    """Apply kernel `name` with 'same' padding: per channel for colour (H, W, 3) images."""
    k = get_kernel(name).weights
    a = image.astype(np.float64)
    if a.ndim == 2:
        return conv2d(a, k, padding="same")
    return conv2d(a.transpose(2, 0, 1), k, padding="same").transpose(1, 2, 0)


def _display(result: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, dict]:
    """Edge kernels (weights sum to 0) show the signed response (colour: the channels' mean)
    on a diverging map symmetric around 0 up to its 99th percentile of |response|, so the sign
    stays visible; others show the result clipped to 0-255, as the image would be stored."""
    if abs(weights.sum()) < 1e-9:
        signed = result if result.ndim == 2 else result.mean(axis=2)
        top = float(np.percentile(np.abs(signed), 99)) or 1.0
        return signed, {"cmap": "RdBu_r", "vmin": -top, "vmax": top}
    shown = np.clip(result, 0, 255) / 255
    return shown, ({"cmap": "gray", "vmin": 0, "vmax": 1} if shown.ndim == 2 else {})


def draw_kernels(
    image: np.ndarray,
    kernels: Sequence[str] = DEFAULT_KERNELS,
    *,
    title: str = "Classic kernels",
    max_side: int = MAX_SIDE,
) -> Figure:
    """One figure: the original, then each kernel's result titled with its name and weights.
    An image larger than `max_side` on its longer side is downscaled first (see `fit`)."""
    shown = fit(image, max_side)
    original = "original"
    if shown is not image:
        original = f"original, downscaled to {shown.shape[1]}x{shown.shape[0]}"
    image = shown
    panels = [("original", None)] + [(name, get_kernel(name)) for name in kernels]
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    # constrained layout makes room for the two-line titles; tight_layout ignored them
    # beside the weight insets and let each row's titles run into the images above
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 4.6 * rows), squeeze=False, layout="constrained"
    )
    gray = image.ndim == 2
    for ax, (name, kernel) in zip(axes.flat, panels):
        if kernel is None:
            ax.imshow(image, cmap="gray" if gray else None, vmin=0, vmax=255)
            ax.set_title(original, fontsize=11, fontweight="bold")
        else:
            shown, style = _display(apply_kernel(image, name), kernel.weights)
            im = ax.imshow(shown, **style)
            # wrapped: a description wider than its panel ran off the figure's left edge
            about = textwrap.fill(kernel.description, 34)
            ax.set_title(f"{name}\n{about}", fontsize=10)
            _weights_inset(ax, kernel.weights)
            if style.get("cmap") == "RdBu_r":  # a signed edge response: its scale beside it
                bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, extend="both")
                bar.set_label("response (red +, blue -)", fontsize=8)
                bar.ax.tick_params(labelsize=7)
        ax.set_xticks([]), ax.set_yticks([])
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{title}: each output pixel is the sum of its neighbourhood times the "
        f"kernel (padding='same')\nedge kernels (weights summing to 0): red = positive "
        f"response, blue = negative, white = 0",
        fontsize=11,
    )
    return fig


def _weights_inset(ax, weights: np.ndarray) -> None:
    """The kernel's weights as a small table in the corner of the panel."""
    if weights.shape[0] > 3:
        return
    inset = ax.inset_axes((0.0, 0.0, 0.3, 0.3))
    lim = np.abs(weights).max() or 1
    inset.imshow(weights, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (i, j), v in np.ndenumerate(weights):
        text = f"{v:g}" if float(v).is_integer() else f"{v:.2f}".lstrip("0").replace("-0.", "-.")
        inset.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="white" if abs(v) > 0.6 * lim else "black",
        )
    inset.set_xticks([]), inset.set_yticks([])
