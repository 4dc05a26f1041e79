"""Tests of `convlens eval` / `convlens predict` on a tiny run trained on real-format MNIST files."""
from __future__ import annotations

import gzip
import io
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.evaluate import Evaluation
from convlens.predict import prepare_image

SPEC = "conv 8 3 pad=same, maxpool 2, conv 16 3 pad=same, maxpool 2, flatten, dense {num_classes}"


def write_idx(path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzip), the format of MNIST's four files."""
    magic = 0x0800 << 0 | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def blob_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 light-on-dark images whose class is where a bright blob sits (4 quadrants)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 30, (n, 28, 28))
    for i, label in enumerate(labels):
        q = label % 4
        r, c = divmod(q, 2)
        images[i, 4 + 12 * r:12 + 12 * r, 4 + 12 * c:12 + 12 * c] = 220
    return images.astype(np.uint8), (labels % 4).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run trained for 3 epochs on tiny 'mnist' files (4 classes used out of 10)."""
    from convlens.cli import main

    root = tmp_path_factory.mktemp("mnist")
    for prefix, n, seed in (("train", 400, 0), ("t10k", 200, 1)):
        images, labels = blob_digits(n, seed)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(["train", "--model", SPEC, "--data", "mnist", "--data-dir", str(root),
                 "--epochs", "3", "--batch-size", "50", "--lr", "0.01", "--augment", "none",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    return out, root


def test_eval_prints_and_writes_files(cli, tiny_run):
    run, _ = tiny_run
    result = cli("eval", run)
    assert result.code == 0, result
    assert "mnist test: 200 images, accuracy" in result.out
    assert "precision" in result.out and "recall" in result.out
    saved = json.loads((run / "eval.json").read_text())
    assert saved["accuracy"] > 0.9  # the blobs are easy
    cm = np.array(saved["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == 200
    assert (run / "confusion.csv").read_text().startswith("true \\ predicted,0,1,2")


def test_evaluation_arithmetic():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8],
                      [0.05, 0.9, 0.05]], dtype=np.float32)
    ev = Evaluation(data="toy", split="test", classes=("a", "b", "c"), probs=probs,
                    targets=np.array([0, 1, 1, 2, 0]), loss=0.5)
    assert ev.accuracy == pytest.approx(3 / 5)
    assert ev.confusion.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    rows = {r["class"]: r for r in ev.per_class()}
    assert rows["a"]["precision"] == pytest.approx(0.5) and rows["a"]["recall"] == 0.5
    assert rows["c"]["precision"] == 1.0 and rows["c"]["support"] == 1
    assert ev.most_confused(2) == [("b", "a", 1), ("a", "b", 1)] or \
        ev.most_confused(2) == [("a", "b", 1), ("b", "a", 1)]
    # most confidently wrong first: image 4 (p_true 0.05) before image 2 (p_true 0.3)
    assert ev.top_losses().tolist() == [4, 2]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_predict_inverts_a_drawing_and_says_so(cli, tiny_run, tmp_path):
    run, _ = tiny_run
    drawing = np.full((100, 100), 255, np.uint8)    # white paper
    drawing[60:90, 60:90] = 0                        # a dark blob at the bottom right
    (tmp_path / "drawing.png").write_bytes(_png(drawing))
    result = cli("predict", run, tmp_path / "drawing.png", "--show", tmp_path / "p.png")
    assert result.code == 0, result
    line = result.out.splitlines()[0]
    assert "drawing.png: " in line and "inverted: light background" in line
    assert Image.open(tmp_path / "p.png").size[0] > 300
    no = cli("predict", run, tmp_path / "drawing.png", "--invert", "no")
    assert "inverted" not in no.out


def test_prepare_keeps_aspect_and_centres():
    wide = Image.fromarray(np.pad(np.full((10, 40), 200, np.uint8), 2))  # light bar on black
    prepared = prepare_image(wide, (1, 28, 28), (0.13,), data="mnist")
    px = prepared.pixels[0].numpy()
    assert prepared.pixels.shape == (1, 28, 28) and not prepared.inverted
    rows = np.flatnonzero(px.max(1) > 100)
    cols = np.flatnonzero(px.max(0) > 100)
    assert cols[0] == 4 and cols[-1] == 23          # MNIST's 4-pixel margin, 20 wide
    assert 4 <= rows[0] and rows[-1] <= 23 and abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1
    assert len(rows) == 5                            # 10:40 keeps its aspect ratio at 5:20


def test_predict_index_shows_true_label(cli, tiny_run):
    run, _ = tiny_run
    result = cli("predict", run, "--index", "0", "1", "--top-k", "2")
    assert result.code == 0, result
    assert result.out.startswith("test[0] (true: ")


@pytest.mark.parametrize("args, fragment", [
    ((), "Expected at least one IMAGE or --index N"),
    (("--index", "999"), "Expected indices in 0..199"),
    (("--top-k", "0", "--index", "1"), "Expected --top-k >= 1"),
])
def test_predict_bad_arguments(cli, tiny_run, args, fragment):
    result = cli("predict", tiny_run[0], *args)
    assert result.code == 2 and fragment in result.err and len(result.err.splitlines()) == 1


def test_predict_refuses_a_non_image(cli, tiny_run, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    result = cli("predict", tiny_run[0], bad)
    assert result.code == 2 and "notes.png" in result.err and len(result.err.splitlines()) == 1


def test_eval_of_a_folder_that_is_not_a_run(cli, tmp_path):
    result = cli("eval", tmp_path)
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert str(tmp_path) in result.err


def test_eval_on_data_of_another_shape(cli, tiny_run, tmp_path, monkeypatch):
    from convlens import data as datamod
    from convlens.data import ImageDataset

    rgb = ImageDataset("rgb", torch.zeros(4, 3, 32, 32, dtype=torch.uint8),
                       torch.zeros(4, dtype=torch.int64), tuple("abcdefghij"), (0.5,) * 3,
                       (0.25,) * 3)
    monkeypatch.setattr(datamod, "load_dataset", lambda *a, **k: rgb)
    result = cli("eval", tiny_run[0], "--data", "rgb")
    assert result.code == 2
    assert "expects 1x28x28 images; rgb images are 3x32x32" in result.err
