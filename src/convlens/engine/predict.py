"""Predict: class probabilities for images, each prepared by `convlens.engine.prepare` (the
one way from an image to the model's input; its module doc states the rule)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convlens.engine.prepare import Decisions, prepare
from convlens.engine.runs import Run, load_run
from convlens.io import data_url, png_bytes


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one image.

    Attributes:
        source: the file name, or e.g. "test[3] (true: 7)".
        classes: class names, index = label.
        probs: (K,) softmax probabilities; logits: (K,) the model's raw outputs.
        prepared: what was done to the image on its way to the model.
        image: the image as the model saw it: uint8 (C, H, W), before normalisation.
    """

    source: str
    classes: tuple[str, ...]
    probs: np.ndarray  # (K,)
    prepared: Decisions
    logits: np.ndarray  # (K,)
    image: torch.Tensor  # uint8 (C, H, W)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The `k` most probable classes with their probabilities."""
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.classes[i], float(self.probs[i])) for i in order]

    @property
    def label(self) -> str:
        """The predicted class name."""
        return self.top(1)[0][0]

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


@torch.inference_mode()
def predict(
    run: Run | str | Path,
    images: Any,
    *,
    invert: str | bool = "auto",
    max_bytes: int | None = None,
) -> list[Prediction]:
    """Predict the class of each image: one image, a batch (N, C, H, W), a list of images
    (paths, bytes, PIL images, arrays, tensors) or indices (ints) of the run's test set,
    each prepared by `convlens.engine.prepare.prepare` (see there for what is used as it is).

    Raises:
        ImageError: a file that is not a readable image (named in the message).
        ConfigError: an index out of range, or something that is not an image.
    """
    if not isinstance(run, Run):
        run = load_run(run)
    seen = prepare(run, images, invert=invert, max_bytes=max_bytes)
    if not len(seen):
        return []
    weight = next(run.model.parameters(), None)
    x = seen.x if weight is None else seen.x.to(weight.device)
    logits = run.model.eval()(x).float().cpu()  # (N, K)
    probs = logits.softmax(1).numpy()
    return [
        Prediction(d.source, run.classes, pr, d, lg, px)
        for d, pr, lg, px in zip(seen.decisions, probs, logits.numpy(), seen.pixels)
    ]
