"""The spec language's vocabulary: layer kinds, options and aliases, `LayerSpec` (one
validated layer) and `SpecFile`; the grammar is in `convlens.models.spec`'s docstring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convlens.errors import SpecError

ACTIVATION_NAMES = ("none", "relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu")
KINDS = ("conv", "dense", "res", "maxpool", "avgpool", "gap", "bn", "dropout", "flatten", "act")
ALIASES = {
    "linear": "dense",
    "fc": "dense",
    "conv2d": "conv",
    "globalpool": "gap",
    "batchnorm": "bn",
    "maxpool2d": "maxpool",
    "avgpool2d": "avgpool",
}
# positional arguments (name, type) and option keys of each kind
POSITIONAL: dict[str, tuple[tuple[str, type], ...]] = {
    "conv": (("channels", int), ("kernel", int)),
    "dense": (("units", int),),
    "res": (("channels", int),),
    "maxpool": (("kernel", int),),
    "avgpool": (("kernel", int),),
    "dropout": (("rate", float),),
    "act": (("function", str),),
}
OPTIONS: dict[str, tuple[str, ...]] = {
    "conv": ("stride", "pad", "dil", "act", "bn"),
    "dense": ("act",),
    "res": ("stride",),
    "maxpool": ("stride", "pad"),
    "avgpool": ("stride", "pad"),
}
OPTION_ALIASES = {"padding": "pad", "dilation": "dil", "activation": "act", "s": "stride"}
EXAMPLE = "'conv 32 3, maxpool 2, flatten, dense 10'"
SPEC_FILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LayerSpec:
    """One validated layer of a spec; `position` and `source` do not take part in ==.

    Attributes:
        kind: one of KINDS.
        size: out channels (conv, res) or units (dense).
        kernel: kernel size (conv, maxpool, avgpool).
        stride: stride (pools default to the kernel).
        padding: int or "same" (valid = 0).
        dilation: conv dilation.
        act: activation after conv/dense, or the function of an `act` layer.
        bn: conv followed by BatchNorm2d.
        p: dropout rate.
        implicit: a flatten that `resolve` inserted before a dense layer.
        position: 1-based place in the spec the user wrote.
        source: the text (or tuple) the layer came from.
    """

    kind: str
    size: int | None = None
    kernel: int | None = None
    stride: int = 1
    padding: int | str = 0
    dilation: int = 1
    act: str = "none"
    bn: bool = False
    p: float | None = None
    implicit: bool = False
    position: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)

    @property
    def width(self) -> int:
        """`size` of a conv, res or dense layer (parse requires it for those kinds)."""
        return _required(self.size, "size", self)

    @property
    def window(self) -> int:
        """`kernel` of a conv or pool layer (parse requires it for those kinds)."""
        return _required(self.kernel, "kernel", self)

    @property
    def rate(self) -> float:
        """`p` of a dropout layer (parse requires it)."""
        return _required(self.p, "p", self)

    def text(self, *, last_dense: bool = False) -> str:
        """Canonical text of this layer; `last_dense` says whether its default act is none."""
        k = self.kind
        if k == "act":
            return self.act
        if k == "dropout":
            return f"dropout {self.p!r}"
        if k in ("gap", "bn", "flatten"):
            return k
        words = [k, str(self.kernel if k in ("maxpool", "avgpool") else self.size)]
        if k == "conv":
            words.append(str(self.kernel))
        default_stride = self.kernel if k in ("maxpool", "avgpool") else 1
        if k in OPTIONS and "stride" in OPTIONS[k] and self.stride != default_stride:
            words.append(f"stride={self.stride}")
        if k in ("conv", "maxpool", "avgpool") and self.padding != 0:
            words.append(f"pad={self.padding}")
        if k == "conv" and self.dilation != 1:
            words.append(f"dil={self.dilation}")
        default_act = "none" if k == "dense" and last_dense else "relu"
        if k in ("conv", "dense") and self.act != default_act:
            words.append(f"act={self.act}")
        if k == "conv" and self.bn:
            words.append("bn=1")
        return " ".join(words)

    def where(self) -> str:
        """ "layer 3 'conv 64 7'" for messages."""
        if self.implicit:
            return f"layer {self.position} (auto flatten)"
        return f"layer {self.position} {quote_source(self.source or self.text())}"


def _required(value: Any, name: str, layer: LayerSpec) -> Any:
    if value is None:
        raise SpecError(f"{layer.where()}: {layer.kind} needs its {name}")
    return value


@dataclass(frozen=True)
class SpecFile:
    """A YAML spec file: its layers and the input shape it names (None when it names none)."""

    layers: list[LayerSpec]
    input_shape: tuple[int, ...] | None = None


def shape_text(shape: Sequence[int]) -> str:
    """(64, 3, 3) -> '64x3x3'."""
    return "x".join(str(n) for n in shape)


def check_input_shape(shape: Any) -> tuple[int, ...]:
    """`shape` as a tuple when it is (C, H, W) or (features,) of positive whole numbers."""
    try:
        dims = tuple(int(n) for n in shape)
        ok = len(dims) in (1, 3) and all(n > 0 and n == m for n, m in zip(dims, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SpecError(
            f"Expected input_shape (C, H, W) or (features,) of positive whole "
            f"numbers, e.g. (1, 28, 28). Received: input_shape={shape!r}"
        )
    return dims


def quote_source(source: str) -> str:
    """'conv 8 3' in quotes; a tuple source as it is: ('c', 8)."""
    return source if source.startswith(("(", "[")) else repr(source)
