"""`load_dataset` and the `Dataset` it returns: one split with its classes, images and
labels, that shows a batch of itself."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch

from convlens import data as datamod
from convlens.errors import ConfigError, DataError
from convlens.look.picture import Picture
from convlens.look.samples import draw_samples

__all__ = ["Dataset", "load_dataset"]


class Dataset:
    """One split of a data set: `len(ds)`, `ds[i]` -> (image, label), `ds.show_batch()`.

    Attributes:
        name: the data set, e.g. "fashion-mnist"; split: "train" or "test".
        classes: class names, index = label.
        images: uint8 tensor (N, C, H, W) (in memory; an image folder too large for memory
            reads images on demand through `ds[i]` instead).
        labels: int64 tensor (N,).
        input_shape: (C, H, W) of one image.
        mean, std: per-channel statistics of the train split (0-1 scale).
        data: the library's split (`convlens.data.ImageDataset` or `FolderStream`).

    Example:
        >>> ds = cl.load_dataset("digits", split="test")
        >>> image, label = ds[0]; ds.classes[label]
        >>> ds.show_batch(36)
    """

    def __init__(self, data: datamod.ImageDataset | datamod.FolderStream, split: str) -> None:
        self.data = data
        self.split = split

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.data.classes

    @property
    def labels(self) -> torch.Tensor:
        return self.data.labels

    @property
    def images(self) -> torch.Tensor:
        if isinstance(self.data, datamod.FolderStream):
            raise DataError(
                f"{self.name} {self.split} is read from disk as needed ({len(self):,} images); "
                f"use ds[i] for one image"
            )
        return self.data.images

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.data.input_shape

    @property
    def mean(self) -> tuple[float, ...]:
        return self.data.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.data.std

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """(uint8 image (C, H, W), label) of image `index` (negative counts from the end)."""
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ConfigError(
                f"Expected an integer index. Received: {type(index).__name__} {index!r}"
            )
        if not -n <= index < n:
            raise ConfigError(f"Expected an index in 0..{n - 1}. Received: {index}")
        i = int(index) % n
        return datamod.images_at(self.data, [i])[0], int(self.labels[i])

    def show_batch(self, n: int = 36, *, seed: int | None = 0, cols: int | None = None) -> Picture:
        """A grid of `n` images with their class names: a random sample (`seed`), or the
        first `n` with seed=None.

        Example:
            >>> cl.load_dataset("digits").show_batch(24, seed=1)
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"Expected n >= 1 images. Received: n={n!r}")
        count = min(n, len(self))
        if count == 0:
            raise DataError(f"{self.name} {self.split} has no images to show")
        if seed is None:
            chosen = list(range(count))
        else:
            chosen = sorted(np.random.default_rng(seed).choice(len(self), count, replace=False))
        images = datamod.images_at(self.data, [int(i) for i in chosen])
        titles = [self.classes[int(self.labels[i])] for i in chosen]
        fig = draw_samples(images, titles, cols=cols, title=f"{self.name} {self.split}")
        return Picture(fig, name=f"{self.name} {self.split} batch")

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        classes = ", ".join(self.classes[:10]) + (", ..." if len(self.classes) > 10 else "")
        return (
            f"Dataset({self.name} {self.split}: {len(self):,} images {shape}, "
            f"{len(self.classes)} classes: {classes})"
        )

    def _repr_html_(self) -> str:
        counts = torch.bincount(self.labels.cpu(), minlength=len(self.classes)).tolist()
        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(c)}</td><td>{k:,}</td></tr>"
            for i, (c, k) in enumerate(zip(self.classes, counts))
        )
        shape = "x".join(map(str, self.input_shape))
        return (
            f"<div><b>{html.escape(self.name)} {self.split}</b>: {len(self):,} images "
            f"{shape}, mean {_numbers(self.mean)}, std {_numbers(self.std)}"
            f"<table><tr><th>label</th><th>class</th><th>images</th></tr>{rows}</table></div>"
        )


def _numbers(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    download: bool | None = None,
) -> Dataset:
    """One split of a named data set (see `convlens data`): "fashion-mnist", "mnist",
    "cifar10", "digits" (offline), or "imagefolder:PATH".

    Args:
        name: the data set.
        split: "train" or "test".
        data_dir: folder of its files (default: where convlens looks for them).
        limit: keep only the first `limit` images.
        download: allow torchvision's download (default: unless CONVLENS_OFFLINE=1).

    Example:
        >>> ds = cl.load_dataset("fashion-mnist", split="train")
        >>> len(ds), ds.classes[:3], ds.images.shape
    """
    ds = datamod.load_dataset(name, split, data_dir=data_dir, download=download)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"Expected limit >= 1 images. Received: limit={limit!r}")
        ds = datamod.subset(ds, limit)
    return Dataset(ds, split)
