"""One loader for every image convlens reads: files, uploads, image folders.

`load_image` opens an image fully (a truncated file fails here, not later), turns it upright
(EXIF orientation), puts transparent pixels on white, scales 16-bit images to 8 bit, and
converts palette and CMYK images. It refuses, with one line naming the file: a missing
file, a folder, an empty file, a file that is not an image, a truncated image, and an
image larger than MAX_PIXELS (a decompression bomb), checked before decoding.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convlens.errors import ImageError

MAX_PIXELS = 40_000_000  # larger images are refused as possible decompression bombs
MODES = (None, "L", "RGB")
# Pillow's own process-wide guard (`Image.MAX_IMAGE_PIXELS`, about 89 million) is left as it
# is: the limit here is checked per call from the header, before decoding. Pillow's warning
# above its limit is silenced (our check has spoken); above twice its limit it refuses to open.


def _name(source: object) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "the uploaded image"


def _read(source: str | Path | bytes | BinaryIO, max_bytes: int | None) -> bytes:
    name = _name(source)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise ImageError(f"{name}: is a folder, not an image file")
        if not path.is_file():
            raise ImageError(f"{name}: no such file")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise ImageError(
                f"{name}: {path.stat().st_size:,} bytes is over the limit of {max_bytes:,} bytes"
            )
        data = path.read_bytes()
    else:
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError(f"{name}: over the limit of {max_bytes:,} bytes")
    if not data:
        raise ImageError(f"{name}: the file is empty")
    return data


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    mode: str | None = None,
    max_bytes: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Open, check and normalise an image.

    Args:
        source: a path, the bytes of a file, or a binary file object.
        mode: "L" (grayscale), "RGB", or None: keep grayscale as "L", everything else "RGB".
        max_bytes: refuse larger inputs (e.g. web uploads); None: no limit.
        max_pixels: refuse images with more pixels (decompression bombs).

    Raises:
        ImageError: one line naming the file and what is wrong with it.
    """
    if mode not in MODES:
        raise ImageError(f"Expected mode 'L', 'RGB' or None. Received: mode={mode!r}")
    name = _name(source)
    data = _read(source, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{name}: {w}x{h} = {w * h:,} pixels is over the limit of "
                    f"{max_pixels:,} (a possible decompression bomb)"
                )
            img.load()  # decode everything now: a truncated file fails here
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"{name}: too many pixels (a possible decompression bomb); the limit is {max_pixels:,}"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from None
    img = ImageOps.exif_transpose(img)
    return _convert(img, mode)


def _convert(img: Image.Image, mode: str | None) -> Image.Image:
    """Bring any Pillow mode to 'L' or 'RGB' (alpha on white, 16-bit scaled to 8-bit)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a.max() > 255 or img.mode.startswith("I;16") else 255.0
        img = Image.fromarray(np.round(a / top * 255).clip(0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if a.max() <= 1.0 else 255.0
        img = Image.fromarray(np.round(a / top * 255).clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        if mode is None and _is_gray(img):
            img = img.convert("L")
    if img.mode == "1":
        img = img.convert("L")
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV ...
    if mode is not None and img.mode != mode:
        img = img.convert(mode)
    return img


def _is_gray(img: Image.Image) -> bool:
    a = np.asarray(img)
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


def image_to_array(img: Image.Image) -> np.ndarray:
    """float32 array in [0, 1]: (H, W) for grayscale, (H, W, 3) for colour."""
    return np.asarray(img, dtype=np.float32) / 255.0
