"""Files: atomic writes, checksums, and pictures turned into PNG/GIF bytes (each done once).

Every file convlens writes goes through `atomic_write_bytes` (a temp file in the same folder,
fsync, `os.replace`), so a crash leaves the old or the new file, never a part of one. Every
figure becomes bytes through `figure_bytes`, every animation through `gif_bytes`, every
array shown as an image through `to_uint8`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib, numpy and Pillow load only when a picture is made
    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save",
    "sha256_file",
    "figure_bytes",
    "save_figure",
    "figure_image",
    "gif_bytes",
    "save_gif",
    "data_url",
    "png_bytes",
    "to_uint8",
    "FIGURE_SUFFIXES",
]

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


# ----------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a part.

    The temp file is created with mode 0o666 and the process umask applies, as for any
    new file; nothing changes the umask.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _remove_stale_temps(path)


STALE_TEMP_SECONDS = 3600  # a temp file of a write this old was left by a killed process


def _remove_stale_temps(path: Path) -> None:
    """Delete the temp files of `path` that a killed write left (older than
    STALE_TEMP_SECONDS: a write in progress elsewhere is never that slow)."""
    prefix = f".{path.name}."
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix)]
    except OSError:
        return
    now = time.time()
    for name in names:
        rest = name[len(prefix) :]
        if len(rest) != 12 or not rest.endswith(".tmp") or not _is_hex(rest[:8]):
            continue
        try:
            if now - os.stat(path.parent / name).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(path.parent / name)
        except OSError:
            pass


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def atomic_write_text(path: str | Path, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """`atomic_write_bytes` of indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def atomic_save(path: str | Path, obj: Any) -> None:
    """torch.save `obj` (tensors and plain data) atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- pictures
def figure_bytes(
    fig: Figure,
    fmt: str = "png",
    *,
    dpi: int = 110,
    close: bool = True,
    crop: bool = True,
    **savefig: Any,
) -> bytes:
    """A matplotlib figure as PNG/SVG/PDF bytes on a white background, cropped to what is
    drawn (no empty margins; `crop=False` keeps the figure's size; closed afterwards);
    `savefig` keywords go to matplotlib."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(
        buf,
        **{
            "format": fmt,
            "dpi": dpi,
            "facecolor": "white",
            "bbox_inches": "tight" if crop else None,
            "pad_inches": 0.15,
            **savefig,
        },
    )
    if close:
        plt.close(fig)
    return buf.getvalue()


def save_figure(
    fig: Figure, out: str | Path, *, dpi: int = 110, close: bool = True, crop: bool = True
) -> Path:
    """Write `fig` to `out` (.png, .svg or .pdf) atomically, creating the folder (cropped to
    what is drawn unless `crop=False`)."""
    path = Path(out)
    fmt = path.suffix.lstrip(".").lower() or "png"
    data = figure_bytes(fig, fmt, dpi=dpi, close=close, crop=crop)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def figure_image(fig: Figure, *, dpi: int = 90) -> Image.Image:
    """A figure as an RGB Pillow image (one frame of an animation); the figure is closed.
    Not cropped: every frame keeps the figure's size, so an animation's frames line up."""
    from PIL import Image

    whole = figure_bytes(fig, "png", dpi=dpi, crop=False)
    return Image.open(io.BytesIO(whole)).convert("RGB")


def gif_bytes(frames: Sequence[Image.Image], *, ms: int = 700, hold_ends: bool = True) -> bytes:
    """Frames as a looping GIF; with `hold_ends` the first and last frames stay 2.5 s."""
    from PIL import Image

    frames = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for f in frames]
    if hold_ends and len(frames) > 1:
        durations: int | list[int] = [2500] + [ms] * (len(frames) - 2) + [2500]
    else:
        durations = ms
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        loop=0,
        duration=durations,
        optimize=True,
    )
    return buf.getvalue()


def save_gif(
    frames: Sequence[Image.Image], out: str | Path, *, ms: int = 700, hold_ends: bool = True
) -> Path:
    """Write frames as a looping GIF atomically, creating the folder."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, gif_bytes(frames, ms=ms, hold_ends=hold_ends))
    return path


def png_bytes(a: np.ndarray) -> bytes:
    """An image array (H, W), (H, W, 1) or (H, W, 3) as PNG bytes, scaled by `to_uint8`."""
    from PIL import Image

    a = to_uint8(a)
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a).save(
        buf, format="PNG", compress_level=1
    )
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    """Bytes as a `data:` URL for HTML pages."""
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def to_uint8(a: np.ndarray) -> np.ndarray:
    """An array scaled to 0-255 uint8 for display (min -> 0, max -> 255; flat -> 0).

    uint8 arrays are returned as they are.
    """
    import numpy as np

    if a.dtype == np.uint8:
        return a
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return ((a - lo) / (hi - lo) * 255).round().astype(np.uint8)


def shown_path(path: str | Path) -> str:
    """A path as outputs show it: relative to the working folder where it is inside it or at
    most two folders up ("../runs/x" from lessons/), so no output carries a machine path."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith(os.path.join(*[os.pardir] * 3)) else str(path)
