"""The network as the overview draws it: columns of layers, what feeds each, what they hold.

A *unit* is what a user calls one layer: a spec block (a conv with its batch norm and
activation, a dense layer with its activation, `gap`), a residual block, or any leaf module.
Plain containers (`nn.Sequential` stacks, `ModuleList`) are opened. One forward pass with the
one hooks module (`convlens.models.hooks.hooked`) records, for every unit, its input and output
and which unit produced its input (by tensor storage: a view such as Flatten keeps it).
Units that give one (1, C, H, W) map stack or one (1, N) vector, called once, become columns;
the rest (called twice, never, a tuple, another shape, Flatten and Dropout) come as a list
with the reason, never as an error.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from convlens.models.hooks import hooked

INPUT = "input"
SOFTMAX = "softmax"
PASS_THROUGH = (nn.Flatten, nn.modules.dropout._DropoutNd, nn.Identity)
SAME_CHANNEL = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.batchnorm._NormBase,
)


def _is_layer(m: nn.Module) -> bool:
    return isinstance(m, (nn.Conv2d, nn.Linear, *SAME_CHANNEL))


def is_block(m: nn.Module) -> bool:
    """A spec block: a Sequential that opens with a layer and then only reshapes or applies
    an elementwise module (norm, activation, dropout, flatten)."""
    if not isinstance(m, nn.Sequential) or not len(m) or not _is_layer(m[0]):
        return False
    heads = (nn.Conv2d, nn.Linear, *SAME_CHANNEL[:4])  # a second one of these: a stack
    return all(not list(c.children()) and not isinstance(c, heads) for c in list(m)[1:])


def units(model: nn.Module) -> dict[str, nn.Module]:
    """The model's units by name, in definition order (see the module docstring)."""
    found: dict[str, nn.Module] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            opened = isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
            if opened and not is_block(child):
                walk(child, full + ".")
            else:
                found[full] = child

    walk(model, "")
    if not found:  # a model that is one layer
        found[type(model).__name__] = model
    return found


def first_layer(module: nn.Module) -> nn.Module:
    """The layer a block opens with (the module itself otherwise)."""
    return parts(module)[0]


def kind_of(module: nn.Module) -> str:
    """conv, dense, pool, norm, activation or block: how the formula view explains it."""
    layer = first_layer(module)
    if isinstance(layer, nn.Conv2d):
        return "conv"
    if isinstance(layer, nn.Linear):
        return "dense"
    if isinstance(layer, nn.modules.batchnorm._NormBase):
        return "norm"
    if isinstance(layer, SAME_CHANNEL):
        return "pool"
    if type(layer).__module__ == "torch.nn.modules.activation":
        return "activation"
    return "block"


def mix_of(module: nn.Module) -> str:
    """Which maps of the feeding column one output map reads: all, same (channel) or
    group:N (a grouped conv with N groups)."""
    layer = first_layer(module)
    if isinstance(layer, nn.Conv2d) and layer.groups > 1:
        return f"group:{layer.groups}"
    if kind_of(module) in ("pool", "norm", "activation"):
        return "same"
    return "all"


@dataclass
class Trace:
    """What one input did: unit inputs and outputs, producers, call counts, the logits."""

    x: torch.Tensor  # (1, C, H, W) the normalised model input
    logits: torch.Tensor  # (1, K)
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # unit -> unit (or INPUT) feeding it
    calls: dict[str, int] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # other modules asked for


@torch.inference_mode()
def trace(
    model: nn.Module, x: torch.Tensor, found: dict[str, nn.Module], also: dict[str, nn.Module]
) -> Trace:
    """Run `x` (1, C, H, W) through `model` (in eval mode), recording every unit in
    `found`, and the outputs (and first inputs, under NAME:in) of the modules in `also`."""
    by_id = {id(m): n for n, m in found.items()}
    also_id = {id(m): n for n, m in also.items()}
    producer: dict[int, str] = {x.untyped_storage().data_ptr(): INPUT}
    seen = Trace(x=x, logits=torch.empty(0))

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        # before the module runs: an in-place module would change its input
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if first is None:
            return
        name = by_id.get(id(module))
        if name is not None:
            seen.source[name] = producer.get(first.untyped_storage().data_ptr(), "")
            seen.inputs[name] = first.detach().clone()
        if id(module) in also_id:
            seen.extra[also_id[id(module)] + ":in"] = first.detach().clone()

    def post(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name = by_id.get(id(module))
        if name is not None:
            seen.calls[name] = seen.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                seen.outputs[name] = output.detach().clone()
                producer[output.untyped_storage().data_ptr()] = name
        if id(module) in also_id and isinstance(output, torch.Tensor):
            seen.extra[also_id[id(module)]] = output.detach().clone()

    modules = {id(m): m for m in [*found.values(), *also.values()]}
    with hooked(list(modules.values()), pre=pre, post=post):
        seen.logits = model(x).float()
    return seen


def encode(a: torch.Tensor) -> dict[str, Any]:
    """A float tensor as uint8 (base64) on its own scale: value = lo + byte / 255 * (hi - lo)."""
    a = a.float()
    lo, hi = float(a.min()), float(a.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    u8 = ((a - lo) * scale).round_().clamp_(0, 255).to(torch.uint8).numpy()
    return {"lo": lo, "hi": hi, "data": base64.b64encode(u8.tobytes()).decode()}


def layout(found: dict[str, nn.Module], seen: Trace) -> tuple[list[dict], list[dict]]:
    """(columns, listed): the units drawn left to right in call order, and the others."""
    drawn: list[str] = []
    columns: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    for name in [n for n in seen.outputs if n in found] + [n for n in found if n not in seen.calls]:
        module, out = found[name], seen.outputs.get(name)
        why = _not_drawn(module, seen.calls.get(name, 0), out)
        if why:
            listed.append({"name": name, "type": type(module).__name__, "why": why})
            continue
        assert out is not None
        src = _drawn_source(name, seen, drawn)
        col: dict[str, Any] = {
            "name": name,
            "type": " + ".join(type(m).__name__ for m in parts(module)),
            "kind": kind_of(module),
            "from": src,
            "mix": mix_of(module),
            "shape": list(out.shape[1:]),
        }
        col.update(encode(out[0]))
        if out.dim() == 2:
            col["values"] = [round(float(v), 5) for v in out[0]]
        columns.append(col)
        drawn.append(name)
    return columns, listed


def parts(module: nn.Module) -> list[nn.Module]:
    """A block's modules in order ([module] for anything else)."""
    return list(module) if isinstance(module, nn.Sequential) and is_block(module) else [module]


def _not_drawn(module: nn.Module, calls: int, out: torch.Tensor | None) -> str:
    if calls == 0:
        return "not called by forward"
    if calls > 1:
        return f"called {calls} times in one forward pass"
    if out is None:
        return "its output is not a tensor"
    if isinstance(module, PASS_THROUGH):
        return "passes the same numbers on (reshaped or unchanged at test time)"
    if out.shape[0] != 1 or out.dim() not in (2, 4):
        return f"output {'x'.join(map(str, out.shape[1:]))} is neither maps nor a vector"
    return ""


def _drawn_source(name: str, seen: Trace, drawn: list[str]) -> str:
    """The drawn column (or INPUT) that feeds `name`: its producer, followed back through
    units that are not drawn; the column before it when the producer is unknown (a
    functional op such as F.relu made a new tensor)."""
    src = seen.source.get(name, "")
    for _ in range(len(seen.source) + 1):
        if src == INPUT or src in drawn:
            return src
        if not src:
            break
        src = seen.source.get(src, "")
    return drawn[-1] if drawn else INPUT


def as_array(t: torch.Tensor) -> np.ndarray:
    """A tensor of the trace as a float numpy array."""
    return t.detach().float().numpy()
