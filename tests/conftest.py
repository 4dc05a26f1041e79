"""Shared fixtures: run the CLI in-process and capture its output."""

from __future__ import annotations

import os

# Tests must never touch the network or a real dataset download.
os.environ.setdefault("CONVLENS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import gzip
import struct

import numpy as np
import pytest
import torch

from convlens.cli import main

TINY_SPEC = (
    "conv 8 3 pad=same, maxpool 2, conv 16 3 pad=same, maxpool 2, flatten, dense {num_classes}"
)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def cli(capsys):
    """Run `convlens ARGS...` in-process; returns CliResult(code, out, err)."""

    def run(*args: str) -> CliResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse --help / usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def write_idx(path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzip), the format of MNIST's four files."""
    magic = 0x0800 << 0 | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def blob_digits(n: int, seed: int, wrong: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """28x28 light-on-dark images whose class is where a bright blob sits (4 quadrants);
    a fraction `wrong` of the labels is replaced at random (so a model makes mistakes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 30, (n, 28, 28))
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 2)
        images[i, 4 + 12 * r : 12 + 12 * r, 4 + 12 * c : 12 + 12 * c] = 220
    noisy = rng.random(n) < wrong
    labels[noisy] = rng.integers(0, 4, int(noisy.sum()))
    return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(run folder, data folder): 3 epochs on tiny real-format 'mnist' files (4 classes used)."""
    root = tmp_path_factory.mktemp("mnist")
    for prefix, n, seed, wrong in (("train", 400, 0, 0.0), ("t10k", 200, 1, 0.08)):
        images, labels = blob_digits(n, seed, wrong)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(
        [
            "train",
            "--model",
            TINY_SPEC,
            "--data",
            "mnist",
            "--data-dir",
            str(root),
            "--epochs",
            "3",
            "--batch-size",
            "50",
            "--lr",
            "0.01",
            "--augment",
            "none",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out, root


def quadrants(
    n: int = 192,
    seed: int = 0,
    *,
    size: int = 8,
    channels: int = 1,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
):
    """A learnable toy ImageDataset: the label is the bright quadrant of a noisy image."""
    from convlens.data import ImageDataset

    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.randint(0, 80, (n, channels, size, size), generator=g).to(torch.uint8)
    h = size // 2
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * h : (r + 1) * h, c * h : (c + 1) * h] += 150
    return ImageDataset(
        "quadrants",
        images,
        labels,
        ("tl", "tr", "bl", "br"),
        mean=mean or (0.3,) * channels,
        std=std or (0.3,) * channels,
    )


def one_line_error(result, *fragments: str) -> None:
    """Assert a CLI result is exit status 2 with one stderr line holding every fragment."""
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


TOY_SPEC = "conv 8 3 pad=same bn=1, maxpool 2, flatten, dropout 0.2, dense {num_classes}"


def install_toy_data(monkeypatch) -> None:
    """convlens.data.load_dataset -> quadrants toy sets of 192 training and 96 test images."""
    from convlens import data as datamod

    def load_dataset(name, split="train", *, data_dir=None, download=None, image_size=None):
        return quadrants(192 if split == "train" else 96, 0 if split == "train" else 1)

    monkeypatch.setattr(datamod, "load_dataset", load_dataset, raising=False)


def toy_config(**kw):
    """A TrainConfig for the toy sets: 3 epochs of 6 batches of 32, float32, no progress."""
    from convlens.config import TrainConfig

    base = dict(
        model=TOY_SPEC,
        data="quadrants",
        epochs=3,
        batch_size=32,
        lr=0.02,
        augment="none",
        progress=False,
        amp="none",
    )
    return TrainConfig(**{**base, **kw})
