"""Shapes through a spec: `infer_shapes` (the output shape after each layer) and `resolve`
(insert implicit flattens, check that every layer fits the shape coming in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from convlens.errors import SpecError
from convlens.models.spec.grammar import parse
from convlens.models.spec.layer import LayerSpec, check_input_shape, shape_text


def resolve(layers: Any, input_shape: Sequence[int]) -> list[LayerSpec]:
    """Parse, insert an implicit flatten before each dense that follows a feature map, and
    check every shape (raises SpecError)."""
    shape = check_input_shape(input_shape)
    out: list[LayerSpec] = []
    for layer in parse(layers):
        if layer.kind == "dense" and len(shape) > 1:
            out.append(LayerSpec("flatten", implicit=True, position=layer.position))
            shape = (_prod(shape),)
        out.append(layer)
        shape = _next_shape(layer, shape, out[-2] if len(out) > 1 else None)
    return out


def infer_shapes(layers: Any, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """Output shape (no batch) after each layer; a dense on a feature map flattens it first.

    Raises:
        SpecError: a layer that does not fit the shape coming in.
    """
    shape = check_input_shape(input_shape)
    shapes: list[tuple[int, ...]] = []
    prev = None
    for layer in parse(layers):
        shape = _next_shape(layer, shape, prev)
        shapes.append(shape)
        prev = layer
    return shapes


def _next_shape(
    layer: LayerSpec, shape: tuple[int, ...], prev: LayerSpec | None
) -> tuple[int, ...]:
    k = layer.kind
    after = f"after layer {prev.position}" if prev is not None else "(the model input)"
    coming = f"input is {shape_text(shape)} {after}"
    if k == "dense":
        return (layer.width,)
    if k == "flatten":
        return (_prod(shape),)
    if k in ("bn", "dropout", "act"):
        return shape
    if len(shape) != 3:
        raise SpecError(
            f"{layer.where()}: {coming}, a vector, but {k} needs a CxHxW feature "
            f"map; put it before the flatten/dense layers"
        )
    c, h, w = shape
    if k == "gap":
        return (c,)
    if k == "res":
        return (layer.width, (h - 1) // layer.stride + 1, (w - 1) // layer.stride + 1)
    kk, s, d = layer.window, layer.stride, layer.dilation
    if layer.padding == "same":
        if s > 1 and d * (kk - 1) % 2:
            raise SpecError(
                f"{layer.where()}: pad=same with stride={s} needs an odd kernel "
                f"span; use an odd kernel or stride=1"
            )
        return (layer.width, (h - 1) // s + 1, (w - 1) // s + 1)
    p = int(layer.padding)
    span, room = d * (kk - 1) + 1, min(h, w) + 2 * p
    if span > room:
        pad = "valid" if p == 0 else str(p)
        if k == "conv":
            what = f"a {kk}x{kk} kernel" + (f" with dil={d} (spans {span})" if d > 1 else "")
            biggest = (room - 1) // d + 1
            fix = (
                f"use pad=same or a kernel <= {biggest}"
                if d == 1
                else "use pad=same, a smaller kernel or a smaller dil"
            )
            raise SpecError(f"{layer.where()}: {coming}, {what} does not fit with pad={pad}; {fix}")
        fix = f"use a kernel <= {room}" if room >= 2 else "remove this layer"
        raise SpecError(f"{layer.where()}: {coming}, a {kk}x{kk} pool does not fit; {fix}")
    out_c = layer.width if k == "conv" else c
    return (out_c, (h + 2 * p - span) // s + 1, (w + 2 * p - span) // s + 1)


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
