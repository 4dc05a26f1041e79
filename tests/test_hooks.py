"""Forward hooks (`convlens.models.hooks`): activation capture on models that are not
SpecModels (plain nn.Module stacks)."""

from __future__ import annotations

import torch
from torch import nn

from convlens.look.activations import draw_feature_maps
from convlens.models.hooks import capture_activations, conv_layers, conv_module, spatial_layers


class Stack(nn.Module):
    """torchvision style: one `features` Sequential holding convs, in-place ReLUs and a pool."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3),
            nn.ReLU(inplace=True),
        )
        self.block = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8 * 3 * 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.features(x)).flatten(1))


def test_a_features_stack_is_not_taken_for_its_first_conv():
    model = Stack().eval()
    assert conv_layers(model) == ["features.0", "features.3", "block"]
    assert spatial_layers(model) == ["features.0", "features.2", "features.3", "block"]
    assert conv_module(model, "block") is model.block[0]
    acts = capture_activations(model, torch.randn(1, 1, 12, 12))
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "features.0": (1, 4, 10, 10),
        "features.2": (1, 4, 5, 5),
        "features.3": (1, 8, 3, 3),
        "block": (1, 8, 3, 3),
    }
    assert (acts["features.0"] < 0).any()  # kept before the in-place ReLU ran
    assert (acts["block"] >= 0).all()  # a conv+bn+relu block: after its activation
    assert all(not m._forward_hooks for m in model.modules())


def test_feature_maps_of_a_plain_module_are_drawn():
    model = Stack().eval()
    pixels = torch.randint(0, 256, (1, 12, 12), dtype=torch.uint8)
    fig = draw_feature_maps(model, pixels[None].float() / 255, pixels)
    fig.canvas.draw()
    image = torch.tensor(bytearray(fig.canvas.buffer_rgba()), dtype=torch.float32)
    assert image.std() > 0
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "features.0\n4x10x10" in text and "block\n8x3x3" in text
