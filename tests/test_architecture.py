"""Tests of the architecture picture: files exist, have the right size, show something."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from torch import nn

from convlens.errors import ConfigError
from convlens.look.architecture import DPI, check_out_path, draw_architecture, draw_summary
from convlens.models.build import build
from convlens.models.registry import list_models
from convlens.models.summary import summary


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 11 * 11, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def test_png_has_figure_size_and_is_not_blank(tmp_path):
    out = tmp_path / "arch.png"
    fig = draw_architecture(small_cnn(), (1, 28, 28), out=out)
    assert out.is_file()
    image = Image.open(out)
    w, h = fig.get_size_inches() * DPI
    assert image.size == (round(w), round(h)) and 500 < w < 2000 and 300 < h < 1200
    pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 20  # not a blank canvas
    assert (pixels < 200).mean() > 0.03  # boxes cover a visible part of the picture
    # one box per drawn layer: the BatchNorm and ReLUs keep the shape and are folded in
    assert len(fig.axes[0].patches) == 3 * 7


def test_svg_parses_and_pdf_is_written(tmp_path):
    svg, pdf = tmp_path / "arch.svg", tmp_path / "sub" / "arch.pdf"
    draw_architecture(small_cnn(), (1, 28, 28), out=svg)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert len([e for e in root.iter() if e.tag.endswith("path")]) >= 20
    draw_architecture(small_cnn(), (1, 28, 28), out=pdf)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_extreme_shapes_stay_within_clamps():
    model = nn.Sequential(
        nn.Conv2d(3, 1024, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 4096)
    )
    fig = draw_summary(summary(model, (3, 224, 224)))
    w, h = fig.get_size_inches()
    assert 4 < w < 20 and 2 < h < 8


@pytest.mark.parametrize("name", ["arch.jpg", "arch", "arch.png.txt"])
def test_unknown_suffix(name, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"Expected an output file ending in \.png, \.svg, "
        r"\.pdf\. Received: out=",
    ):
        draw_architecture(small_cnn(), (1, 28, 28), out=tmp_path / name)
    assert check_out_path("a/b.SVG").suffix == ".SVG"


def test_every_registry_model_draws(tmp_path):
    for info in list_models():
        shape = info.default_input
        model = build(info.name, shape, num_classes=10)
        out = tmp_path / f"{info.name}.png"
        draw_architecture(model, shape, out=out)
        assert np.asarray(Image.open(out).convert("L")).std() > 20
