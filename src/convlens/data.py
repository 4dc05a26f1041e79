"""Data sets: files, checks, in-memory uint8 tensors, batching and augmentation.

(Work in progress: the `ImageDataset` container below is the contract other modules use.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class ImageDataset:
    """A whole split of an image data set held in memory.

    Attributes:
        name: the data set's name as the user gave it, e.g. "fashion-mnist".
        images: uint8 tensor (N, C, H, W), pixel values 0-255, never normalised in place.
        labels: int64 tensor (N,).
        classes: class names, index = label.
        mean, std: per-channel statistics of the *training* split on the 0-1 scale, used to
            normalise every split the same way (and saved with every run).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)
