"""Tests of `convlens eval` / `predict` on a tiny run trained on real-format MNIST files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.engine.evaluate import Evaluation
from convlens.engine.prepare import InputFormat, convert_image


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
    probs = np.array(
        [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.05, 0.9, 0.05]],
        dtype=np.float32,
    )
    ev = Evaluation(
        data="toy",
        split="test",
        classes=("a", "b", "c"),
        probs=probs,
        targets=np.array([0, 1, 1, 2, 0]),
        loss=0.5,
    )
    assert ev.accuracy == pytest.approx(3 / 5)
    assert ev.confusion.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    rows = {r["class"]: r for r in ev.per_class()}
    assert rows["a"]["precision"] == pytest.approx(0.5) and rows["a"]["recall"] == 0.5
    assert rows["c"]["precision"] == 1.0 and rows["c"]["support"] == 1
    assert ev.most_confused(2) == [("b", "a", 1), ("a", "b", 1)] or ev.most_confused(2) == [
        ("a", "b", 1),
        ("b", "a", 1),
    ]
    # most confidently wrong first: image 4 (p_true 0.05) before image 2 (p_true 0.3)
    assert ev.top_losses().tolist() == [4, 2]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_predict_inverts_a_drawing_and_says_so(cli, tiny_run, tmp_path):
    run, _ = tiny_run
    drawing = np.full((100, 100), 255, np.uint8)  # white paper
    drawing[60:90, 60:90] = 0  # a dark blob at the bottom right
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
    pixels, decided = convert_image(wide, InputFormat((1, 28, 28), (0.13,), (0.3,), "mnist"))
    px = pixels[0].numpy()
    assert pixels.shape == (1, 28, 28) and not decided.inverted
    assert decided.cropped and decided.resized_from == (14, 44)
    rows = np.flatnonzero(px.max(1) > 100)
    cols = np.flatnonzero(px.max(0) > 100)
    assert cols[0] == 4 and cols[-1] == 23  # MNIST's 4-pixel margin, 20 wide
    assert 4 <= rows[0] and rows[-1] <= 23 and abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1
    assert len(rows) == 5  # 10:40 keeps its aspect ratio at 5:20


def test_predict_index_shows_true_label(cli, tiny_run):
    run, _ = tiny_run
    result = cli("predict", run, "--index", "0", "1", "--top-k", "2")
    assert result.code == 0, result
    assert result.out.startswith("test[0] (true: ")


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "Expected at least one IMAGE or --index N"),
        (("--index", "999"), "Expected an index in 0..199 (mnist test). Received: 999"),
        (("--top-k", "0", "--index", "1"), "Expected --top-k >= 1"),
    ],
)
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

    rgb = ImageDataset(
        "rgb",
        torch.zeros(4, 3, 32, 32, dtype=torch.uint8),
        torch.zeros(4, dtype=torch.int64),
        tuple("abcdefghij"),
        (0.5,) * 3,
        (0.25,) * 3,
    )
    monkeypatch.setattr(datamod, "load_dataset", lambda *a, **k: rgb)
    result = cli("eval", tiny_run[0], "--data", "rgb")
    assert result.code == 2
    assert "expects 1x28x28 images; rgb images are 3x32x32" in result.err


@pytest.fixture(scope="module")
def tta_run(tiny_run, tmp_path_factory):
    """A tiny run tested with shifted views and channels-last (the default amp, auto)."""
    from convlens.cli import main

    from conftest import TINY_SPEC

    out = tmp_path_factory.mktemp("tta") / "run"
    assert (
        main(
            [
                "train",
                "--model",
                TINY_SPEC,
                "--data",
                "mnist",
                "--data-dir",
                str(tiny_run[1]),
                "--epochs",
                "2",
                "--batch-size",
                "50",
                "--lr",
                "0.01",
                "--augment",
                "none",
                "--tta",
                "shift",
                "--channels-last",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_eval_gives_the_accuracy_the_run_recorded(cli, tta_run):
    from convlens.engine.evaluate import evaluate_run

    metrics = json.loads((tta_run / "metrics.json").read_text())
    best = max(metrics, key=lambda m: m["test_accuracy"])  # the epoch of best.safetensors
    ev = evaluate_run(tta_run)
    assert (ev.accuracy, ev.loss) == (best["test_accuracy"], best["test_loss"])
    result = cli("eval", tta_run)
    assert result.code == 0
    assert "\ntest-time views: shift (the run's tta, as it tested)\n" in result.out
    saved = json.loads((tta_run / "eval.json").read_text())
    assert (saved["accuracy"], saved["loss"]) == (best["test_accuracy"], best["test_loss"])


def test_test_time_views_average_the_logits_of_mirrored_and_moved_images():
    """evaluate(tta=...) against views made independently: on the raw pixels, padding with
    black (0) and cutting back out, then normalised."""
    import torch.nn.functional as F

    from convlens.data import ImageDataset, normalize
    from convlens.engine.evaluate import evaluate, tta_images

    torch.manual_seed(0)
    raw = torch.randint(0, 256, (6, 2, 7, 5), dtype=torch.uint8)
    ds = ImageDataset("toy", raw, torch.arange(6) % 3, ("a", "b", "c"), (0.3, 0.6), (0.2, 0.4))
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    )
    model(torch.zeros(1, 2, 7, 5))

    def moved(x, dy, dx):  # down dy rows, right dx columns, black where uncovered
        p = F.pad(x, (1, 1, 1, 1))
        return p[:, :, 1 - dy : 1 - dy + 7, 1 - dx : 1 - dx + 5]

    x = raw.float()
    plain = [x, x.flip(3)]
    for tta, views in (
        (False, [x]),
        (True, plain),
        ("shift", [x] + [moved(x, dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]),
        (
            "flip,shift",
            plain
            + [moved(v, dy, dx) for v in plain for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))],
        ),
    ):
        with torch.no_grad():
            expected = sum(model(normalize(v, ds.mean, ds.std)) for v in views) / len(views)
        got = evaluate(model, ds, 4, tta=tta, keep_logits=True).logits
        torch.testing.assert_close(got, expected, msg=str(tta))
    shown = tta_images(normalize(x, ds.mean, ds.std), ("flip", "shift"), torch.tensor([-1.5, -1.5]))
    assert len(shown) == 10 and all(v.shape == x.shape for v in shown)
    assert (shown[2][:, :, -1] == -1.5).all()  # moved up: the bottom row is new
