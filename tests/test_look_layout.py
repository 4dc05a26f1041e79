"""Grids of panels whose titles used to run into the row above: the classic-kernel figure in
a 2x3 layout and the most-confident-mistakes grid over two rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens.engine.evaluate import Evaluation
from convlens.look.kernels import draw_kernels, sample_photo
from convlens.look.results import draw_mistakes

CLASSES = tuple(f"class {i}" for i in range(10))


def title_overlaps(fig) -> list[tuple[str, str]]:
    """(title, other panel's title) for every title that overlaps another panel's image."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    found = []
    for ax in panels:
        if not ax.get_title():
            continue
        box = ax.title.get_window_extent(renderer)
        for other in panels:
            if other is not ax and box.overlaps(other.get_window_extent(renderer)):
                found.append((ax.get_title(), other.get_title()))
    return found


def test_kernel_titles_in_a_2x3_layout_stay_clear_of_the_row_above():
    names = ["box_blur", "sharpen", "sobel_x", "sobel_y", "horizontal_edge"]
    fig = draw_kernels(sample_photo(), names)
    assert len([ax for ax in fig.axes if ax.images]) == 6  # original + 5, a 2x3 grid
    assert title_overlaps(fig) == []
    # the figure still holds every panel (constrained layout shrank none to nothing)
    assert all(ax.get_position().height > 0.2 for ax in fig.axes)


@pytest.mark.parametrize("n", [12, 18])
def test_mistake_titles_on_later_rows_stay_clear_of_the_images_above(n):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), 40).astype(np.float32)
    ev = Evaluation("toy", "test", CLASSES, probs, (probs.argmax(1) + 1) % 10, 1.0)
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    fig = draw_mistakes(ev, images, n=n)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == n and all(ax.get_title().startswith("said ") for ax in shown)
    assert title_overlaps(fig) == []


@pytest.mark.parametrize("n", [12, 18])
def test_prediction_titles_belong_to_their_own_image(n):
    from convlens.look.results import draw_test_predictions

    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10), 40).astype(np.float32)
    targets = probs.argmax(1).copy()
    targets[::3] = (targets[::3] + 1) % 10  # every third one wrong: two-line titles
    ev = Evaluation("toy", "test", CLASSES, probs, targets, 1.0)
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    fig, wrong = draw_test_predictions(ev, images, list(range(n)))
    assert len(wrong) == len(range(0, n, 3))
    assert title_overlaps(fig) == []
    # each title sits nearer its own image than the one above it
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in (a for a in fig.axes if a.axison):
        title, image = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert 0 <= title.y0 - image.y1 < 12  # pixels: right above its own image


def test_kernel_titles_stay_inside_the_figure():
    """A long description ("bright-above-dark boundaries (the notebooks' example)") in the
    first column ran off the figure's left edge: titles are wrapped to their panel."""
    names = ["box_blur", "gaussian_blur", "sharpen", "sobel_x", "sobel_y", "horizontal_edge"]
    fig = draw_kernels(sample_photo(), names + ["outline", "emboss"])  # lesson 01's 3x3 grid
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    for ax in (a for a in fig.axes if a.get_title()):
        box = ax.title.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= width, ax.get_title()
    assert title_overlaps(fig) == []


def test_edge_responses_keep_their_sign_on_a_diverging_scale():
    """An edge kernel's response is drawn signed, symmetric around 0, with a colour bar
    (|response| lost the sign the lesson stresses); a blur stays a gray image."""
    photo = np.zeros((40, 40), dtype=np.uint8)
    photo[:, 20:30] = 200  # a bright band: sobel_x is + on its left edge, - on its right
    fig = draw_kernels(photo, ["box_blur", "sobel_x"])
    original, blur, edge = [ax for ax in fig.axes if ax.images]
    assert blur.images[0].get_cmap().name == "gray"
    image = edge.images[0]
    low, high = image.get_clim()
    assert image.get_cmap().name == "RdBu_r" and low == -high and high > 0
    data = np.asarray(image.get_array())
    assert data[20, 20] == 800 and data[20, 29] == -800  # signed values, not magnitudes
    bars = [ax for ax in fig.axes if not ax.images and ax.collections]
    assert len(bars) == 1 and "response (red +, blue -)" in bars[0].get_ylabel()
    assert "red = positive response, blue = negative" in fig._suptitle.get_text()
    assert title_overlaps(fig) == []


def ink(frame) -> tuple[float, int]:
    """(share of the frame in rows or columns with nothing drawn, height in pixels of the
    first line of text)."""
    drawn = np.asarray(frame.convert("L")) < 245
    rows, cols = drawn.any(1), drawn.any(0)
    first = int(np.flatnonzero(rows)[0])
    end = first + int(np.argmin(rows[first:]))
    return 1 - rows.mean() * cols.mean(), end - first


@pytest.mark.parametrize("kind", ["conv", "pool", "transposed"])
def test_explain_frames_have_readable_text_and_little_empty_canvas(kind):
    """The conv and pool animations: text about 12 pt (was 9 pt at 80 dpi, ~11 px a line)
    and tables that fill the frame (about 40% of it was empty rows and columns)."""
    from convlens.look.explain import (
        conv_explain_frames,
        conv_transpose_explain_frames,
        pool_explain_frames,
    )

    x = np.arange(49, dtype=float).reshape(7, 7) % 10
    k = np.array([[2.0, 1, 1], [0, 0, -1], [-1, -1, -1]])
    frames = {
        "conv": lambda: conv_explain_frames(x, k, stride=2, padding=1),
        "pool": lambda: pool_explain_frames(x[:4, :4], 2),
        "transposed": lambda: conv_transpose_explain_frames(x[:2, :2], k[:2, :2], stride=2),
    }[kind]()
    for frame in (frames[0], frames[len(frames) // 2]):
        empty, line = ink(frame)
        assert empty < 0.25 and line >= 15, (empty, line)
        assert frame.size[0] >= 600
