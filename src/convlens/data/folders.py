"""Image folders: one subfolder per class, each image through the one image loader.

`scan_image_folder` lists the class folders and their image files, skipping hidden files
and folders (`.DS_Store`, macOS `._x.png`, `.ipynb_checkpoints/`) and files without an image
suffix; `image_folder_lists` makes the train and test splits, drops classes without a single
image and says in one warning line each what it skipped and dropped (ImageFolderWarning).
Every header and image is read by `convlens.data.images` (formats, pixel limit): a file it
refuses is one `DataError` line naming the file.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convlens.data.files import stratified_split
from convlens.errors import DataError, ImageError

if TYPE_CHECKING:
    from convlens.data.images import ImageInfo

IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ico",
    ".ppm",
    ".pgm",
)
SPLITS = ("train", "test")
Listing = tuple[list[Path], np.ndarray, tuple[str, ...]]  # paths, labels, class names


class ImageFolderWarning(UserWarning):
    """Something in an image folder that convlens left out; training goes on without it."""


@dataclass(frozen=True)
class FolderScan:
    """The class folders of one image folder: `files` maps each class name to its image
    files, sorted (empty classes included); `skipped` lists, relative to `root`, hidden
    files and folders (`.DS_Store`, macOS `._x.png`, `.ipynb_checkpoints/`) and files
    without an image suffix."""

    root: Path
    files: dict[str, list[Path]]
    skipped: tuple[str, ...]


def scan_image_folder(root: Path) -> FolderScan:
    """Image files under the class subfolders of `root`, and what was skipped."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected {root}/<class>/<image files>")
    entries = sorted(root.iterdir())
    names = [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]
    skipped = [p.name + "/" * p.is_dir() for p in entries if p.name not in names]
    if not names:
        raise DataError(f"{root}: no class subfolders; expected {root}/<class>/<image files>")
    files: dict[str, list[Path]] = {}
    for name in names:
        found = []
        for folder, dirs, names_here in os.walk(root / name):
            here = Path(folder)
            for d in [d for d in dirs if d.startswith(".")]:
                dirs.remove(d)  # not walked into
                skipped.append(f"{(here / d).relative_to(root)}/")
            for e in names_here:
                p = here / e
                ok = not e.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                if ok:
                    found.append(p)
                else:  # hidden, another type, or not a file (a broken link)
                    skipped.append(str(p.relative_to(root)))
        files[name] = sorted(found)
    return FolderScan(root, files, tuple(skipped))


def folder_classes(scans: Sequence[FolderScan], where: str) -> tuple[str, ...]:
    """The classes of an image folder (one scan, or train/ and test/): classes without a
    single image are dropped. Says in one warning line each what was skipped and dropped."""
    skipped = [f"{s.root.name}/{p}" if len(scans) > 1 else p for s in scans for p in s.skipped]
    if skipped:
        shown = ", ".join(skipped[:6]) + (
            f" and {len(skipped) - 6} more" if len(skipped) > 6 else ""
        )
        warnings.warn(
            f"{where}: skipped {len(skipped)} hidden or non-image entries ({shown}); images "
            f"are {', '.join(IMAGE_SUFFIXES)} files",
            ImageFolderWarning,
            stacklevel=3,
        )
    names = list(scans[0].files)
    empty = [c for c in names if not any(s.files.get(c) for s in scans)]
    classes = tuple(c for c in names if c not in empty)
    if not classes:
        raise DataError(
            f"{where}: no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(names)}"
        )
    if empty:
        warnings.warn(
            f"{where}: dropped {len(empty)} class folder(s) without images: "
            f"{', '.join(empty)}; {len(classes)} classes left",
            ImageFolderWarning,
            stacklevel=3,
        )
    if len(classes) == 1:
        raise DataError(
            f"{where}: only one class folder has images ({classes[0]!r}); a classifier needs "
            f"at least 2 classes, one subfolder each"
        )
    return classes


def folder_items(scan: FolderScan, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """Paths and labels (indices into `classes`) of the images of `scan`."""
    paths: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        paths += scan.files.get(name, [])
        labels += [i] * len(scan.files.get(name, []))
    return paths, np.asarray(labels, np.int64)


def image_folder_lists(root: Path, test_fraction: float, seed: int) -> dict[str, Listing]:
    """Paths, labels and classes of the train and test splits of `root`: its train/ and
    test/ folders if it has both (with the same class folders), else a seeded, stratified
    split of its class folders."""
    where = f"imagefolder {root}"
    if (root / "train").is_dir() and (root / "test").is_dir():
        scans = [scan_image_folder(root / split) for split in SPLITS]
        train, test = (tuple(scan.files) for scan in scans)
        if test != train:
            raise DataError(f"{root}: train/ has classes {train}, test/ has {test}")
        classes = folder_classes(scans, where)
        return {
            split: (*folder_items(scan, classes), classes) for split, scan in zip(SPLITS, scans)
        }
    scan = scan_image_folder(root)
    classes = folder_classes([scan], where)
    paths, labels = folder_items(scan, classes)
    picks = dict(zip(SPLITS, stratified_split(labels, test_fraction, seed)))
    return {split: ([paths[i] for i in idx], labels[idx], classes) for split, idx in picks.items()}


def _header(path: Path) -> ImageInfo:
    """The header of a folder image through the one loader (formats, pixel limit)."""
    from convlens.data.images import image_info  # Pillow only when a folder is read

    try:
        return image_info(path)
    except ImageError as exc:
        raise DataError(f"image folder: {exc}") from None


def common_size(paths: Sequence[Path], sample: int = 64) -> int:
    """The most common image height in a sample of `paths` (the folder's natural size)."""
    sizes: Counter[int] = Counter(min(_header(p)[:2]) for p in list(paths)[:sample])
    return sizes.most_common(1)[0][0] if sizes else 32


def read_image_files(paths: Sequence[Path], size: int, channels: int) -> np.ndarray:
    """Load images through convlens.images, centre-crop to square, resize to size x size."""
    from PIL import Image

    from convlens.data.images import load_image

    out = np.empty((len(paths), channels, size, size), np.uint8)
    mode = "L" if channels == 1 else "RGB"
    for i, p in enumerate(paths):
        try:
            img = load_image(p, mode=mode)
        except ImageError as exc:
            raise DataError(f"image folder: {exc}") from None
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize(
            (size, size), Image.Resampling.BILINEAR
        )
        a = np.asarray(img, np.uint8)
        out[i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
    return out


def folder_channels(lists: dict[str, Listing], where: str, sample: int = 64) -> int:
    """The channels of both splits, decided once: 1 if every sampled image (of each
    split) is grayscale, else 3; says in one warning line when gray and colour images
    mix (the gray ones are read as colour)."""
    gray = ("L", "1", "I;16", "I", "LA")
    paths = [p for split in SPLITS for p in lists[split][0][:sample]]
    colour = [p for p in paths if _header(p).mode not in gray]
    if colour and len(colour) < len(paths):
        warnings.warn(
            f"{where}: {len(paths) - len(colour)} of {len(paths)} sampled images are gray "
            f"and {len(colour)} colour (e.g. {colour[0].name}); every image is read as "
            f"colour (3 channels)",
            ImageFolderWarning,
            stacklevel=3,
        )
    return 3 if colour else 1


def folder_layout(lists: dict[str, Listing], image_size: int | None, where: str) -> tuple[int, int]:
    """Image size and channels of an image folder, decided once for both splits: the train
    images' most common size (unless `image_size` is given) and the channels of both."""
    return image_size or common_size(lists["train"][0]), folder_channels(lists, where)
