"""What a loaded split is: `ImageDataset` (in memory) or `FolderStream` (read from disk per
batch), the helpers that work on either, and per-channel statistics of uint8 images."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from convlens.data import folders


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


@dataclass(frozen=True)
class FolderStream:
    """An image-folder split too large for memory: images are read from disk per batch.

    Same attributes as ImageDataset except `images`; `iterate_batches` reads its batches
    with a DataLoader and worker processes, in the same order an ImageDataset would use, so
    the trainer needs no other code. `mean`/`std` come from up to 2,000 train images spread
    evenly over the train split (not all of them: the point is not reading everything).
    """

    name: str
    paths: tuple[Path, ...]
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int
    channels: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.channels, self.size, self.size

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def load(self, indices: torch.Tensor | list[int]) -> torch.Tensor:
        """uint8 images (B, C, H, W) of the given indices."""
        paths = [self.paths[int(i)] for i in indices]
        return torch.from_numpy(folders.read_image_files(paths, self.size, self.channels))


def subset(ds: ImageDataset | FolderStream, n: int) -> ImageDataset | FolderStream:
    """The first `n` images of a split."""
    if isinstance(ds, FolderStream):
        return replace(ds, paths=ds.paths[:n], labels=ds.labels[:n])
    return replace(ds, images=ds.images[:n], labels=ds.labels[:n])


def images_at(ds: ImageDataset | FolderStream, indices: list[int]) -> torch.Tensor:
    """uint8 images (B, C, H, W) at `indices`, from memory or disk."""
    return ds.load(indices) if isinstance(ds, FolderStream) else ds.images[indices]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (sample) std of uint8 images (N, C, H, W) on the 0-1 scale.

    Exact, from a 256-bin histogram per channel: no float copy of the images (which would
    be 8 bytes a pixel, 376 MB for Fashion-MNIST's train split). A std below 1e-6 (a
    constant channel) is raised to 1e-6 so that normalising never divides by zero.
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = max(float(counts.sum()), 1.0)  # an empty split: zeros, not a crash
        mean = float((counts * values).sum()) / n
        var = float((counts * (values - mean) ** 2).sum()) / max(n - 1, 1)
        means.append(mean)
        stds.append(max(var**0.5, 1e-6))
    return tuple(means), tuple(stds)


def folder_stream(
    name: str,
    lists: dict[str, folders.Listing],
    split: str,
    size: int,
    channels: int,
    stats_sample: int,
) -> FolderStream:
    """A FolderStream over one split of an image folder (`lists`: both splits' paths, labels
    and classes), normalised with the channel mean and std of up to `stats_sample` train
    images spread evenly through the folder."""
    paths, labels, classes = lists[split]
    train_paths = lists["train"][0]
    picks = np.linspace(0, len(train_paths) - 1, min(stats_sample, len(train_paths)))
    sample = [train_paths[i] for i in picks.astype(int)]
    mean, std = channel_stats(torch.from_numpy(folders.read_image_files(sample, size, channels)))
    return FolderStream(
        name=name,
        paths=tuple(paths),
        labels=torch.from_numpy(labels),
        classes=classes,
        mean=mean,
        std=std,
        size=size,
        channels=channels,
    )
