"""`summary`: record one forward pass with hooks, then assemble the rows and totals.

Shapes come from one real forward pass (batch 1, eval mode, no grad) with forward hooks
(`convlens.models.hooks.hooked`) on every module that computes something; the hooks are
always removed and each module's train/eval state is restored afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from convlens.errors import ConfigError, ModelError
from convlens.models.summary.explain import describe, output_note, param_formula, size_steps
from convlens.models.summary.facts import (
    BYTES_PER_ELEMENT,
    RF,
    Call,
    category,
    mult_adds,
    next_rf,
)
from convlens.models.summary.format import parse_shape, shape_text
from convlens.models.summary.result import LayerRow, ModelSummary

if TYPE_CHECKING:  # torch is imported inside the functions so `import convlens` stays fast
    from torch import nn


@dataclass
class _Recorder:
    """State kept while the hooked forward pass runs."""

    calls: list[Call] = field(default_factory=list)
    groups: list[Call] = field(default_factory=list)  # spec mode: one per top-level call
    rf_of: dict[int, tuple[Any, RF]] = field(default_factory=dict)  # id(tensor) -> (t, rf)
    last_rf: RF = (1, 1, 1, 1)
    open_group: int | None = None
    seen: set[int] = field(default_factory=set)

    def rf_in(self, t: Any) -> RF:
        """Receptive field of a tensor; for untracked ones (e.g. after `a + b`) the largest
        field among tracked tensors of the same spatial size, else the last one."""
        if id(t) in self.rf_of:
            return self.rf_of[id(t)][1]
        same = [
            rf
            for (u, rf) in self.rf_of.values()
            if u.dim() >= 3 and t.dim() >= 3 and u.shape[-2:] == t.shape[-2:]
        ]
        if any(rf is None for rf in same):
            return None
        if same:
            return max(same, key=lambda rf: rf[0] * rf[1])  # type: ignore[index]
        return self.last_rf

    def remember(self, t: Any, rf: RF) -> None:
        if t.dim() < 3:
            rf = None  # a vector of features has no spatial layout left
        self.rf_of[id(t)] = (t, rf)  # keeping `t` alive keeps its id unique
        self.last_rf = rf


def summary(
    model: nn.Module, input_shape: tuple[int, ...] | list[int] | str | None = None
) -> ModelSummary:
    """Summarise `model` on one input of shape `input_shape` (no batch dimension).

    Args:
        model: any nn.Module; spec-built models get one row per spec layer, other models one
            row per leaf module call (plus modules holding parameters of their own).
        input_shape: e.g. (3, 32, 32) or "3x32x32"; default: the model's own `input_shape`
            attribute (models from `convlens.build` have one).

    Returns:
        The structured summary; `print()` it for the table (in Jupyter it shows as one).

    Raises:
        ConfigError: a bad input shape, or none given for a model without `input_shape`.
        ModelError: the forward pass fails on that shape.

    Example:
        >>> model = cl.build("conv 8 3, maxpool 2, dense 10", input_shape="1x28x28")
        >>> cl.summary(model)                       # its own input shape
        >>> cl.summary(my_net, input_shape=(3, 32, 32))
    """
    import torch

    from convlens.models.hooks import hooked, layer_errors

    shape = model_input_shape(model, input_shape)
    spec_layers = _spec_layers(model)
    top = dict(model.named_children()) if spec_layers is not None else {}
    top_ids = {id(m): i for i, m in enumerate(top.values())}
    names = {id(m): n for n, m in model.named_modules()}
    tracked = [
        m for m in model.modules() if not list(m.children()) or list(m.parameters(recurse=False))
    ]
    leaf_set = set(tracked)
    rec = _Recorder()

    def pre_hook(module: nn.Module, args: tuple) -> None:
        if id(module) in top_ids:
            rec.open_group = len(rec.groups)
            rec.groups.append(Call(module, names[id(module)], _shape(args), (), 0, None))

    def post_hook(module: nn.Module, args: tuple, output: Any) -> None:
        x, y = _first_tensor(args), _first_tensor(output)
        if y is None:
            return
        was_seen = id(module) in rec.seen
        rec.seen.add(id(module))
        if module in leaf_set:
            rf_in = rec.rf_in(x) if x is not None else rec.last_rf
            rf = next_rf(module, rf_in, y)
            rec.calls.append(
                Call(
                    module,
                    names[id(module)],
                    _shape(args),
                    _shape(y),
                    mult_adds(module, x, y),
                    rf,
                    rec.open_group,
                    repeat=was_seen,
                )
            )
            rec.remember(y, rf)
        if id(module) in top_ids and rec.open_group is not None:
            group = rec.groups[rec.open_group]
            group.out_shape, group.rf, group.repeat = _shape(y), rec.rf_in(y), was_seen
            rec.remember(y, group.rf)
            rec.open_group = None

    watched = list(dict.fromkeys([*tracked, *top.values()]))  # no module hooked twice
    states = {m: m.training for m in model.modules()}
    try:
        model.eval()
        ref = next(model.parameters(), None)
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
        x = torch.zeros((1, *shape), dtype=dtype, device=ref.device if ref is not None else "cpu")
        rec.remember(x, (1, 1, 1, 1))
        with hooked(watched, pre=pre_hook, post=post_hook), torch.no_grad():
            with layer_errors(model, shape):
                model(x)
    except ModelError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"forward pass of {type(model).__name__} on input {shape_text(shape)} failed: {first}"
        ) from exc
    finally:
        for m, was_training in states.items():
            m.train(was_training)
    return _assemble(model, shape, rec, spec_layers)


def _assemble(
    model: nn.Module, shape: tuple[int, ...], rec: _Recorder, spec_layers: list | None
) -> ModelSummary:
    """Turn the recorded calls into rows and totals."""
    rows = []
    if spec_layers is not None:
        for gi, g in enumerate(rec.groups):
            calls = [c for c in rec.calls if c.group == gi]
            layer = spec_layers[list(model.children()).index(g.module)]
            rows.append(
                _row(
                    g.name,
                    g.module,
                    calls,
                    g.in_shape,
                    g.out_shape,
                    g.rf,
                    g.repeat,
                    spec_layer=layer,
                )
            )
    else:
        for c in rec.calls:
            rows.append(
                _row(
                    c.name or type(c.module).__name__,
                    c.module,
                    [c],
                    c.in_shape,
                    c.out_shape,
                    c.rf,
                    c.repeat,
                    spec_layer=None,
                )
            )
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(
        model_name=getattr(model, "registry_name", None) or type(model).__name__,
        input_shape=shape,
        rows=tuple(rows),
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        total_mult_adds=sum(c.mult_adds for c in rec.calls),
        activation_bytes=sum(r.memory_bytes for r in rows),
        input_bytes=math.prod(shape) * BYTES_PER_ELEMENT,
        params_bytes=sum(p.numel() * p.element_size() for p in params),
        spec_text=str(getattr(model, "spec_text", "") or ""),
    )


def _row(
    name: str,
    module: nn.Module,
    calls: list[Call],
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    rf: RF,
    repeat: bool,
    *,
    spec_layer: Any,
) -> LayerRow:
    """One row: the numbers of its calls, then the `--explain` texts."""
    own = not list(module.children())
    ps = (
        list(module.parameters(recurse=True))
        if own or spec_layer is not None
        else list(module.parameters(recurse=False))
    )
    kinds = [type(c.module).__name__ for c in calls] or [type(module).__name__]
    if spec_layer is not None and len(kinds) > 3:
        kind = type(module).__name__
        if kind == "Sequential":
            kind = f"{str(getattr(spec_layer, 'kind', 'block')).capitalize()}Block"
    else:
        kind = "+".join(kinds)
    if spec_layer is not None and getattr(spec_layer, "implicit", False):
        kind += " (auto)"
    row = LayerRow(
        name=name,
        kind=kind,
        category=category([c.module for c in calls] or [module]),
        input_shape=in_shape,
        output_shape=out_shape,
        params=sum(p.numel() for p in ps),
        trainable_params=sum(p.numel() for p in ps if p.requires_grad),
        mult_adds=sum(c.mult_adds for c in calls),
        rf_size=None if rf is None else (rf[0], rf[1]),
        rf_jump=None if rf is None else (rf[2], rf[3]),
        memory_bytes=math.prod(out_shape) * BYTES_PER_ELEMENT,
        repeat=repeat,
    )
    desc = "+".join(describe(c.module) for c in calls) if 0 < len(calls) <= 3 else row.kind
    return replace(
        row,
        description=desc,
        param_formula=param_formula(calls, row.params),
        size_steps=size_steps(calls),
        output_note=output_note(calls, row.input_shape, row.output_shape),
    )


def _spec_layers(model: nn.Module) -> list | None:
    """The spec layers of a spec-built model (one direct child each), else None."""
    layers = getattr(model, "layers", None)
    if getattr(model, "spec_text", None) is None or not isinstance(layers, (list, tuple)):
        return None
    return list(layers) if len(layers) == len(list(model.children())) else None


def model_input_shape(model: Any, input_shape: Any = None) -> tuple[int, ...]:
    """`input_shape` as a tuple ("1x28x28" and (1, 28, 28) alike), or, when it is None, the
    model's own `input_shape` attribute; ConfigError when there is neither."""
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ConfigError(
                f"{type(model).__name__} has no input_shape attribute; pass input_shape, "
                f"e.g. input_shape=(1, 28, 28)"
            )
    if isinstance(input_shape, str):
        input_shape = parse_shape(input_shape)
    return _check_shape(input_shape)


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in input_shape)
        ok = len(shape) >= 1 and all(n > 0 for n in shape) and all(int(n) == n for n in input_shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            "Expected input_shape as positive integers without the batch "
            f"dimension, e.g. (3, 32, 32). Received: input_shape={input_shape!r}"
        )
    return shape


def _first_tensor(obj: Any) -> Any:
    """The first tensor in a (nested) tuple/list/dict of outputs, or None."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    for item in items:
        t = _first_tensor(item)
        if t is not None:
            return t
    return None


def _shape(obj: Any) -> tuple[int, ...]:
    t = _first_tensor(obj)
    return tuple(t.shape[1:]) if t is not None else ()
