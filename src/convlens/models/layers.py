"""PyTorch building blocks of spec-built models: `SpecModel`, `ResBlock`, one module per layer.

`convlens.models.spec` parses and validates a spec without torch; this module turns validated
`LayerSpec`s into modules. What each spec layer becomes (the direct children of a SpecModel):

| spec                 | child module                                           |
|----------------------|--------------------------------------------------------|
| `conv C K ...`       | Sequential(Conv2d[, BatchNorm2d][, activation])        |
| `dense N ...`        | Sequential(Linear[, activation])                       |
| `res C [stride=S]`   | ResBlock                                               |
| `maxpool`/`avgpool`  | MaxPool2d / AvgPool2d                                  |
| `gap`                | Sequential(AdaptiveAvgPool2d(1), Flatten())            |
| `bn`                 | BatchNorm2d on feature maps, BatchNorm1d on vectors    |
| `dropout P`          | Dropout(P)                                             |
| `flatten`            | Flatten()                                              |
| `relu`, `act gelu`.. | the activation module                                  |

So `model.conv1[0]` is always the first Conv2d and `model.dense2[0]` the second Linear.

`SpecModel.relu_after_pool` (off unless set; `convlens.engine` sets it from
`TrainConfig.relu_after_pool`) runs a block ending in ReLU that a max-pool follows as
block-without-ReLU, max-pool, ReLU: the same function (both are monotone) with ReLU on a
quarter of the values. The children and their names stay as they are; while a hook watches
one of the modules involved, the model runs in the plain order, so hooks see what they expect.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from convlens.models.spec import LayerSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module for `name`. ReLU works in place: one pytorch_net training step
    took 22 ms instead of 25 ms on 2 CPU cores; convlens's hooks clone what they keep, so
    feature maps are captured before an in-place ReLU changes them."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    return ACTIVATIONS[name]()


class ResBlock(nn.Module):
    """Basic residual block: two 3x3 conv-BN, a skip, ReLU after the add.

    The skip is the identity, or a 1x1 conv + BN projection when the channels or the stride
    change. Output: (B, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu2 = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))  # (B, out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class SpecModel(nn.Sequential):
    """An nn.Sequential built from a layer spec: one direct child per spec layer.

    Children are named `{kind}{n}`, counting per kind from 1 (`conv1`, `maxpool1`, `conv2`,
    `flatten1`, `dense1`, ...); `layers[i]` is the LayerSpec of the i-th child (implicit
    flattens included, flagged `implicit=True`) and `shapes[i]` its output shape.

    Attributes:
        spec_text: canonical spec text;
            `convlens.models.build.build(model.spec_text, model.input_shape)` rebuilds it.
        layers: the resolved LayerSpec list, one per child.
        input_shape: input shape without batch, e.g. (1, 28, 28).
        shapes: output shape of each child, without batch.
        output_shape: shape of the model output without batch, e.g. (10,).
    """

    def __init__(
        self,
        modules: OrderedDict[str, nn.Module],
        *,
        layers: Sequence[LayerSpec],
        input_shape: tuple[int, ...],
        shapes: Sequence[tuple[int, ...]],
        spec_text: str,
    ) -> None:
        super().__init__(modules)
        self.spec_text = spec_text
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.shapes = [tuple(s) for s in shapes]
        self.output_shape = self.shapes[-1] if self.shapes else self.input_shape
        self.relu_after_pool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The children in turn; with `relu_after_pool`, ReLU after the max-pool it precedes."""
        if not self.relu_after_pool or _global_hooks():
            return super().forward(x)
        children = list(self._modules.values())
        i = 0
        while i < len(children):
            block = children[i]
            pool = children[i + 1] if i + 1 < len(children) else None
            if pool is not None and _relu_then_pool(block, pool):
                parts = list(block.children())  # Conv2d[, BatchNorm2d], ReLU
                for part in parts[:-1]:
                    x = part(x)  # (B, C, H, W)
                x = parts[-1](pool(x))  # (B, C, H/2, W/2): ReLU on 4x fewer values
                i += 2
            else:
                x = block(x)
                i += 1
        return x

    def __getitem__(self, idx: int | slice | str) -> nn.Module:  # type: ignore[override]
        """`model[i]` is the i-th child; `model[:3]` a plain nn.Sequential of those children."""
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        if isinstance(idx, str):
            return self._modules[idx]
        return super().__getitem__(idx)


class EvenSameConv2d(nn.Conv2d):
    """A Conv2d with padding="same" for an even kernel (2x2, 4x4): the padding cannot be
    split evenly, so one more row and column go at the bottom and right, as torch does, but
    padded here explicitly: torch's own even 'same' prints a raw UserWarning about a padded
    copy. Same output, same weights, and `padding` still reads "same"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows, cols = (d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
        self.same_pad = (cols // 2, cols - cols // 2, rows // 2, rows - rows // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, self.same_pad)
        return nn.functional.conv2d(
            x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups
        )


def _hooked(module: nn.Module) -> bool:
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
    )


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )


def _relu_then_pool(block: nn.Module, pool: nn.Module | None) -> bool:
    """True when `block` is a Sequential ending in ReLU, `pool` a MaxPool2d, and no hook
    watches either (nor the ReLU): then ReLU may run after the pool."""
    return (
        isinstance(pool, nn.MaxPool2d)
        and isinstance(block, nn.Sequential)
        and len(block) > 1
        and isinstance(block[-1], nn.ReLU)
        and not (_hooked(block) or _hooked(block[-1]) or _hooked(pool))
    )


def make_module(layer: LayerSpec, in_shape: tuple[int, ...]) -> nn.Module:
    """The module of one validated spec layer whose input has shape `in_shape` (no batch)."""
    kind = layer.kind
    if kind == "conv":
        padding: int | str = layer.padding
        if padding == "same" and layer.stride > 1:  # torch's 'same' needs stride 1
            padding = layer.dilation * (layer.window - 1) // 2
        even_same = padding == "same" and layer.dilation * (layer.window - 1) % 2 == 1
        conv = EvenSameConv2d if even_same else nn.Conv2d
        parts: list[nn.Module] = [
            conv(
                in_shape[0],
                layer.width,
                layer.window,
                stride=layer.stride,
                padding=padding,
                dilation=layer.dilation,
                bias=not layer.bn,
            )
        ]
        if layer.bn:  # the BN shift replaces the conv bias
            parts.append(nn.BatchNorm2d(layer.width))
        if layer.act != "none":
            parts.append(activation(layer.act))
        return nn.Sequential(*parts)
    if kind == "dense":
        parts = [nn.Linear(in_shape[0], layer.width)]
        if layer.act != "none":
            parts.append(activation(layer.act))
        return nn.Sequential(*parts)
    if kind == "res":
        return ResBlock(in_shape[0], layer.width, layer.stride)
    if kind == "maxpool":
        return nn.MaxPool2d(layer.window, stride=layer.stride, padding=int(layer.padding))
    if kind == "avgpool":
        return nn.AvgPool2d(layer.window, stride=layer.stride, padding=int(layer.padding))
    if kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "bn":
        return nn.BatchNorm2d(in_shape[0]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0])
    if kind == "dropout":
        return nn.Dropout(layer.rate)
    if kind == "flatten":
        return nn.Flatten()
    if kind == "act":
        return activation(layer.act)
    raise ValueError(f"no module for layer kind {kind!r}")  # parse() never lets one through
