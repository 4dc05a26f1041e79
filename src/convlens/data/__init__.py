"""Data sets, their file formats, the one image loader, transforms and in-memory batches.

Add a data set in `sources.py`: one class declaring its files, checksums, classes, input
shape and how to get it. `datasets.py` loads a split (`load_dataset`, through the bounded
`DatasetCache`), `containers.py` says what a loaded split is, `batches.py` cuts it into
batches, `files.py` reads file formats, `images.py` decodes images and `transforms.py`
normalises and augments batches.
"""

from __future__ import annotations

from convlens.data.batches import iterate_batches
from convlens.data.containers import FolderStream, ImageDataset, images_at, subset
from convlens.data.datasets import (
    DEFAULT_CACHE,
    DatasetCache,
    canonical_name,
    list_datasets,
    load_dataset,
    mirror_safe,
    on_disk,
)
from convlens.data.downloads import offline
from convlens.data.sources import DATASETS
from convlens.data.transforms import AUGMENTATIONS, Augment, augment_batch, normalize, parse_augment

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "DEFAULT_CACHE",
    "Augment",
    "DatasetCache",
    "FolderStream",
    "ImageDataset",
    "augment_batch",
    "canonical_name",
    "images_at",
    "iterate_batches",
    "list_datasets",
    "mirror_safe",
    "load_dataset",
    "normalize",
    "offline",
    "on_disk",
    "parse_augment",
    "subset",
]
