"""What a unit wants to see (feature visualisation), where it looks (receptive field on the
image), how maps follow a shift (equivariance), and colour filters drawn in colour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.errors import ConfigError
from convlens.io import figure_image
from convlens.look import neurons
from convlens.look.activations import draw_feature_maps
from convlens.look.kinds import parse_channels
from convlens.look.neuron_pictures import (
    draw_equivariance,
    draw_feature_vis,
    draw_receptive_field,
)
from convlens.look.weights import draw_filters
from convlens.models.build import build
from convlens.models.summary import summary

SHAPE = (3, 16, 16)


def colour_net(spec: str = "conv 8 3 pad=same, maxpool 2, conv 16 3 pad=same, gap, dense 10"):
    torch.manual_seed(0)
    return build(spec, SHAPE)


def colourful(fig) -> float:
    """Share of the picture's pixels whose R, G, B differ clearly (0 for a gray picture)."""
    rgb = np.asarray(figure_image(fig, dpi=60).convert("RGB")).astype(int)
    return float(((rgb.max(2) - rgb.min(2)) > 60).mean())


def test_feature_vis_raises_the_chosen_channels_activation_many_times():
    model = colour_net()
    with torch.no_grad():  # no biases: the faint starting noise (about mid-gray) excites little
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    fv = neurons.feature_vis(model, SHAPE, "conv2", [0, 1, 2, 3, 4, 5], steps=48, seed=1)
    assert fv.pixels.shape == (6, 3, 16, 16) and 0 <= fv.pixels.min() <= fv.pixels.max() <= 1
    assert (fv.start > 0).all() and (fv.final > 10 * fv.start).all(), (fv.start, fv.final)
    assert all(p.requires_grad for p in model.parameters()) and model.training
    assert all(p.grad is None for p in model.parameters())


def test_feature_vis_names_bad_channels_and_layers():
    model = colour_net()
    with pytest.raises(ConfigError, match=r"^layer 'conv2' has 16 channels \(0\.\.15\)\. "):
        neurons.feature_vis(model, SHAPE, "conv2", [3, 99], steps=1)
    with pytest.raises(Exception, match=r"no layer 'conv9'"):
        neurons.feature_vis(model, SHAPE, "conv9", [0], steps=1)
    assert parse_channels("0,3-5") == [0, 3, 4, 5] and parse_channels(None) == list(range(8))
    assert parse_channels([2, 7]) == [2, 7]
    with pytest.raises(ConfigError, match=r"Expected --channels like 0,3,5 or 0-7 .*'a-b'"):
        parse_channels("a-b")


def test_feature_vis_takes_the_first_eight_channels_or_all_of_fewer():
    assert neurons.feature_vis(colour_net(), SHAPE, "conv2", steps=1).channels == tuple(range(8))
    few = build("conv 3 3, gap, dense 2", SHAPE)
    assert neurons.feature_vis(few, SHAPE, steps=1).channels == (0, 1, 2)


def test_feature_vis_draws_one_colour_image_per_channel():
    fv = neurons.feature_vis(colour_net(), SHAPE, "conv1", [0, 1, 2], steps=8)
    fig = draw_feature_vis(fv)
    assert len([ax for ax in fig.axes if ax.images]) == 3
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    assert "channel 0" in fig.axes[0].get_title()


@pytest.mark.parametrize(
    "spec, layer, unit",
    [
        ("conv 8 3 pad=same, conv 8 5 pad=same, conv 8 3 stride=2, gap, dense 3", "conv3", (4, 3)),
        ("conv 8 3, maxpool 2, conv 8 3, gap, dense 3", "conv2", (2, 3)),
        ("conv 8 3 pad=same bn=1, res 8 stride=2, gap, dense 3", "res1", (3, 4)),
    ],
)
def test_the_receptive_field_box_is_the_summarys_numbers(spec, layer, unit):
    torch.manual_seed(0)
    model = build(spec, SHAPE)
    row = next(r for r in summary(model, SHAPE).rows if r.name == layer)
    box = neurons.receptive_box(model, SHAPE, layer, unit)
    assert (box.bottom - box.top + 1, box.right - box.left + 1) == row.rf_size == box.size
    assert box.jump == row.rf_jump
    x = torch.randn(1, *SHAPE)
    out = {}
    for c in range(8):  # a channel whose unit is on, so that its gradient is not zero
        grad = neurons.unit_gradient(model, x, layer, unit, channel=c)
        found = neurons.gradient_box(grad)
        if found is not None:
            out[c] = found
    assert out
    inside = box.clipped(16, 16)
    for top, left, bottom, right in out.values():  # the gradient never leaves the box
        assert inside.top <= top and bottom <= inside.bottom
        assert inside.left <= left and right <= inside.right
    if "maxpool" not in spec and "res" not in spec:  # plain convs: the box exactly
        assert (inside.top, inside.left, inside.bottom, inside.right) in out.values()


def test_receptive_box_numbers_by_hand():
    # 3x3 same, 5x5 same, 3x3 valid stride 2: size 3 + 4 + 2 = 9, jump 2; unit (4, 3) is
    # centred on input pixel (1 + 2*4, 1 + 2*3) = (9, 7): rows 5..13, columns 3..11
    model = build("conv 4 3 pad=same, conv 4 5 pad=same, conv 4 3 stride=2, gap, dense 3", SHAPE)
    box = neurons.receptive_box(model, SHAPE, "conv3", (4, 3))
    assert (box.top, box.left, box.bottom, box.right) == (5, 3, 13, 11)
    with pytest.raises(ConfigError, match=r"layer 'conv3' has a 7x7 map; .*Received: \(7, 0\)"):
        neurons.receptive_box(model, SHAPE, "conv3", (7, 0))


def test_maps_move_with_the_input_and_the_output_much_less():
    torch.manual_seed(0)
    model = build("conv 8 3, maxpool 2, conv 8 3, gap, dense 4", (3, 24, 24))
    x = torch.rand(1, 3, 24, 24)
    r = neurons.shift_response(model, x, 4)
    assert r.layers == ("conv1", "maxpool1", "conv2", "gap1.0")
    # valid convs and 2x2 pools: shifted back by shift/jump cells the maps are the same
    assert np.allclose(r.after_shift_back[:3], 0, atol=1e-6)
    assert (r.moved[:3] > 0.2).all()
    assert r.output_change < 0.1
    with pytest.raises(ConfigError, match=r"Expected a shift of 1\.\.23 pixels\. Received: 0"):
        neurons.shift_response(model, x, 0)


def test_pictures_of_receptive_field_and_equivariance():
    model = colour_net()
    pixels = (torch.rand(*SHAPE) * 255).to(torch.uint8)
    x = pixels[None].float() / 255
    fig = draw_receptive_field(model, x, pixels, "conv2")
    words = "receptive field 8x8, jump 2: yellow box rows 5-12, columns 5-12"
    assert words in fig._suptitle.get_text()
    assert fig.axes[0].patches  # the box is drawn
    fig = draw_equivariance(model, x, pixels, 4)
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    assert "class probabilities" in fig.axes[4].get_title()


def test_colour_filters_draw_as_an_rgb_picture():
    model = colour_net("conv 12 5 pad=same, gap, dense 3")
    fig = draw_filters(model)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 12 and all(a.shape == (5, 5, 3) for a in images)
    assert "colour filters as RGB patches" in fig._suptitle.get_text()
    assert colourful(fig) > 0.02
    gray = build("conv 12 5 pad=same, gap, dense 3", (1, 16, 16))
    assert colourful(draw_filters(gray)) < colourful(fig)


def test_feature_maps_of_a_colour_model():
    model = colour_net()
    pixels = (torch.rand(*SHAPE) * 255).to(torch.uint8)
    fig = draw_feature_maps(model, pixels[None].float() / 255, pixels, title="colour")
    img = figure_image(fig, dpi=60)
    assert isinstance(img, Image.Image) and img.size[0] > 200
    assert any(ax.images and ax.images[0].get_array().shape == (16, 16, 3) for ax in fig.axes)
