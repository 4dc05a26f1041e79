"""The numbers behind one output value, as the formula view shows them: a conv pixel (per
input channel the window, the kernel slice, their products and sum; the channel sums plus the
bias; then batch norm and the activation), a pool pixel (its window and max or mean), a dense
unit (the weighted sum, its largest terms), softmax, and anything else as its parts.
Every number is the model's own, from the input a trace recorded (`web.graph`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from convlens.models.hooks import forward_hooks
from convlens.primer.geometry import Window, adaptive_window, window

MAX_CHANNELS = 64  # input channels whose window and kernel slice are sent
MAX_TERMS = 16  # largest terms of a dense unit's weighted sum that are sent


def _rows_cols(win: Window) -> dict[str, list[int]]:
    """The window's rows and columns in the input's own coordinates (padding is < 0 or
    >= the size), for the page to draw the kernel's box."""
    (top, _), (left, _) = win.pads
    return {"rows": [r - top for r in win.rows], "cols": [c - left for c in win.cols]}


def conv_formula(
    conv: nn.Conv2d, x: np.ndarray, channel: int, i: int, j: int, limit: int = MAX_CHANNELS
) -> dict[str, Any]:
    """Output pixel (i, j) of map `channel` of `conv` on its input x (C, H, W)."""
    win = window(
        x.shape[1:],
        conv.kernel_size,
        (i, j),
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
    )
    per_group = conv.in_channels // conv.groups  # the input channels this filter sees
    first = channel // (conv.out_channels // conv.groups) * per_group
    patch = win.read(x[first : first + per_group])  # (C, kh, kw), zero padding
    w = conv.weight[channel].detach().float().numpy()
    per_channel = (patch * w).sum((1, 2))
    bias = float(conv.bias[channel].detach()) if conv.bias is not None else 0.0
    shown = min(limit, patch.shape[0])
    return {
        "kind": "conv",
        "in_channels": int(patch.shape[0]),
        "first_channel": first,
        "shown_channels": shown,
        "patch": patch[:shown].tolist(),
        "kernel": w[:shown].tolist(),
        "channel_sums": per_channel[:shown].tolist(),
        "other_channels_sum": float(per_channel[shown:].sum()),
        "bias": bias,
        "conv_value": float(per_channel.sum()) + bias,
        "stride": list(conv.stride),
        "dilation": list(conv.dilation),
        **_rows_cols(win),
    }


def _adaptive(module: nn.Module) -> bool:
    """An adaptive pool (e.g. a global average pool): its windows follow from the sizes."""
    return isinstance(
        module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    )


def pool_window(
    module: nn.Module, hw: tuple[int, int], out_hw: tuple[int, int], i: int, j: int
) -> Window:
    """Which cells of the (padded) input pooling output pixel (i, j) reads."""
    if _adaptive(module):
        return adaptive_window(hw, out_hw, (i, j))
    pool: Any = module  # MaxPool2d or AvgPool2d: kernel_size, stride, padding, ceil_mode
    return window(
        hw,
        pool.kernel_size,
        (i, j),
        stride=pool.stride or pool.kernel_size,
        padding=pool.padding,
        dilation=getattr(pool, "dilation", 1),
        ceil_mode=pool.ceil_mode,
    )


def pool_formula(
    module: nn.Module, x: np.ndarray, out_hw: tuple[int, int], channel: int, i: int, j: int
) -> dict[str, Any]:
    """The window of a pooling output pixel. Cells that do not count (max pooling's
    padding, or past the input with ceil_mode) are null; mean pooling's zero padding
    counts in the average, as in PyTorch (count_include_pad)."""
    mode = "max" if "Max" in type(module).__name__ else "mean"
    win = pool_window(module, x.shape[1:], out_hw, i, j)
    zeros_count = mode == "mean" and getattr(module, "count_include_pad", True)
    patch = win.read(x[channel], fill=0.0 if zeros_count else np.nan, beyond=np.nan)
    return {
        "kind": "pool",
        "mode": mode,
        "patch": [[v if np.isfinite(v) else None for v in row] for row in patch.tolist()],
        "count": int(np.isfinite(patch).sum()),  # the cells a mean divides by
        "stride": list(pool_stride(module, x.shape[1:], out_hw)),
        **_rows_cols(win),
    }


def pool_stride(module: nn.Module, hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int]:
    """How far the window moves between neighbouring outputs (an adaptive pool's windows
    move about input/output cells)."""
    pool: Any = module
    if _adaptive(module):
        return (max(1, hw[0] // out_hw[0]), max(1, hw[1] // out_hw[1]))
    stride = pool.stride or pool.kernel_size
    return (stride, stride) if isinstance(stride, int) else (int(stride[0]), int(stride[1]))


def _signed(v: float) -> str:
    """A term with its own sign, for a formula's text: 0.5 -> '+ 0.5', -0.5 -> '- 0.5'."""
    return f"{'-' if v < 0 else '+'} {abs(v):.4g}"


def norm_step(bn: nn.modules.batchnorm._NormBase, channel: int, v: float) -> dict[str, Any]:
    """Batch norm of one value at test time, with its running statistics."""
    mean = float(bn.running_mean[channel]) if bn.running_mean is not None else 0.0
    var = float(bn.running_var[channel]) if bn.running_var is not None else 1.0
    gamma = float(bn.weight[channel].detach()) if bn.weight is not None else 1.0
    beta = float(bn.bias[channel].detach()) if bn.bias is not None else 0.0
    out = (v - mean) / float(np.sqrt(var + bn.eps)) * gamma + beta
    return {
        "op": type(bn).__name__,
        "text": f"({v:.4g} {_signed(-mean)}) / sqrt({var:.4g} + {bn.eps:g}) * {gamma:.4g} "
        f"{_signed(beta)}",
        "value": out,
    }


def activation_step(module: nn.Module, v: float) -> dict[str, Any]:
    """An elementwise module (ReLU, GELU, ...) applied to one value."""
    with torch.inference_mode():
        out = float(module(torch.tensor([[v]], dtype=torch.float32)).reshape(-1)[0])
    name = type(module).__name__
    return {"op": name, "text": f"{name}({v:.4g})", "value": out}


def after(parts: list[nn.Module], channel: int, v: float) -> list[dict[str, Any]]:
    """What a block applies after its layer, step by step, to one value of map `channel`."""
    steps = []
    for m in parts:
        if isinstance(m, nn.modules.batchnorm._NormBase):
            steps.append(norm_step(m, channel, v))
        elif type(m).__module__ == "torch.nn.modules.activation":
            steps.append(activation_step(m, v))
        else:
            continue  # dropout (identity at test time), flatten
        v = steps[-1]["value"]
    return steps


def dense_formula(
    linear: nn.Linear, x: np.ndarray, unit: int, top: int = MAX_TERMS
) -> dict[str, Any]:
    """Unit `unit` of `linear` on its input vector x (N,): the weighted sum plus bias, and
    its `top` largest terms (by size) with their input index."""
    w = linear.weight[unit].detach().float().numpy()
    terms = w * x
    order = np.argsort(-np.abs(terms), kind="stable")[:top]
    bias = float(linear.bias[unit].detach()) if linear.bias is not None else 0.0
    return {
        "kind": "dense",
        "n_terms": int(terms.size),
        "terms": [
            {
                "index": int(k),
                "input": float(x[k]),
                "weight": float(w[k]),
                "product": float(terms[k]),
            }
            for k in order
        ],
        "other_terms_sum": float(terms.sum() - terms[order].sum()),
        "bias": bias,
        "dense_value": float(terms.sum()) + bias,
    }


def softmax_formula(logits: np.ndarray, k: int, classes: list[str]) -> dict[str, Any]:
    """p_k = exp(z_k - max z) / sum_j exp(z_j - max z), with every class's numbers."""
    shifted = logits - logits.max()
    e = np.exp(shifted)
    return {
        "kind": "softmax",
        "classes": classes,
        "logits": logits.tolist(),
        "exps": e.tolist(),
        "exp_sum": float(e.sum()),
        "value": float(e[k] / e.sum()),
    }


@torch.inference_mode()
def parts_formula(module: nn.Module, x: torch.Tensor, index: tuple[int, ...]) -> dict[str, Any]:
    """A block the page cannot write as one formula (e.g. a residual block), run again on its
    recorded input x: its direct parts in order, each with its value at `index` (channel, i,
    j or unit) where its output has that shape."""
    children = dict(module.named_children())
    with forward_hooks(module, list(children)) as outs:
        module(x)
    parts = []
    for name, child in children.items():
        out = outs.get(name)
        fits = out is not None and out.dim() == len(index) + 1
        fits = fits and all(0 <= k < n for k, n in zip(index, out.shape[1:]))  # type: ignore[union-attr]
        value = float(out[0][index]) if fits and out is not None else None
        parts.append({"name": name, "type": type(child).__name__, "value": value})
    return {"kind": "block", "type": type(module).__name__, "parts": parts}
