"""The classic architectures in the registry (LeNet-5, AlexNet, VGG, ResNet-20) against
plain-PyTorch builds written here from the papers: same parameters, same mult-adds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.models.build import build
from convlens.models.registry import model_info
from convlens.models.summary import summary


def lenet5() -> nn.Module:
    """LeCun et al. 1998 on 1x28x28 (pad 2 = the paper's 32x32)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )  # fmt: skip


def alexnet_small() -> nn.Module:
    def conv(i: int, o: int, k: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, k, padding=k // 2), nn.ReLU()]

    def pool() -> nn.Module:
        return nn.MaxPool2d(3, stride=2, padding=1)  # overlapping, as AlexNet's

    return nn.Sequential(
        *conv(3, 32, 5), pool(), *conv(32, 64, 5), pool(),
        *conv(64, 96, 3), *conv(96, 96, 3), *conv(96, 64, 3), pool(), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip


def vgg_small() -> nn.Module:
    layers: list[nn.Module] = []
    channels = 3
    for width in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(
        *layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )  # fmt: skip


class BasicBlock(nn.Module):
    """He et al. 2016's two 3x3 conv-BN layers with a skip (1x1 projection on a change)."""

    def __init__(self, i: int, o: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
            nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o),
        )  # fmt: skip
        self.skip = nn.Identity()
        if stride != 1 or i != o:
            self.skip = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet20() -> nn.Module:
    blocks, channels = [], 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for b in range(3):
            blocks.append(BasicBlock(channels, width, stride if b == 0 else 1))
            channels = width
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


REFERENCES = [
    # name, input, reference, parameters (by hand in the registry's docstring)
    ("lenet5", (1, 28, 28), lenet5, 61_706),
    ("alexnet_small", (3, 32, 32), alexnet_small, 578_250),
    ("vgg_small", (3, 32, 32), vgg_small, 550_570),
    ("resnet20", (3, 32, 32), resnet20, 272_474),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, shape, reference, params", REFERENCES)
def test_classic_equals_its_reference_build(name, shape, reference, params):
    ours, ref = build(name, shape), reference()
    assert n_params(ours) == n_params(ref) == params
    mine, theirs = summary(ours, shape), summary(ref, shape)
    assert mine.total_params == params
    assert mine.total_mult_adds == theirs.total_mult_adds > 0
    assert ours(torch.randn(2, *shape)).shape == ref(torch.randn(2, *shape)).shape == (2, 10)
    assert model_info(name).default_input == shape


def receptive_fields(name: str, shape: tuple[int, int, int]) -> list[tuple[int, int] | None]:
    return [row.rf_size for row in summary(build(name, shape), shape).rows]


def test_receptive_fields_from_the_summary():
    # LeNet-5: 5, then 6 (pool, jump 2), 6 + 4*2 = 14, 16 (jump 4), 16 + 4*4 = 32: C5 sees
    # the whole 32x32 (28 + 2*2) input, as in the paper
    rf = receptive_fields("lenet5", (1, 28, 28))
    assert rf[:5] == [(5, 5), (6, 6), (14, 14), (16, 16), (32, 32)]
    # VGG: each 3x3 conv adds 2 * jump; two 3x3 see 5x5, as one 5x5 would, with fewer weights
    assert receptive_fields("vgg_small", (3, 32, 32))[:3] == [(3, 3), (5, 5), (6, 6)]
    # ResNet-20: stem 3, each block's two 3x3 convs add 4 * jump: 7, 11, 15 at jump 1
    assert receptive_fields("resnet20", (3, 32, 32))[1:4] == [(7, 7), (11, 11), (15, 15)]


def test_classic_sources_name_the_papers():
    assert "LeCun" in model_info("lenet5").source and "1998" in model_info("lenet5").source
    assert "Krizhevsky" in model_info("alexnet_small").source
    assert "Simonyan" in model_info("vgg_small").source
    assert "He et al. 2016" in model_info("resnet20").source
