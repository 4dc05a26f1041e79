"""The `--explain` texts of a summary row: what a layer is, how its parameter count and its
output size come about (the size formulas come from `convlens.primer.geometry`). torch and
numpy are imported inside the functions, so `import convlens` stays fast."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from convlens.models.summary.facts import Call, two
from convlens.models.summary.format import pair_text, shape_text

if TYPE_CHECKING:
    from torch import nn

# (in_hw, kernel, stride, padding, dilation, out_hw, ceil_mode) of one conv or pool call
SizeStep = tuple[Any, ...]


def describe(m: nn.Module) -> str:
    """Conv2d(1->32, 3x3, stride 2), Linear(576->64), MaxPool2d(2x2), BatchNorm2d(32), ..."""
    from torch import nn

    name = type(m).__name__
    if isinstance(m, nn.Conv2d):
        extra = [
            f"{label} {pair_text(two(v)) if not isinstance(v, str) else repr(v)}"
            for label, v, default in (
                ("stride", m.stride, 1),
                ("padding", m.padding, 0),
                ("dilation", m.dilation, 1),
                ("groups", m.groups, 1),
            )
            if v != two(default) and v != default
        ]
        return (
            f"{name}({m.in_channels}->{m.out_channels}, "
            f"{m.kernel_size[0]}x{m.kernel_size[1]}{''.join(', ' + e for e in extra)})"
        )
    if isinstance(m, nn.Linear):
        return f"{name}({m.in_features}->{m.out_features})"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = two(m.kernel_size), two(m.stride or m.kernel_size), two(m.padding)
        extra = (
            ([f"stride {pair_text(s)}"] if s != k else [])
            + ([f"padding {pair_text(p)}"] if p != (0, 0) else [])
            + (["ceil_mode"] if m.ceil_mode else [])
        )
        return f"{name}({k[0]}x{k[1]}{''.join(', ' + e for e in extra)})"
    if isinstance(m, nn.modules.batchnorm._NormBase):
        return f"{name}({m.num_features})"
    return name


def param_formula(calls: list[Call], total: int) -> str:
    """How the parameter count comes about, e.g. "3*3*1*32 + 32 = 320"."""
    from torch import nn

    parts = []
    for m in dict.fromkeys(c.module for c in calls):  # a module called twice counts once
        own = dict(m.named_parameters(recurse=False))
        n = sum(p.numel() for p in own.values())
        if not n:
            continue
        bias = f" + {own['bias'].numel()}" if own.get("bias") is not None else ""
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            text = f"{kh}*{kw}*{m.in_channels // m.groups}*{m.out_channels}{bias}"
        elif isinstance(m, nn.Linear):
            text = f"{m.in_features}*{m.out_features}{bias}"
        else:
            text = " + ".join(f"{p.numel()} ({k})" for k, p in own.items())
        parts.append(f"{text} = {n:,}")
    if not parts:
        return f"{total:,}" if total else "0"
    return parts[0] if len(parts) == 1 else "; ".join(parts) + f"; total {total:,}"


def size_steps(calls: list[Call]) -> tuple[SizeStep, ...]:
    """The conv/pool calls of a row, for `size_text` (turned into text only when asked)."""
    from torch import nn

    steps = []
    for c in calls:
        m = c.module
        if isinstance(m, nn.Conv2d):
            k, s, d, p = m.kernel_size, m.stride, m.dilation, m.padding
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s = two(m.kernel_size), two(m.stride or m.kernel_size)
            d, p = two(getattr(m, "dilation", 1)), two(m.padding)
        else:
            continue
        steps.append(
            (
                c.in_shape[-2:],
                tuple(k),
                tuple(s),
                p if isinstance(p, str) else tuple(p),
                tuple(d),
                c.out_shape[-2:],
                bool(getattr(m, "ceil_mode", False)),
            )
        )
    return tuple(steps)


def output_note(calls: list[Call], in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> str:
    """Output text of a row without conv/pool: flatten, linear, element-wise."""
    from torch import nn

    kinds = {type(c.module) for c in calls}
    if nn.Flatten in kinds and len(in_shape) > 1:
        return f"{'*'.join(map(str, in_shape))} = {math.prod(in_shape):,}"
    linear = [c.module for c in calls if isinstance(c.module, nn.Linear)]
    if linear:
        return f"out_features = {linear[-1].out_features}"
    if in_shape == out_shape:
        return f"same as input = {shape_text(out_shape)}"
    return shape_text(out_shape)


def size_text(
    hw: tuple[int, ...],
    k: tuple,
    s: tuple,
    p: Any,
    d: tuple,
    out_hw: tuple[int, ...],
    ceil_mode: bool,
) -> str:
    """Output-size formula of one step for height (and width when it differs)."""
    from convlens.primer.geometry import explain_output_size

    if isinstance(p, str):  # Conv2d(padding="same" | "valid")
        if p == "same":
            return f"padding='same' keeps {pair_text(two(out_hw))}"
        p = (0, 0)
    texts = []
    for axis in range(
        2 if (hw[0], k[0], s[0], p[0], d[0]) != (hw[1], k[1], s[1], p[1], d[1]) else 1
    ):
        texts.append(
            explain_output_size(
                hw[axis],
                k[axis],
                stride=s[axis],
                padding=p[axis],
                dilation=d[axis],
                ceil_mode=ceil_mode,
            ).removeprefix("out = ")
        )
    return texts[0] if len(texts) == 1 else f"H: {texts[0]}, W: {texts[1]}"
