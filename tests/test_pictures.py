"""Tests of the weight and feature-map pictures the lessons show: filter banks as grids, every
feature map of a layer, an MLP's two layers as images, filter evolution with its change per
epoch, and data set images of the training split."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import convlens as cl
from convlens.errors import ConfigError
from convlens.io import save_figure
from convlens.look.inspector import Inspector
from convlens.look.kinds import Ask, draw
from convlens.look.weights import draw_filters, draw_mlp_weights, filter_changes
from convlens.models.build import build

from conftest import one_line_error


def image_axes(fig: Figure) -> list:
    """Axes (of the figure and its subfigures) that show an image, in drawing order."""
    return [ax for ax in fig.get_axes() if ax.images]


def texts(fig: Figure) -> str:
    figs = [fig, *fig.subfigs, *(s for f in fig.subfigs for s in f.subfigs)]
    out = [t.get_text() for f in figs for t in f.texts]
    out += [ax.get_title() for ax in fig.get_axes()] + [ax.get_xlabel() for ax in fig.get_axes()]
    return "\n".join(out)


def grid_of(axes: list) -> tuple[int, int]:
    """(rows, cols) the axes sit in, by their distinct positions."""
    boxes = [ax.get_position() for ax in axes]
    return len({round(b.y0, 3) for b in boxes}), len({round(b.x0, 3) for b in boxes})


def readable(fig: Figure, path) -> None:
    """The figure saves as a non-blank PNG and its titles sit inside it, clear of the panels."""
    if not hasattr(fig.canvas, "get_renderer"):  # a Picture's figure, closed in pyplot
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    figs = [fig, *fig.subfigs, *(s for f in fig.subfigs for s in f.subfigs)]
    titles = [t for f in figs for t in f.texts if t.get_text()]
    assert titles, "no title"
    panels = [ax.get_window_extent(renderer) for ax in fig.get_axes()]
    panels += [ax.title.get_window_extent(renderer) for ax in fig.get_axes() if ax.get_title()]
    for t in titles:
        box = t.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, t.get_text()
        assert not any(box.overlaps(p) for p in panels), f"title over a panel: {t.get_text()!r}"
    save_figure(fig, path)
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    assert a.shape[1] >= 300 and a.std() > 5


# ----------------------------------------------------------------------------- filters
def test_a_one_channel_filter_bank_is_a_near_square_grid(tmp_path):
    model = build("conv5x5", (1, 28, 28))
    fig = draw_filters(model)
    shown = image_axes(fig)
    assert len(shown) == 32 and grid_of(shown) == (6, 6)  # not one column of 32
    assert "conv1: 32 filters, 5x5" in texts(fig)
    first = model.conv1[0].weight[0, 0].detach().numpy()
    assert np.allclose(shown[0].images[0].get_array(), first)
    readable(fig, tmp_path / "bank.png")


def test_a_big_filter_bank_is_capped_and_says_so(tmp_path):
    fig = draw_filters(build("conv 100 5, flatten, dense 2", (1, 12, 12)))
    assert len(image_axes(fig)) == 64 and grid_of(image_axes(fig)) == (8, 8)
    assert "first 64 of 100 filters" in texts(fig)
    readable(fig, tmp_path / "capped.png")


def test_3x3_filters_stay_beside_their_classic_kernels_up_to_a_cap(tmp_path):
    fig = draw_filters(build("conv 40 3, flatten, dense 2", (1, 8, 8)))
    assert len(image_axes(fig)) == 2 * 32  # each filter and its closest kernel
    words = texts(fig)
    assert "first 32 of 40 filters (left) beside the most similar classic" in words
    assert "filter 31" in words and "filter 32" not in words
    readable(fig, tmp_path / "pairs.png")


def test_the_second_layer_draws_rows_of_input_channel_slices(tmp_path):
    fig = draw_filters(build("conv5x5", (1, 28, 28)), "conv2")
    assert grid_of(image_axes(fig)) == (16, 8) and len(image_axes(fig)) == 16 * 8
    words = texts(fig)
    assert "first 16 of 64 filters (rows)" in words and "first 8 of 32 input-channel" in words
    readable(fig, tmp_path / "conv2.png")


def test_show_filters_of_the_second_layer_from_the_cli(cli, tiny_run, tmp_path):
    out = tmp_path / "f.png"
    assert cli("show", "filters", tiny_run[0], "--layer", "conv2", "--out", out).code == 0
    assert Image.open(out).size[0] >= 300


# ----------------------------------------------------------------------------- feature maps
@pytest.mark.parametrize(
    ("maps", "layer", "count"),
    [("all", None, 1 + 8 + 8 + 16 + 16), ("3", None, 1 + 4 * 3), (None, "conv2", 1 + 16)],
)
def test_every_feature_map_of_a_layer_in_a_grid(tiny_run, tmp_path, maps, layer, count):
    look = Inspector.open(tiny_run[0])
    fig = draw(look, "features", Ask(maps=maps, layer=layer, index=2)).figure
    assert len(image_axes(fig)) == count  # the input and every map asked for
    words = texts(fig)
    assert "Feature maps for test[2]" in words
    if maps == "all":
        assert "conv2: 16 maps, 14x14 each" in words and "maxpool2: 16 maps, 7x7" in words
        assert grid_of(image_axes(fig)[-16:]) == (1, 16)
    if maps == "3":
        assert "conv2: first 3 of 16 maps" in words
    readable(fig, tmp_path / "maps.png")


def test_show_features_maps_all_and_its_errors(cli, tiny_run, tmp_path):
    out = tmp_path / "all.png"
    r = cli("show", "features", tiny_run[0], "--maps", "all", "--out", out)
    assert r.code == 0 and f"wrote {out}" in r.out
    default = tmp_path / "eight.png"
    assert cli("show", "features", tiny_run[0], "--out", default).code == 0
    assert Image.open(out).size != Image.open(default).size  # a grid, not the row of eight
    for bad in ("0", "some"):
        one_line_error(
            cli("show", "features", tiny_run[0], "--maps", bad),
            "Expected --maps all or a number >= 1",
            repr(bad),
        )


def test_features_of_a_training_image(cli, tiny_run, tmp_path):
    out = tmp_path / "train.png"
    r = cli("show", "features", tiny_run[0], "--index", "5", "--split", "train", "--out", out)
    assert r.code == 0, r
    one_line_error(
        cli("show", "features", tiny_run[0], "--index", "400", "--split", "train"),
        "Expected an index in 0..399 (mnist train). Received: 400",
    )
    run = cl.load(tiny_run[0])
    picture = run.show("features", index=5, split="train", maps=2)
    assert "Feature maps for train[5] (true:" in texts(picture.figure)
    test_pixels = run._look.one_image(index=5)[1]
    train_pixels = run._look.one_image(index=5, split="train")[1]
    assert not torch.equal(test_pixels, train_pixels)
    with pytest.raises(ConfigError, match="Expected --split test or train. Received: 'val'"):
        run.show("features", split="val")
    with pytest.raises(ConfigError, match="Expected --maps all or a number >= 1"):
        run.show("features", maps=0)


# ----------------------------------------------------------------------------- MLP
def test_an_mlps_second_layer_is_drawn_through_the_first(tmp_path):
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 40), nn.ReLU(), nn.Linear(40, 6), nn.ReLU(), nn.Linear(6, 4)
    )
    fig = draw_mlp_weights(mlp, (1, 28, 28), n=32)
    shown = image_axes(fig)
    assert len(shown) == 32 + 6
    words = texts(fig)
    assert "layer 1: each hidden unit's weights as an image: first 32 of 40 units" in words
    assert "layer 2: each unit through layer 1 (rows of W2 @ W1" in words
    through = (mlp[3].weight @ mlp[1].weight).detach().numpy().reshape(6, 28, 28)
    assert np.allclose(shown[32 + 5].images[0].get_array(), through[5], atol=1e-6)
    assert np.allclose(
        shown[0].images[0].get_array(), mlp[1].weight[0].detach().numpy().reshape(28, 28)
    )
    readable(fig, tmp_path / "mlp.png")
    cnn = build("conv5x5", (1, 28, 28))
    fig = draw_mlp_weights(mlp, (1, 28, 28), cnn=cnn)
    assert len(image_axes(fig)) == 32 + 6 + 32 and "CNN conv1: 32 filters" in texts(fig)
    readable(fig, tmp_path / "mlp_cnn.png")


# ----------------------------------------------------------------------------- evolution
def test_filter_changes_are_relative_to_the_epoch_before():
    w0 = torch.ones(3, 1, 2, 2)
    w1 = w0.clone()
    w1[1] *= 1.5
    changes = filter_changes({0: w0, 1: w1, 2: w1.clone()})
    assert list(changes) == [1, 2]
    assert np.allclose(changes[1], [0.0, 0.5, 0.0]) and np.allclose(changes[2], 0.0)


def test_the_evolution_strip_numbers_each_filters_change(tiny_run, tmp_path):
    from convlens.engine.history import read_history
    from convlens.look.weights import draw_evolution_strip

    look = Inspector.open(tiny_run[0])
    fig = draw_evolution_strip(look.run)
    changes = filter_changes(dict(sorted(read_history(tiny_run[0])["conv1"].items())))
    labels = [ax.get_xlabel() for ax in image_axes(fig) if ax.get_xlabel()]
    assert len(labels) == 3 * 8 and all(re.fullmatch(r"\d+(\.\d)?%", x) for x in labels)
    expected = f"{changes[3][7]:.1%}" if changes[3][7] < 0.1 else f"{changes[3][7]:.0%}"
    assert labels[-1] == expected
    (line,) = [ax for ax in fig.get_axes() if ax.lines][0].lines
    assert np.allclose(line.get_ydata(), [changes[e].mean() for e in (1, 2, 3)])
    assert "mean relative change" in texts(fig)
    readable(fig, tmp_path / "strip.png")
    plt.close("all")


def test_evolution_plays_inline_as_a_gif(tiny_run):
    picture = cl.load(tiny_run[0]).show("evolution")
    page = picture._repr_html_()
    assert page is not None
    found = re.search(r'src="data:image/gif;base64,([^"]+)"', page)
    assert found, page[:80]
    gif = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
    assert gif.format == "GIF" and gif.n_frames == 4
    assert picture._repr_png_().startswith(b"\x89PNG")  # the strip, for a still page


# ----------------------------------------------------------------------------- experiments
def test_a_sweep_picture_keeps_long_names_and_its_title_inside(tmp_path):
    """Specs as row names wrap instead of running off the page; best on top; the axis is
    zoomed to the accuracies, so they are dots with a spread, not bars from a cut axis."""
    from convlens.look.experiments import draw_sweep

    long = "conv 32 5, maxpool 2, conv 64 5, maxpool 2, flatten, dense 100, dense 10"
    rows = [
        {"run": "mlp", "accuracy": 0.788, "spread": 0.003, "seeds": 2},
        {"run": long, "accuracy": 0.778, "spread": 0.013, "seeds": 2},
        {"run": "keras_mnist", "accuracy": 0.749, "spread": 0.0025, "seeds": 2},
    ]
    fig = draw_sweep(rows, title="Comparison, best first")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    ax = fig.axes[0]
    for t in [*ax.get_yticklabels(), ax.title]:
        box = t.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, t.get_text()
    top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    names = [t.get_text() for t in top_down]
    assert names[0] == "mlp" and "\n" in names[1]  # best on top; the spec wrapped
    assert not ax.patches  # no bars
    assert ax.get_title() == "Comparison, best first (bars: spread over seeds)"
    one = draw_sweep([{**r, "spread": 0.0, "seeds": 1} for r in rows])
    assert one.axes[0].get_title() == "Sweep, best first (one seed each)"
    lo, hi = ax.get_xlim()
    assert 70 < lo < 74.6 and 79.1 < hi < 85
    save_figure(fig, tmp_path / "sweep.png")
    a = np.asarray(Image.open(tmp_path / "sweep.png").convert("RGB"), dtype=np.float64)
    assert a.std() > 5


@pytest.mark.parametrize(("filters", "channels"), [(2, 32), (32, 1)])
def test_an_evolution_frame_is_big_shows_every_filter_and_keeps_its_title(
    monkeypatch, filters, channels
):
    """Two filters (notebook 003's second layer) still make a readable frame whose title is
    not clipped; a 32-filter first layer shows all 32 and says so."""
    from types import SimpleNamespace

    from convlens.engine import history
    from convlens.look.weights import evolution_frame, evolution_frames

    base = torch.linspace(-1, 1, filters * channels * 25).reshape(filters, channels, 5, 5)
    hist = {"conv2": {e: base * (1.1**e) for e in range(4)}}
    monkeypatch.setattr(history, "read_history", lambda path: hist)
    frames = evolution_frames(SimpleNamespace(path="run"))
    assert len(frames) == 4 and frames[0].size[0] >= 500 and frames[0].size[1] >= 300
    change = filter_changes(hist["conv2"])[3]
    fig = evolution_frame("conv2", 3, hist["conv2"][3], lim=1.5, change=change, n=64)
    assert len(image_axes(fig)) == filters
    shown = "all 2 filters (input channel 0 of 32 drawn)" if filters == 2 else "all 32 filters"
    assert f"conv2: {shown}\nepoch 3, mean change 10.0%" in texts(fig)
    fig.canvas.draw()
    page, renderer = fig.bbox, fig.canvas.get_renderer()
    for t in fig.texts:  # the title, inside the frame on every side
        box = t.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, t.get_text()
    plt.close("all")


def test_classic_kernels_have_their_own_symmetric_scale_and_a_stated_threshold():
    """A filter that is a scaled Sobel is named, its kernel drawn on the kernel's own scale
    (not the weights'); a filter like no classic kernel is not said to resemble one."""
    from convlens.look.weights import RESEMBLES, closest_kernel
    from convlens.models.hooks import conv_layers, conv_module
    from convlens.primer.kernels import KERNELS

    model = build("conv 2 3, flatten, dense 2", (1, 8, 8))
    odd = np.array([[0.0, 0, 0], [0, 0, 0], [0, 0, 1]])  # one corner: like no classic kernel
    assert abs(closest_kernel(odd)[1]) < RESEMBLES
    with torch.no_grad():
        conv = conv_module(model, conv_layers(model)[0])
        conv.weight[0, 0] = torch.tensor(KERNELS["sobel_x"].weights) * 0.05
        conv.weight[1, 0] = torch.tensor(odd) * 0.05
    fig = draw_filters(model)
    learned, kernel, _, other = image_axes(fig)
    assert learned.images[0].get_clim() == pytest.approx((-0.1, 0.1), abs=1e-6)
    assert kernel.images[0].get_clim() == (-2.0, 2.0)  # sobel's own range, symmetric
    low, high = other.images[0].get_clim()
    assert low == -high and high >= 0.5
    assert kernel.get_title() == "sobel_x\nsim 1.00"
    assert re.fullmatch(r"no match\n\(-?\w+ 0\.\d\d\)", other.get_title())
    assert f"named when it resembles the filter: sim >= {RESEMBLES}" in texts(fig)
    plt.close("all")


def test_a_near_miss_is_not_shown_at_the_threshold(monkeypatch):
    """A filter at 0.7996 is "no match" (below 0.8); its title read "0.80", the threshold
    itself: a miss is rounded down."""
    from convlens.look import weights

    monkeypatch.setattr(weights, "closest_kernel", lambda w: ("sobel_x", 0.7996))
    fig = weights.draw_filters(build("conv 2 3, flatten, dense 2", (1, 8, 8)))
    assert "no match\n(sobel_x 0.79)" in [ax.get_title() for ax in fig.axes]
    plt.close("all")


@pytest.mark.parametrize("every", [False, True])
def test_feature_maps_share_one_scale_per_layer_and_mark_dead_maps(every):
    """A ReLU map that is all zero is marked dead and drawn dark on its layer's scale (it
    used to be stretched to its own range and look like content); each layer has a colour
    bar."""
    from convlens.look.activations import dead_maps, draw_feature_maps, draw_layer_maps
    from convlens.models.hooks import conv_layers, conv_module

    torch.manual_seed(0)
    model = build("conv 4 3, maxpool 2, flatten, dense 2", (1, 8, 8)).eval()
    with torch.no_grad():
        conv = conv_module(model, conv_layers(model)[0])
        conv.bias.fill_(1.0)  # the others fire somewhere
        conv.weight[1] = 0.0
        conv.bias[1] = -1.0  # channel 1 never fires
    x = torch.rand(1, 1, 8, 8)
    pixels = (x[0] * 255).to(torch.uint8)
    draw_maps = draw_layer_maps if every else draw_feature_maps
    fig = draw_maps(model, x, pixels, title="Feature maps")
    maps = [ax for ax in image_axes(fig)][1:]  # the input first
    conv_maps, pool_maps = maps[:4], maps[4:]
    assert len(pool_maps) == 4
    for layer in (conv_maps, pool_maps):
        assert len({ax.images[0].get_clim() for ax in layer}) == 1  # one scale per layer
        assert layer[0].images[0].get_clim()[0] == 0.0
    for layer in (conv_maps, pool_maps):
        marked = [i for i, ax in enumerate(layer) if "dead" in [t.get_text() for t in ax.texts]]
        assert marked == [1]
    assert len([ax for ax in fig.get_axes() if not ax.images and ax.collections]) >= 2  # bars
    assert "dead = all zero for this image" in texts(fig)
    assert "one scale per layer" in texts(fig)
    assert dead_maps(torch.zeros(3, 2, 2)) == [0, 1, 2]
    if every:
        assert "conv1: 4 maps, 6x6 each, 1 dead" in texts(fig)
    plt.close("all")


def test_every_map_grid_spans_the_figure_width():
    """`draw_layer_maps`' grid used matplotlib's default margins beside its colour bar and
    left about a third of the figure empty: it now spans most of the width."""
    from convlens.look.activations import draw_layer_maps

    torch.manual_seed(0)
    model = build("conv 32 3, flatten, dense 2", (1, 12, 12)).eval()
    x = torch.rand(1, 1, 12, 12)
    fig = draw_layer_maps(model, x, (x[0] * 255).to(torch.uint8), layer="conv1")
    fig.canvas.draw()
    maps = image_axes(fig)[1:]
    assert len(maps) == 32
    left = min(ax.get_window_extent().x0 for ax in maps)
    right = max(ax.get_window_extent().x1 for ax in maps)
    assert (right - left) / fig.bbox.width > 0.8
    plt.close("all")
