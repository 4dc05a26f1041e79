"""One loader for every image convlens reads: files, uploads, image folders.

`load_image` opens an image fully (a truncated file fails here, not later), turns it upright
(EXIF orientation), puts transparent pixels on white, scales 16-bit images to 8 bit, and
converts palette and CMYK images. It refuses, with one line naming the file: a missing
file, a folder, an empty file, a file that is not an image in one of FORMATS, a truncated
image, and an image with more pixels than the limit (a decompression bomb), checked from
the header before decoding.

Limits, per call (nothing process-wide is changed):
- the pixel limit: `max_pixels` if given, else the environment variable CONVLENS_MAX_PIXELS,
  else MAX_PIXELS (16 megapixels). A JPEG with up to 4 times more pixels (JPEG_SHRINK per
  side) is decoded at a reduced scale that fits the limit (libjpeg's DCT scaling: half
  size per side), instead of in full; any other image over the limit is refused. Pillow's
  own guard (refusing above about 179 million pixels) stays as Pillow ships it.
- `reduce_to`: a caller that needs no more than N pixels on the longer side gets an image
  reduced by a whole factor while it stays at least N (JPEGs reduced while decoding).
- `max_bytes`: refuse larger inputs (web uploads).

`to_image` is the same for whatever a user hands over as an image: a path, the bytes of a
file, a PIL image, a numpy array or a tensor of pixels, all as a PIL image ("L" or "RGB").
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from convlens.errors import ConfigError, ConvlensError, ImageError

MAX_PIXELS = 16_000_000  # decoded pixels: a 12-megapixel photo as PNG, a 5K screenshot
LIMIT_ENV = "CONVLENS_MAX_PIXELS"
# A progressive JPEG keeps every coefficient in memory (about 3 bytes per pixel) whatever
# the scale it is decoded at, so the header may exceed the limit by this much per side only.
JPEG_SHRINK = 2
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "ICO", "PPM")  # Pillow's names
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, WebP, TIFF, ICO, PPM/PGM"
MODES = (None, "L", "RGB")
_JPEG = ("JPEG", "MPO")  # MPO: a JPEG with extra frames (many phone cameras)
_HEADER_LOCK = threading.Lock()


class ImageInfo(NamedTuple):
    """What the header of an image says (nothing decoded)."""

    width: int
    height: int
    mode: str
    format: str


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit of one call: `max_pixels`, else $CONVLENS_MAX_PIXELS, else MAX_PIXELS."""
    if max_pixels is None:
        text = os.environ.get(LIMIT_ENV, "").strip()
        if not text:
            return MAX_PIXELS
        try:
            max_pixels = int(text)
        except ValueError:
            raise ConfigError(
                f"Expected {LIMIT_ENV} to be a whole number of pixels, e.g. 50000000. "
                f"Received: {text!r}"
            ) from None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(
            f"Expected max_pixels (--max-pixels) of at least 1. Received: {max_pixels!r}"
        )
    return max_pixels


def _name(source: object) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "the uploaded image"


@contextlib.contextmanager
def _opened(source: str | Path | bytes | BinaryIO, max_bytes: int | None) -> Iterator[BinaryIO]:
    """A binary file of `source`: a file on disk is read lazily (a huge non-image costs
    nothing), bytes and file objects are held in memory up to `max_bytes`."""
    name = _name(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise ImageError(f"{name}: is a folder, not an image file")
        if not path.is_file():
            raise ImageError(f"{name}: no such file")
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ImageError(f"{name}: {size:,} bytes is over the limit of {max_bytes:,} bytes")
        if size == 0:
            raise ImageError(f"{name}: the file is empty")
        try:
            fp = path.open("rb")
        except OSError as exc:
            raise ImageError(f"{name}: cannot read it ({exc.strerror or exc})") from None
        with fp:
            yield fp
        return
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError(f"{name}: over the limit of {max_bytes:,} bytes")
    if not data:
        raise ImageError(f"{name}: the file is empty")
    yield io.BytesIO(data)


@contextlib.contextmanager
def _pillow_errors(name: str) -> Iterator[None]:
    """Pillow's exceptions as one-line ImageErrors."""
    try:
        yield
    except ConvlensError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not an image (or a format convlens does not open; it opens {FORMAT_NAMES})"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{name}: too many pixels (a possible decompression bomb): {exc}"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from None


def _open(fp: BinaryIO, name: str, limit: int) -> tuple[Image.Image, int]:
    """Open the header (FORMATS only: no other decoder, Ghostscript included, ever runs)
    and check the limit; also the JPEG scale (1, 2, 4 or 8) that brings it under it."""
    _check_icon(fp, name, limit)  # Pillow decodes an icon's image while opening it
    with _HEADER_LOCK, warnings.catch_warnings():
        # Pillow warns above its own limit; ours is checked next and says it in one line.
        # `catch_warnings` is not thread-safe (the explorer loads in threads): one at a time.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img: Image.Image = Image.open(fp, formats=FORMATS)
    w, h = img.size
    if w * h <= limit:
        return img, 1
    if img.format in _JPEG and w * h <= limit * JPEG_SHRINK**2:
        for scale in (2, 4, 8):
            if math.ceil(w / scale) * math.ceil(h / scale) <= limit:
                return img, scale
    raise _too_many(name, w, h, limit)


ICO_MAGIC = b"\x00\x00\x01\x00"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_icon(fp: BinaryIO, name: str, limit: int) -> None:
    """An ICO file is a directory of PNG or BMP images, and Pillow decodes one in
    `Image.open`: read each embedded image's own header first and refuse one over the
    limit (the directory's sizes say at most 256x256, whatever the image holds)."""
    start = fp.tell()
    try:
        head = fp.read(6)
        if head[:4] != ICO_MAGIC:
            return
        count = int.from_bytes(head[4:6], "little")
        entries = fp.read(16 * count)
        for i in range(len(entries) // 16):
            offset = int.from_bytes(entries[16 * i + 12 : 16 * i + 16], "little")
            fp.seek(start + offset)
            inner = fp.read(24)
            if inner[:8] == PNG_MAGIC:  # IHDR: width, height (big-endian) at 16
                w, h = int.from_bytes(inner[16:20], "big"), int.from_bytes(inner[20:24], "big")
            elif len(inner) >= 12:  # a DIB: width, height (twice: image and mask) at 4
                w = abs(int.from_bytes(inner[4:8], "little", signed=True))
                h = abs(int.from_bytes(inner[8:12], "little", signed=True)) // 2
            else:
                continue
            if w * h > limit:
                raise _too_many(f"{name} (icon image {i + 1})", w, h, limit)
    finally:
        fp.seek(start)


def _too_many(name: str, w: int, h: int, limit: int) -> ImageError:
    return ImageError(
        f"{name}: {w}x{h} = {w * h:,} pixels is over the limit of {limit:,} (a possible "
        f"decompression bomb); raise the limit with {LIMIT_ENV}=N or, for kernels and "
        f"serve, --max-pixels N"
    )


def image_info(
    source: str | Path | bytes | BinaryIO, *, max_pixels: int | None = None
) -> ImageInfo:
    """Size, mode and format from the header, with the same refusals as `load_image`
    (formats, limits); nothing is decoded. The size is the one stored in the file."""
    name, limit = _name(source), pixel_limit(max_pixels)
    with _opened(source, None) as fp, _pillow_errors(name):
        img, _ = _open(fp, name, limit)
        return ImageInfo(img.size[0], img.size[1], img.mode, str(img.format))


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    mode: str | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    reduce_to: int | None = None,
) -> Image.Image:
    """Open, check and normalise an image.

    Args:
        source: a path, the bytes of a file, or a binary file object.
        mode: "L" (grayscale), "RGB", or None: keep grayscale as "L", everything else "RGB".
        max_bytes: refuse larger inputs (e.g. web uploads); None: no limit.
        max_pixels: the pixel limit (decompression bombs); None: $CONVLENS_MAX_PIXELS or
            MAX_PIXELS. A larger JPEG (up to 4x) is decoded at a scale that fits.
        reduce_to: the caller needs no more than this many pixels on the longer side: the
            image is reduced by a whole factor (a JPEG while decoding) and stays at least
            this large. None: full size.

    Raises:
        ImageError: one line naming the file and what is wrong with it.
    """
    if mode not in MODES:
        raise ImageError(f"Expected mode 'L', 'RGB' or None. Received: mode={mode!r}")
    if reduce_to is not None and reduce_to < 1:
        raise ConfigError(f"Expected reduce_to of at least 1. Received: {reduce_to}")
    name, limit = _name(source), pixel_limit(max_pixels)
    with _opened(source, max_bytes) as fp, _pillow_errors(name):
        img, scale = _open(fp, name, limit)
        w, h = img.size
        factor = max(w, h) // reduce_to if reduce_to else 1
        if img.format in _JPEG:
            scale = max([scale] + [s for s in (2, 4, 8) if s <= factor])
            if scale > 1:  # decode at 1/scale per side: libjpeg's DCT scaling, full cost never paid
                img.draft(img.mode, (max(1, w // scale), max(1, h // scale)))
            factor = 1
        img.load()  # decode everything now: a truncated file fails here
        if img.size[0] * img.size[1] > limit:  # Pillow chose another scale than asked
            raise _too_many(name, w, h, limit)
        if img.mode == "F" and not np.isfinite(np.asarray(img)).all():
            raise ImageError(
                f"{name}: a floating-point image with NaN or infinite pixels; give an image "
                f"whose pixels are all numbers"
            )
        img = _convert(ImageOps.exif_transpose(img), mode)
    return img.reduce(factor) if factor >= 2 else img


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


IMAGE_HELP = "a file path, the bytes of an image file, a PIL image, a numpy array or a tensor"


def to_image(item: Any, *, max_bytes: int | None = None) -> Image.Image:
    """One image as a PIL image in mode "L" or "RGB".

    Files and bytes go through `load_image`. Arrays and tensors hold pixels: (H, W),
    (H, W, C) or (C, H, W) with 1, 3 or 4 channels (a leading batch of one is dropped);
    uint8 as they are, floats in [0, 1] scaled to 0-255 (floats above 1 are taken as 0-255).

    Raises:
        ImageError: not an image, or an array of another shape (named in the message).
    """
    if isinstance(item, Image.Image):
        return _plain_mode(item)
    if isinstance(item, (str, Path, bytes, bytearray)):
        return load_image(bytes(item) if isinstance(item, bytearray) else item, max_bytes=max_bytes)
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
    """Any PIL mode (RGBA, palette, 16-bit ...) as "L" or "RGB", the way `load_image`
    converts files (alpha on white)."""
    if img.mode in ("L", "RGB"):
        return img
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return load_image(buf.getvalue())
