"""Predict on your own images: convert them the way the model was trained, then top-k.

An image goes through `convlens.images.load_image` (EXIF orientation, alpha on white,
palette, 16-bit), then `prepare_image` makes it look like the training data:

1. channels: grayscale for 1-channel models, RGB for 3-channel ones;
2. inversion: data sets of light objects on a dark background (MNIST, Fashion-MNIST) get
   dark-on-light drawings and photos inverted. `invert="auto"` decides from the image's
   border (the background): it inverts when the border is light and the training data is
   dark, and says so;
3. size: for dark-background data the content is cropped to its bounding box first; then
   the image is scaled to fit inside the model's input keeping its aspect ratio, centred,
   and the rest filled with the background. Digit sets keep MNIST's 4-pixel margin (digits
   sit in a 20x20 box in the middle of 28x28);
4. normalisation with the run's own training mean and std.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from convlens import data as datamod
from convlens.engine.runs import Run, load_run
from convlens.errors import ConfigError
from convlens.io import data_url, png_bytes

INVERT_CHOICES = ("auto", "yes", "no")
DIGIT_SETS = ("mnist", "digits")
DARK_DATA_MEAN = 0.4  # a training mean below this (every channel) means light-on-dark data
LIGHT_BORDER = 0.5  # a border median above this is a light background


@dataclass(frozen=True)
class Prepared:
    """An image as the model sees it (before normalisation)."""

    pixels: torch.Tensor  # uint8 (C, H, W)
    inverted: bool
    note: str  # one line on what was done, e.g. why it was inverted


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one image.

    Attributes:
        source: the file name, or e.g. "test[3] (true: 7)".
        classes: class names, index = label.
        probs: (K,) softmax probabilities; logits: (K,) the model's raw outputs.
        prepared: the image as the model saw it (`image`) and what was done to it.
    """

    source: str
    classes: tuple[str, ...]
    probs: np.ndarray  # (K,)
    prepared: Prepared
    logits: np.ndarray  # (K,)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The `k` most probable classes with their probabilities."""
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.classes[i], float(self.probs[i])) for i in order]

    @property
    def label(self) -> str:
        """The predicted class name."""
        return self.top(1)[0][0]

    @property
    def image(self) -> torch.Tensor:
        """The image as the model saw it: uint8 (C, H, W), before normalisation."""
        return self.prepared.pixels

    def line(self, k: int = 3) -> str:
        top = ", ".join(f"{name} {p:.1%}" for name, p in self.top(k))
        note = f"  ({self.prepared.note})" if self.prepared.note else ""
        return f"{self.source}: {top}{note}"

    __str__ = line

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{p:.1%}</td></tr>" for n, p in self.top(5)
        )
        png = png_bytes(self.image.permute(1, 2, 0).numpy())  # (H, W, C) uint8
        img = (
            f'<img src="{data_url(png)}" width="84" '
            f'style="image-rendering: pixelated; float: left; margin-right: 1em">'
        )
        return f"<div>{img}<b>{html.escape(self.source)}</b><table>{rows}</table></div>"


def is_dark_data(mean: Sequence[float]) -> bool:
    """True for light-on-dark training data such as MNIST (mean 0.13) or Fashion-MNIST (0.29)."""
    return bool(mean) and all(m < DARK_DATA_MEAN for m in mean)


def _border(a: np.ndarray) -> np.ndarray:
    """The outer ring of pixels (about 5% of each side, at least one), shape (n, C)."""
    h, w = a.shape[:2]
    t = max(1, round(0.05 * min(h, w)))
    mask = np.zeros((h, w), bool)
    mask[:t], mask[-t:], mask[:, :t], mask[:, -t:] = True, True, True, True
    return a[mask]


def prepare_image(
    img: Image.Image,
    input_shape: Sequence[int],
    mean: Sequence[float],
    *,
    invert: str | bool = "auto",
    data: str = "",
) -> Prepared:
    """Convert a loaded image to the model's channels, polarity and size (see module doc)."""
    c, h, w = (int(v) for v in input_shape)
    if invert not in (True, False, *INVERT_CHOICES):
        raise ConfigError(f"Expected invert in {INVERT_CHOICES}. Received: invert={invert!r}")
    img = img.convert("L" if c == 1 else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = a[..., None] if a.ndim == 2 else a
    dark_data = is_dark_data(mean)
    border = float(np.median(_border(a)))
    if invert == "auto":
        flip = dark_data and border > LIGHT_BORDER
        note = (
            f"inverted: light background (border {border:.2f}) and the model was trained "
            f"on light-on-dark images; --invert no keeps it"
            if flip
            else ""
        )
    else:
        flip = invert in (True, "yes")
        note = "inverted (--invert yes)" if flip else ""
    if flip:
        a = 1.0 - a
    background = np.median(_border(a), axis=0)  # per channel
    margin = 0
    if dark_data:
        a = _crop_to_content(a, background)
        margin = round(4 * min(h, w) / 28) if data.split(":")[0] in DIGIT_SETS else 0
    canvas = _letterbox(a, h, w, margin, background)
    pixels = torch.from_numpy(np.round(canvas * 255).clip(0, 255).astype(np.uint8))
    return Prepared(pixels=pixels.permute(2, 0, 1).contiguous(), inverted=flip, note=note)


def _crop_to_content(a: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of pixels that differ clearly from the background."""
    diff = np.abs(a - background).max(axis=2)
    rows, cols = np.flatnonzero(diff.max(1) > 0.2), np.flatnonzero(diff.max(0) > 0.2)
    if len(rows) == 0 or len(cols) == 0:
        return a
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _letterbox(a: np.ndarray, h: int, w: int, margin: int, background: np.ndarray) -> np.ndarray:
    """Scale `a` to fit (h - 2 margin, w - 2 margin) keeping aspect, centre it on background."""
    box_h, box_w = max(1, h - 2 * margin), max(1, w - 2 * margin)
    scale = min(box_h / a.shape[0], box_w / a.shape[1])
    new_h, new_w = max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(a[..., i]).resize(
                    (new_w, new_h),
                    Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR,
                )
            )
            for i in range(a.shape[2])
        ],
        axis=2,
    ).clip(0, 1)
    canvas = np.broadcast_to(background, (h, w, a.shape[2])).copy()
    top, left = (h - new_h) // 2, (w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


@torch.inference_mode()
def predict_logits(run: Run, pixels: torch.Tensor) -> np.ndarray:
    """The model's outputs (N, K) for uint8 images (N, C, H, W) already in its format."""
    x = datamod.normalize(pixels, run.mean, run.std)  # (N, C, H, W) float32
    return run.model.eval()(x).float().numpy()


def _softmax(logits: np.ndarray) -> np.ndarray:
    return torch.from_numpy(logits).softmax(1).numpy()


def predict(
    run: Run | str | Path,
    images: Sequence[Any],
    *,
    invert: str | bool = "auto",
    max_bytes: int | None = None,
) -> list[Prediction]:
    """Predict the class of each image (paths, bytes or PIL images).

    Raises:
        ImageError: a file that is not a readable image (named in the message).
    """
    from convlens.data.images import load_image

    if not isinstance(run, Run):
        run = load_run(run)
    data = str(run.info.get("data", ""))
    prepared, sources = [], []
    for item in images:
        img = item if isinstance(item, Image.Image) else load_image(item, max_bytes=max_bytes)
        prepared.append(prepare_image(img, run.input_shape, run.mean, invert=invert, data=data))
        sources.append(str(item) if isinstance(item, (str, Path)) else "image")
    if not prepared:
        return []
    logits = predict_logits(run, torch.stack([p.pixels for p in prepared]))
    return [
        Prediction(source=s, classes=run.classes, probs=pr, prepared=p, logits=lg)
        for s, pr, p, lg in zip(sources, _softmax(logits), prepared, logits)
    ]


def predict_indices(
    run: Run | str | Path, indices: Sequence[int], *, split: str = "test"
) -> list[Prediction]:
    """Predict images of the run's own data set by index (the true label is in `source`)."""
    if not indices:
        return []
    if not isinstance(run, Run):
        run = load_run(run)
    ds = datamod.load_dataset(run.info["data"], split, data_dir=run.config.data_dir)
    bad = [i for i in indices if not 0 <= i < len(ds)]
    if bad:
        raise ConfigError(
            f"Expected indices in 0..{len(ds) - 1} ({run.info['data']} {split}). Received: {bad[0]}"
        )
    pixels = datamod.images_at(ds, list(indices))
    logits = predict_logits(run, pixels)
    return [
        Prediction(
            source=f"{split}[{i}] (true: {ds.classes[int(ds.labels[i])]})",
            classes=run.classes,
            probs=pr,
            prepared=Prepared(pixels=px, inverted=False, note=""),
            logits=lg,
        )
        for i, pr, px, lg in zip(indices, _softmax(logits), pixels, logits)
    ]
