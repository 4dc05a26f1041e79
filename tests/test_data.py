"""Tests of convlens.data: real on-disk formats made tiny, checks, batching, augmentation."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convlens import data
from convlens.data import (
    Augment,
    ImageDataset,
    augment_batch,
    folders,
    iterate_batches,
    load_dataset,
    normalize,
    parse_augment,
)
from convlens.data.sources import FashionMNIST
from convlens.errors import ConfigError, DataError


def write_idx(
    path: Path, array: np.ndarray, *, magic: int | None = None, cut: int = 0, compress: bool = True
) -> None:
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    raw += array.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if compress else raw)


def make_idx_folder(root: Path, n_train: int = 30, n_test: int = 10, compress: bool = True) -> Path:
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            root / f"{prefix}-images-idx3-ubyte{suffix}",
            rng.integers(0, 256, (n, 28, 28)),
            compress=compress,
        )
        write_idx(
            root / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), compress=compress
        )
    return root


needs_debian_fashion = pytest.mark.skipif(
    not FashionMNIST.system_folder.is_dir(), reason="dataset-fashion-mnist not installed"
)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Tests rewrite files in place: forget what earlier tests loaded."""
    data.DEFAULT_CACHE.clear()


def test_mnist_from_a_folder_in_the_standard_files(tmp_path):
    make_idx_folder(tmp_path)
    train = load_dataset("mnist", "train", data_dir=tmp_path)
    test = load_dataset("mnist", "test", data_dir=tmp_path)
    assert train.images.shape == (30, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.shape == (10,) and test.labels.dtype == torch.int64
    assert train.classes == tuple("0123456789") and train.input_shape == (1, 28, 28)
    x = train.images.double() / 255
    assert train.mean[0] == pytest.approx(x.mean().item()) == test.mean[0]
    assert train.std[0] == pytest.approx(x.std().item())


def test_mnist_uncompressed_and_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    make_idx_folder(raw, compress=False)
    assert len(load_dataset("mnist", "train", data_dir=tmp_path)) == 30


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (dict(cut=100), "header says 30x28x28 = 23,520 bytes of data, the file has 23,420"),
        (dict(magic=2049), "magic number 2049 is not 2051"),
    ],
)
def test_broken_idx_files_name_the_file(tmp_path, damage, fragment):
    make_idx_folder(tmp_path)
    images = np.zeros((30, 28, 28))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, **damage)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz") as err:
        load_dataset("mnist", "train", data_dir=tmp_path)
    assert fragment in str(err.value)


def test_truncated_gzip_and_count_mismatch(tmp_path):
    make_idx_folder(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: cannot read it"):
        load_dataset("mnist", "test", data_dir=tmp_path)
    write_idx(path, np.zeros((9, 28, 28)))
    with pytest.raises(DataError, match="has 9 images but .* has 10 labels"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_tampered_official_file_fails_its_checksum(tmp_path):
    # Named like the official Fashion-MNIST file, but other content: the MD5 check catches it.
    make_idx_folder(tmp_path)
    with pytest.raises(DataError, match="checksum .* is not the official"):
        load_dataset("fashion-mnist", "train", data_dir=tmp_path)


def test_offline_and_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", data_dir=tmp_path)
    assert "mnist train files not found" in str(err.value) and "--data-dir" in str(err.value)
    with pytest.raises(DataError, match="cifar10 test files not found .*cifar-10-batches-bin"):
        load_dataset("cifar10", "test", data_dir=tmp_path)


def test_unknown_name_suggests():
    with pytest.raises(
        DataError, match="unknown data set 'fashon-mnist' \\(did you mean 'fashion-mnist'\\?\\)"
    ):
        load_dataset("fashon-mnist")


def _cifar_py_batch(path: Path, n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    with open(path, "wb") as f:
        pickle.dump(
            {
                b"batch_label": b"x",
                b"labels": labels,
                b"data": images,
                b"filenames": [b"a.png"] * n,
            },
            f,
        )
    return images, labels


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    first, labels = _cifar_py_batch(folder / "data_batch_1", 4, 1)
    for i in range(2, 6):
        _cifar_py_batch(folder / f"data_batch_{i}", 4, i)
    _cifar_py_batch(folder / "test_batch", 3, 9)
    train = load_dataset("cifar10", "train", data_dir=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and train.classes[0] == "airplane"
    assert train.labels[:4].tolist() == labels
    assert torch.equal(train.images[0, 1].flatten(), torch.from_numpy(first[0, 1024:2048]))
    assert len(train.mean) == 3


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_on_disk_looks_for_the_files_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLENS_DATA", str(tmp_path / "empty"))  # not the user's cache
    assert not data.on_disk("cifar10", data_dir=tmp_path)
    assert not data.on_disk("cifar10")  # nothing in $CONVLENS_DATA either
    assert data.on_disk("colour-shapes") and data.on_disk("colour-shapes-gray", "test")
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _cifar_py_batch(folder / f"data_batch_{i}", 2, i)
    assert data.on_disk("cifar10", "train", data_dir=tmp_path)
    assert not data.on_disk("cifar-10", "test", data_dir=tmp_path)  # no test_batch yet
    _cifar_py_batch(folder / "test_batch", 3, 9)
    assert data.on_disk("cifar10", "test", data_dir=tmp_path)
    monkeypatch.setenv("CONVLENS_DATA", str(tmp_path))  # where load_dataset looks by default
    assert data.on_disk("cifar10", "test")
    assert load_dataset("cifar10", "test").images.shape == (3, 3, 32, 32)
    assert not data.on_disk("mnist", data_dir=tmp_path)
    (tmp_path / "idx").mkdir()
    make_idx_folder(tmp_path / "idx")
    assert data.on_disk("mnist", "test", data_dir=tmp_path / "idx")
    assert not data.on_disk(f"imagefolder:{tmp_path / 'no-such-folder'}")
    with pytest.raises(DataError, match="Expected split 'train' or 'test'"):
        data.on_disk("cifar10", "valid")


def test_cifar10_refuses_a_pickle_payload(tmp_path, capsys):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [1]}, f)
    with pytest.raises(DataError, match="test_batch: not a CIFAR-10 batch .*refusing"):
        load_dataset("cifar10", "test", data_dir=tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_cifar10_binary_batches_and_truncation(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", 2) for i in range(1, 6)] + [("test_batch.bin", 3)]:
        records = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        records[:, 0] = 7
        (folder / name).write_bytes(records.tobytes())
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert test.images.shape == (3, 3, 32, 32) and test.labels.tolist() == [7, 7, 7]
    (folder / "test_batch.bin").write_bytes(b"\x01" * 3000)
    data.DEFAULT_CACHE.clear()
    with pytest.raises(DataError, match="test_batch.bin: 3,000 bytes is not a whole number"):
        load_dataset("cifar10", "test", data_dir=tmp_path)


def test_image_folder_split_and_corrupt_image(tmp_path):
    root = tmp_path / "shapes"
    for c, value in (("dark", 20), ("light", 230)):
        (root / c).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (40, 30), value + i).save(root / c / f"{i}.png")
    train = load_dataset(f"imagefolder:{root}", "train")
    test = load_dataset(f"imagefolder:{root}", "test")
    assert (len(train), len(test)) == (8, 2) and train.classes == ("dark", "light")
    assert train.images.shape[1:] == (1, 30, 30)  # centre-cropped to the common size
    assert sorted(test.labels.tolist()) == [0, 1]  # stratified
    (root / "light" / "9.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data.DEFAULT_CACHE.clear()
    with pytest.raises(DataError, match="9.jpg: truncated or corrupt image"):
        for split in ("train", "test"):  # the bad file lands in one of the two
            load_dataset(f"imagefolder:{root}", split, image_size=16)


def _shapes(root: Path, classes: dict[str, int], size=(20, 20)) -> None:
    for c, n in classes.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("L", size, 10 * i).save(root / c / f"{i}.png")


def test_image_folder_skips_hidden_entries_and_drops_empty_classes(tmp_path):
    root = tmp_path / "shoes"
    _shapes(root, {"boot": 5, "sandal": 5})
    (root / "empty").mkdir()
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "README.md").write_text("my shoes")
    (root / "boot" / "._0.png").write_bytes(b"\0\5\26\7 macOS resource fork")  # not an image
    (root / "boot" / ".ipynb_checkpoints").mkdir()
    Image.new("L", (20, 20)).save(root / "boot" / ".ipynb_checkpoints" / "0-checkpoint.png")
    (root / "sandal" / "notes.txt").write_text("size 42")
    (root / ".trash" / "x").mkdir(parents=True)
    with pytest.warns(folders.ImageFolderWarning) as caught:
        train = load_dataset(f"imagefolder:{root}", "train")
    messages = sorted(str(w.message) for w in caught)
    assert messages == [
        f"imagefolder {root}: dropped 1 class folder(s) without images: empty; 2 classes left",
        f"imagefolder {root}: skipped 6 hidden or non-image entries (.DS_Store, .trash/, "
        f"README.md, boot/.ipynb_checkpoints/, boot/._0.png, sandal/notes.txt); images are "
        f".png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp, .ico, .ppm, .pgm files",
    ]
    with pytest.warns(folders.ImageFolderWarning):  # said again for each split loaded
        test = load_dataset(f"imagefolder:{root}", "test")
    assert train.classes == test.classes == ("boot", "sandal")
    assert len(train) + len(test) == 10 and sorted(test.labels.tolist()) == [0, 1]


def test_image_folder_summary_is_one_line_however_many_are_skipped(tmp_path):
    root = tmp_path / "many"
    _shapes(root, {"a": 2, "b": 2})
    for i in range(30):
        (root / "a" / f"._{i}.png").write_bytes(b"junk")
    with pytest.warns(folders.ImageFolderWarning, match="skipped 30 hidden") as caught:
        load_dataset(f"imagefolder:{root}", "train", image_size=8)
    (message,) = [str(w.message) for w in caught]
    assert "and 24 more" in message and "\n" not in message


def test_image_folder_splits_keep_classes_empty_in_one_split(tmp_path):
    _shapes(tmp_path / "train", {"cat": 3, "dog": 3, "owl": 0, "yak": 0})
    _shapes(tmp_path / "test", {"cat": 2, "dog": 0, "owl": 1, "yak": 0})
    with pytest.warns(folders.ImageFolderWarning, match="without images: yak; 3 classes left"):
        train = load_dataset(f"imagefolder:{tmp_path}", "train")
    with pytest.warns(folders.ImageFolderWarning, match="yak"):
        test = load_dataset(f"imagefolder:{tmp_path}", "test")
    assert train.classes == test.classes == ("cat", "dog", "owl")
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and test.labels.tolist() == [0, 0, 2]
    (tmp_path / "test" / ".ipynb_checkpoints").mkdir()
    data.DEFAULT_CACHE.clear()
    with pytest.warns(folders.ImageFolderWarning) as caught:
        load_dataset(f"imagefolder:{tmp_path}", "train")
    messages = " | ".join(str(w.message) for w in caught)
    assert "skipped 1 hidden or non-image entries (test/.ipynb_checkpoints/)" in messages


@pytest.mark.filterwarnings("ignore::convlens.data.folders.ImageFolderWarning")
def test_image_folder_refusals_are_one_line(tmp_path, monkeypatch):
    root = tmp_path / "pics"
    _shapes(root, {"a": 3, "b": 3})
    (root / "c").mkdir()
    (root / "c" / "page.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
    with pytest.raises(DataError, match="page.png: not an image .*it opens PNG, JPEG"):
        for split in ("train", "test"):
            load_dataset(f"imagefolder:{root}", split)
    (root / "c" / "page.png").unlink()
    monkeypatch.setenv("CONVLENS_MAX_PIXELS", "300")  # the one limit, folders included
    data.DEFAULT_CACHE.clear()
    with pytest.raises(
        DataError, match=r"image folder: .*0.png: 20x20 = 400 pixels is over the li"
    ):
        load_dataset(f"imagefolder:{root}", "train")
    only_hidden = tmp_path / "hidden"
    (only_hidden / ".a").mkdir(parents=True)
    with pytest.raises(DataError, match="no class subfolders"):
        load_dataset(f"imagefolder:{only_hidden}", "train")
    _shapes(tmp_path / "none", {"a": 0, "b": 0})
    with pytest.raises(DataError, match="no image files .* in a, b"):
        load_dataset(f"imagefolder:{tmp_path / 'none'}", "train")


def test_digits_ship_offline():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.labels.bincount().tolist() == [400] * 10
    assert train.images.shape[1:] == (1, 28, 28) and 0.1 < train.mean[0] < 0.16


@needs_debian_fashion
def test_fashion_mnist_from_the_debian_package():
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    assert train.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert train.std[0] == pytest.approx(0.3530, abs=1e-4)


def toy(n: int = 50) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    return ImageDataset(
        "toy",
        torch.randint(0, 256, (n, 1, 6, 6), generator=g, dtype=torch.uint8),
        torch.arange(n) % 3,
        ("a", "b", "c"),
        (0.5,),
        (0.25,),
    )


def test_normalize():
    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    assert normalize(x, (0.5,), (0.25,)).tolist() == [[[[-2.0, 2.0]]]]


def test_parse_augment():
    assert parse_augment("crop,flip") == Augment(crop_padding=2, flip=True)
    assert parse_augment("crop=4, cutout=3") == Augment(crop_padding=4, cutout=3)
    assert not parse_augment("none")
    with pytest.raises(ConfigError, match="unknown augmentation 'flp' \\(did you mean 'flip'"):
        parse_augment("crop,flp")


def test_augment_batch_crop_shifts_and_flip():
    x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = augment_batch(x, Augment(crop_padding=1), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # every output is the input shifted by at most one pixel, zeros coming in
    padded = torch.nn.functional.pad(x[0], (1, 1, 1, 1))
    shifts = {(dy, dx): padded[:, dy : dy + 4, dx : dx + 4] for dy in range(3) for dx in range(3)}
    seen = [[s for s, shifted in shifts.items() if torch.equal(o, shifted)] for o in out]
    assert all(len(s) == 1 for s in seen)
    assert len({s[0] for s in seen}) > 4  # and the offsets vary
    flipped = augment_batch(x, Augment(flip=True), torch.Generator().manual_seed(0))
    kinds = {tuple(f.flatten().tolist()) for f in flipped}
    assert kinds == {tuple(x[0].flatten().tolist()), tuple(x[0].flip(2).flatten().tolist())}


def test_batches_cover_the_set_and_resume_bitwise():
    ds = toy()
    aug = parse_augment("crop,flip,cutout=2")
    full = list(
        iterate_batches(
            ds, 8, shuffle=True, generator=torch.Generator().manual_seed(3), augment=aug
        )
    )
    resumed = list(
        iterate_batches(
            ds,
            8,
            shuffle=True,
            augment=aug,
            start_batch=4,
            generator=torch.Generator().manual_seed(3),
        )
    )
    assert len(full) == 7 and len(resumed) == 3
    for (xa, ya), (xb, yb) in zip(full[4:], resumed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    labels = torch.cat([y for _, y in full])
    assert sorted(labels.tolist()) == sorted(ds.labels.tolist())
    plain = list(iterate_batches(ds, 8, shuffle=False, generator=None, drop_last=True))
    assert len(plain) == 6 and plain[0][0].dtype == torch.float32


def test_large_image_folders_stream_from_disk_with_the_same_batches(tmp_path, monkeypatch):
    root = tmp_path / "big"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(
                root / c / f"{i}.png"
            )
    in_memory = load_dataset(f"imagefolder:{root}", "train")
    monkeypatch.setenv("CONVLENS_MAX_MEMORY_MB", "0.001")  # about 1 KB: stream it
    stream = load_dataset(f"imagefolder:{root}", "train")
    assert isinstance(stream, data.FolderStream) and not isinstance(in_memory, data.FolderStream)
    assert len(stream) == len(in_memory) == 20 and stream.input_shape == (1, 16, 16)
    assert stream.mean == pytest.approx(in_memory.mean)
    aug = parse_augment("crop,flip")
    a = list(
        iterate_batches(
            in_memory,
            6,
            shuffle=True,
            augment=aug,
            start_batch=1,
            generator=torch.Generator().manual_seed(5),
        )
    )
    b = list(
        iterate_batches(
            stream,
            6,
            shuffle=True,
            augment=aug,
            start_batch=1,
            generator=torch.Generator().manual_seed(5),
        )
    )
    assert len(a) == len(b) == 3
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_recorded_checksums_are_torchvisions():
    from torchvision import datasets

    from convlens.data import sources

    for ours, theirs in (
        (sources.FashionMNIST, datasets.FashionMNIST),
        (sources.MNIST, datasets.MNIST),
    ):
        assert {name: c.file for name, c in ours.checksums.items()} == dict(theirs.resources)


@needs_debian_fashion
def test_fashion_mnist_uncompressed_official_files_are_verified(tmp_path):
    # torchvision's raw/ folder holds the files decompressed: their content MD5 is checked.
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / name).write_bytes(
            gzip.decompress((FashionMNIST.system_folder / f"{name}.gz").read_bytes())
        )
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(10000), compress=False)
    train = load_dataset("fashion-mnist", "train", data_dir=tmp_path)
    assert len(train) == 60000 and train.labels.bincount().tolist() == [6000] * 10
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: checksum .* not the official"):
        load_dataset("fashion-mnist", "test", data_dir=tmp_path)


def test_fashion_mnist_offline_without_files_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(FashionMNIST, "system_folder", tmp_path / "no-debian-package")
    monkeypatch.setenv("CONVLENS_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", "test")
    message = str(err.value)
    assert "\n" not in message and "fashion-mnist test files not found" in message
    for needed in (
        "dataset-fashion-mnist",
        "torchvision",
        "--data-dir",
        "t10k-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ):
        assert needed in message


def test_list_datasets_and_split_names():
    assert data.list_datasets()[0] == "fashion-mnist"
    assert {"mnist", "cifar10", "digits"} <= set(data.list_datasets())
    with pytest.raises(DataError, match="Expected split 'train' or 'test'. Received: split='val'"):
        load_dataset("digits", "val")


def test_cifar10_python_batches_pickled_like_the_originals(tmp_path):
    # The real files are protocol-2 pickles that name numpy.core.multiarray._reconstruct.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [3, 5],
        b"data": np.full((2, 3072), 7, np.uint8),
        b"filenames": [b"a.png", b"b.png"],
    }
    raw = pickle.dumps(batch, protocol=2).replace(
        b"numpy._core.multiarray", b"numpy.core.multiarray"
    )
    (folder / "test_batch").write_bytes(raw)
    for i in range(1, 6):
        _cifar_py_batch(folder / f"data_batch_{i}", 2, i)
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert test.labels.tolist() == [3, 5] and int(test.images.sum()) == 2 * 3072 * 7
    (folder / "test_batch").write_bytes(raw[:200])
    data.DEFAULT_CACHE.clear()
    with pytest.raises(DataError, match="test_batch: cannot read it"):
        load_dataset("cifar10", "test", data_dir=tmp_path)


def test_image_folder_with_train_and_test_folders_of_jpegs(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 3), ("test", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (24, 36, 3), dtype=np.uint8)  # 36 wide, 24 high
                Image.fromarray(pixels).save(tmp_path / split / c / f"{i}.jpg", quality=90)
    train = load_dataset(f"imagefolder:{tmp_path}", "train", image_size=12)
    test = load_dataset(f"imagefolder:{tmp_path}", "test", image_size=12)
    assert train.images.shape == (6, 3, 12, 12) and test.images.shape == (4, 3, 12, 12)
    assert train.classes == test.classes == ("cat", "dog") and len(test.mean) == 3
    assert test.mean == train.mean  # train statistics
    assert test.labels.tolist() == [0, 0, 1, 1]


def test_augmentation_is_reproducible_and_works_on_floats():
    x = torch.randint(
        0, 256, (32, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    aug = Augment(crop_padding=2, flip=True, cutout=3)
    a = augment_batch(x, aug, torch.Generator().manual_seed(1))
    b = augment_batch(x, aug, torch.Generator().manual_seed(1))
    c = augment_batch(x, aug, torch.Generator().manual_seed(2))
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, c)
    f = augment_batch(x.float(), aug, torch.Generator().manual_seed(1))
    assert f.dtype == torch.float32 and torch.equal(f, a.float())
    holes = augment_batch(torch.full_like(x, 9), Augment(cutout=3), torch.Generator()) == 0
    assert holes.sum().item() == 32 * 3 * 9  # one 3x3 hole each
    assert augment_batch(x, Augment(), torch.Generator()) is x  # nothing to do
    with pytest.raises(ConfigError, match="Received: crop_padding=-1"):
        Augment(crop_padding=-1)


def test_normalize_checks_channels():
    with pytest.raises(ConfigError, match="C = 3 channels"):
        normalize(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), (0.5,) * 3, (0.2,) * 3)
    x = torch.full((1, 3, 2, 2), 51, dtype=torch.uint8)
    assert torch.allclose(
        normalize(x, (0.2, 0.1, 0.0), (1.0, 0.5, 0.2)),
        torch.tensor([0.0, 0.2, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2),
    )


def test_callers_get_their_own_tensors(tmp_path):
    make_idx_folder(tmp_path)
    first = load_dataset("mnist", "train", data_dir=tmp_path)
    expected_images, expected_labels = first.images.clone(), first.labels.clone()
    first.images.zero_()  # one caller changes its copy ...
    first.labels.fill_(3)
    second = load_dataset("mnist", "train", data_dir=tmp_path)
    assert torch.equal(second.images, expected_images)  # ... the next one does not see it
    assert torch.equal(second.labels, expected_labels)
    assert expected_images.any()  # (so zeroing changed something)
    test = load_dataset("mnist", "test", data_dir=tmp_path)
    test.images.fill_(255)
    assert not load_dataset("mnist", "test", data_dir=tmp_path).images.eq(255).all()
    uncached = load_dataset("mnist", "train", data_dir=tmp_path, cache=None)
    assert torch.equal(uncached.images, expected_images)


def test_cache_holds_at_most_its_size_and_serves_without_reading(tmp_path):
    cache = data.DatasetCache(2)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    make_idx_folder(a), make_idx_folder(b)
    load_dataset("mnist", "test", data_dir=a, cache=cache)  # reads test, then train's stats
    assert [k[:2] for k in cache.held()] == [("mnist", "train"), ("mnist", "test")]
    load_dataset("mnist", "train", data_dir=b, cache=cache)  # the least recently used goes
    assert len(cache) == 2 and [k[1] for k in cache.held()] == ["test", "train"]
    for f in b.iterdir():
        f.unlink()
    assert len(load_dataset("mnist", "train", data_dir=b, cache=cache)) == 30  # no file read
    with pytest.raises(DataError, match="mnist train files not found"):
        load_dataset("mnist", "train", data_dir=b, cache=None)
    load_dataset("digits", "test", cache=cache)
    assert [k[:2] for k in cache.held()] == [("digits", "train"), ("digits", "test")]
    with pytest.raises(DataError, match="mnist train files not found"):  # forgotten
        load_dataset("mnist", "train", data_dir=b, cache=cache)
    cache.clear()
    assert len(cache) == 0 and cache.size == 2
    none = data.DatasetCache(0)
    load_dataset("digits", "train", cache=none)
    assert len(none) == 0
    assert data.DEFAULT_CACHE.size == 2
    for split in ("train", "test"):
        load_dataset("mnist", split, data_dir=a)
        load_dataset("digits", split)
    assert len(data.DEFAULT_CACHE) == 2
    with pytest.raises(ConfigError, match="Received: size=-1"):
        data.DatasetCache(-1)


def test_train_statistics_are_exact_per_channel():
    from convlens.data.containers import channel_stats

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 5, 7), generator=g, dtype=torch.uint8)
    images[:, 2] = 17  # a constant channel
    mean, std = channel_stats(images)
    x = images.double().div(255).transpose(0, 1).reshape(3, -1)
    assert mean == pytest.approx(x.mean(1).tolist(), abs=1e-12)
    assert std[:2] == pytest.approx(x.std(1)[:2].tolist(), abs=1e-12)
    assert std[2] == 1e-6  # never a division by zero


def test_images_of_the_wrong_shape_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (6, 20, 20)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 6))
    with pytest.raises(
        DataError,
        match=r"mnist: images of shape \(1, 20, 20\); expected "
        r"\(1, 28, 28\)",
    ):
        load_dataset("mnist", "train", data_dir=tmp_path)


def test_the_offline_digits_file_is_checked(tmp_path, monkeypatch):
    from convlens.data import files

    real = files.digits_csv()
    fake = tmp_path / real.name
    fake.write_bytes(gzip.compress(gzip.decompress(real.read_bytes()).replace(b"255", b"254")))
    monkeypatch.setattr(files, "digits_csv", lambda: fake)
    with pytest.raises(DataError, match="mnist_5k.csv.gz: checksum .* is not the official"):
        load_dataset("digits", "train")
    fake.write_bytes(gzip.compress(gzip.decompress(real.read_bytes()), compresslevel=1))
    assert len(load_dataset("digits", "test")) == 1000  # recompressed, same content: fine


def test_a_new_data_set_is_one_class(monkeypatch):
    from convlens.data import sources

    monkeypatch.setattr(sources, "REGISTRY", dict(sources.REGISTRY))

    class Checkers(sources.DataSource):
        name = "checkers"
        aliases = ("chess",)
        classes = ("black", "white")
        input_shape = (1, 4, 4)

        def read(self, split, where, download, image_size):
            labels = np.arange(6 if split == "train" else 2) % 2
            images = (np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)
            return np.stack([images[None]] * len(labels)), labels, self.classes

    assert data.list_datasets()[-1] == "checkers"
    train, test = load_dataset("Chess", "train"), load_dataset("checkers", "test")
    assert (len(train), len(test), train.classes, train.input_shape) == (
        6,
        2,
        Checkers.classes,
        (1, 4, 4),
    )
    assert train.mean == test.mean == pytest.approx((0.5,))
    with pytest.raises(DataError, match="known: fashion-mnist, .*, checkers"):
        load_dataset("draughts")


def test_importing_the_data_package_changes_no_process_state():
    import subprocess
    import sys

    snapshot = (
        "import os, sys, warnings, torch, numpy, PIL.Image as I; "
        "u = os.umask(0o027); os.umask(u); "
        "state = lambda: (os.umask(os.umask(0o027)), I.MAX_IMAGE_PIXELS, "
        "len(warnings.filters), torch.get_num_threads(), torch.get_default_dtype(), "
        "torch.are_deterministic_algorithms_enabled(), torch.initial_seed(), "
        "torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark, "
        "torch.is_grad_enabled(), numpy.random.get_state()[1][:4].tolist(), "
        "numpy.geterr(), dict(os.environ), list(sys.path)); "
    )
    code = (
        snapshot + "before = state(); import convlens.data; after = state(); "
        "print(before == after); print(sorted({m.split('.')[1] for m in sys.modules "
        "if m.startswith('convlens.')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "True"
    loaded = set(eval(out[1]))  # the convlens packages `import convlens.data` brought in
    assert "data" in loaded and not loaded & {"engine", "look", "web", "cli"}


def test_the_first_images_of_a_split_cover_every_class():
    """The digits file is sorted by class; a split keeps a shuffled order, so `limit_train`
    (the first N images) still sees every class."""
    for split in ("train", "test"):
        first = load_dataset("digits", split).labels[:100]
        assert len(set(first.tolist())) == 10, split


def test_a_failed_download_is_one_line_with_the_network_reason(tmp_path, monkeypatch):
    """torchvision lists every mirror it tried, each with the same error, over several lines;
    the user reads one line with the reason and what to do instead."""
    from torchvision import datasets

    def unreachable(*args, **kwargs):
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://a.example/mnist/, got:\n"
            "<urlopen error [Errno -2] Name or service not known>\n"
            "Tried http://b.example/mnist/, got:\n"
            "<urlopen error [Errno -2] Name or service not known>\n"
        )

    monkeypatch.setattr(datasets, "MNIST", unreachable)
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", data_dir=tmp_path, download=True, cache=None)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("could not download mnist (no connection: Name or service not known)")
    assert "--data-dir" in message and "CONVLENS_OFFLINE" not in message
