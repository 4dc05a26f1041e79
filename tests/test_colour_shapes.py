"""The offline colour data set: drawn from a seed, balanced, loaded like any data set."""

from __future__ import annotations

import numpy as np
import pytest

import convlens as cl
from convlens.data import list_datasets, load_dataset, mirror_safe, procedural
from convlens.data.procedural import CLASSES, colour_shapes, grayscale
from convlens.errors import DataError


def test_the_same_seed_draws_the_same_bytes_and_another_seed_others():
    a, la = colour_shapes(200, 7)
    b, lb = colour_shapes(200, 7)
    c, _ = colour_shapes(200, 8)
    assert a.dtype == np.uint8 and a.shape == (200, 3, 32, 32) and la.dtype == np.int64
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n", [10, 205, 1000])
def test_classes_are_balanced(n):
    _, labels = colour_shapes(n, 0)
    counts = np.bincount(labels, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == n
    assert len(set(labels[:10].tolist())) > 1  # shuffled, not in class order


def test_class_names_say_colour_and_shape():
    assert len(CLASSES) == 10 and CLASSES[0] == "red disc" and CLASSES[9] == "blue ring"


def test_shapes_are_red_or_blue_but_gray_cannot_tell():
    images, labels = colour_shapes(400, 1)
    x = images.astype(np.float32)
    # the shape's pixels are the most colourful ones: red beats blue in red shapes, and back
    chroma = x.max(1) - x.min(1)  # (N, H, W)
    flat = chroma.reshape(len(x), -1)
    top = flat >= np.quantile(flat, 0.9, axis=1)[:, None]
    red = (x[:, 0] - x[:, 2]).reshape(len(x), -1)
    redness = (red * top).sum(1) / top.sum(1)
    is_red = labels < 5
    assert (redness[is_red] > 20).mean() > 0.95 and (redness[~is_red] < -20).mean() > 0.95
    # their brightness (luma) is drawn from the same range for both colours
    gray = grayscale(images)[:, 0].reshape(len(x), -1).astype(np.float32)
    luma = (gray * top).sum(1) / top.sum(1)
    assert abs(np.median(luma[is_red]) - np.median(luma[~is_red])) < 12  # of 255


def test_grayscale_is_luma_as_pil_computes_it():
    from PIL import Image

    images, _ = colour_shapes(3, 2)
    ours = grayscale(images)
    assert ours.shape == (3, 1, 32, 32)
    for img, g in zip(images, ours):
        pil = np.asarray(Image.fromarray(img.transpose(1, 2, 0)).convert("L"))
        assert np.abs(pil.astype(int) - g[0]).max() <= 1


def test_it_loads_like_any_data_set():
    train = load_dataset("colour-shapes", "train")
    test = load_dataset("color-shapes", "test")  # the alias
    assert len(train) == 10_000 and len(test) == 2_000
    assert train.input_shape == (3, 32, 32) and train.classes == CLASSES
    assert test.mean == train.mean and len(train.mean) == 3
    assert np.bincount(test.labels.numpy()).tolist() == [200] * 10
    assert not np.array_equal(train.images[:5].numpy(), test.images[:5].numpy())
    gray = load_dataset("colour-shapes-gray", "test")
    assert gray.input_shape == (1, 32, 32)
    assert np.array_equal(gray.images.numpy(), grayscale(test.images.numpy()))
    assert np.array_equal(gray.labels.numpy(), test.labels.numpy())
    assert mirror_safe("colour-shapes")  # a mirrored shape keeps its class
    assert {"colour-shapes", "colour-shapes-gray"} <= set(list_datasets())


def test_a_misspelt_name_suggests_it():
    words = (
        r"^unknown data set 'colour-shape' \(did you mean 'colour-shapes'\?\); "
        r"known: .*colour-shapes, colour-shapes-gray"
    )
    with pytest.raises(DataError, match=words):
        load_dataset("colour-shape")


def test_show_batch_draws_colour_images(tmp_path):
    ds = cl.load_dataset("colour-shapes", "test", limit=50)
    pic = ds.show_batch(12, seed=3)
    path = tmp_path / "batch.png"
    pic.savefig(path)
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert rgb.shape[0] > 200 and rgb.shape[1] > 200
    # colour, not gray: many pixels whose channels differ
    assert ((rgb.max(2) - rgb.min(2)) > 60).mean() > 0.02


def test_generation_is_vectorised_and_fast():
    import time

    start = time.perf_counter()
    procedural.colour_shapes(2_000, 0)
    assert time.perf_counter() - start < 5  # about 0.05 s on an idle 2-core CPU
