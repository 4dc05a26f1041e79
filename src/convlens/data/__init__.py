"""Data sets, their file formats, the one image loader, transforms and in-memory batches.

Add a data set in `datasets.py` (its files, checksums and classes in one place); file
formats live in `files.py`, image decoding in `images.py`, normalisation and batched
augmentation in `transforms.py`.
"""
from __future__ import annotations

from convlens.data.datasets import (
    DATASETS,
    FolderStream,
    ImageDataset,
    canonical_name,
    images_at,
    iterate_batches,
    list_datasets,
    load_dataset,
    offline,
    subset,
)
from convlens.data.transforms import AUGMENTATIONS, Augment, augment_batch, normalize, parse_augment

__all__ = ["AUGMENTATIONS", "DATASETS", "Augment", "FolderStream", "ImageDataset",
           "augment_batch", "canonical_name", "images_at", "iterate_batches", "list_datasets",
           "load_dataset", "normalize", "offline", "parse_augment", "subset"]
