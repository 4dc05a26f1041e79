"""Summary table of a model: shapes, parameters, mult-adds, receptive field, memory.

Shapes come from one real forward pass (batch 1, eval mode, no grad) with forward hooks on
every module that computes something; the hooks are always removed and each module's
train/eval state is restored afterwards.

Conventions (per sample, batch 1):
- Mult-adds count only the multiply-accumulates of weights, like torchinfo:
  conv = output elements * (in_channels / groups) * kh * kw, linear = in_features * out_features
  (per output row); bias adds, batch norm, activations and pooling count 0.
- Receptive field uses the standard recursion along the path of each tensor:
  r_out = r_in + (k - 1) * dilation * j_in and j_out = j_in * stride, for conv and pooling;
  linear, flatten and adaptive/global pooling see the whole input ("full"); element-wise
  modules keep it. Functional calls (`F.max_pool2d`) are invisible to hooks and not counted.
- Activation memory is output elements * 4 bytes (float32) per row.

`convlens.summary` is the function `summary` below (the package re-exports it); import the
types with `from convlens.models.summary import ModelSummary, LayerRow`.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from convlens.errors import ConfigError, ModelError

if TYPE_CHECKING:  # torch is imported lazily so `import convlens` stays fast
    from torch import Tensor, nn

BYTES_PER_ELEMENT = 4  # activation memory is counted as float32
FULL = "full"
# Row categories, most telling first: a row holding a conv and a ReLU is a "conv" row.
CATEGORIES = ("block", "conv", "dense", "pool", "flatten", "norm", "activation", "dropout",
              "other")

RF = tuple[int, int, int, int] | None  # (size_h, size_w, jump_h, jump_w); None = full input


@dataclass(frozen=True)
class LayerRow:
    """One row of the summary: a layer call and what it costs."""

    name: str
    kind: str  # e.g. "Conv2d+ReLU", "Flatten (auto)", "Linear"
    category: str  # one of CATEGORIES, used for colours in pictures
    input_shape: tuple[int, ...]  # without the batch dimension
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    trainable_params: int
    mult_adds: int
    rf_size: tuple[int, int] | None  # None: sees the full input
    rf_jump: tuple[int, int] | None
    memory_bytes: int
    repeat: bool = False  # a module called a second time: its parameters are shared
    description: str = ""  # e.g. "Conv2d(1->32, 3x3)+ReLU"
    param_formula: str = ""  # e.g. "3*3*1*32 + 32 = 320"
    # Output-size steps (in_hw, kernel, stride, padding, dilation, out_hw, ceil_mode) of the
    # convs/pools in this row, turned into text only when asked (`output_formula`).
    size_steps: tuple[tuple, ...] = field(default=(), repr=False)
    output_note: str = ""  # the output text of rows without conv/pool, e.g. "64*3*3 = 576"

    @property
    def non_trainable_params(self) -> int:
        """Parameters with requires_grad=False."""
        return self.params - self.trainable_params

    @property
    def output_formula(self) -> str:
        """How the output size comes about, e.g. "floor((28 + 2*0 - 1*(3-1) - 1)/1) + 1 = 26"."""
        if not self.size_steps:
            return self.output_note
        steps = " then ".join(_size_text(*step) for step in self.size_steps)
        return f"{steps} -> {shape_text(self.output_shape)}"

    @property
    def receptive_field(self) -> str:
        """Receptive field as text: "5 (2)" = size 5, jump 2; "full" after dense layers."""
        if self.rf_size is None or self.rf_jump is None:
            return FULL
        return f"{_pair(self.rf_size)} ({_pair(self.rf_jump)})"


@dataclass(frozen=True)
class ModelSummary:
    """Rows and totals of a model summary; `str()` is the table, `explain()` the formulas."""

    model_name: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_mult_adds: int
    activation_bytes: int
    input_bytes: int
    params_bytes: int
    spec_text: str = ""

    @property
    def total_bytes(self) -> int:
        """Input + parameters + activations, in bytes (inference, batch 1)."""
        return self.input_bytes + self.params_bytes + self.activation_bytes

    def totals_lines(self) -> list[str]:
        """The totals block, Keras wording for the parameter lines."""
        return [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Total mult-adds: {self.total_mult_adds:,} ({_si(self.total_mult_adds)})",
            f"Input size: {_bytes(self.input_bytes)}",
            f"Params size: {_bytes(self.params_bytes)}",
            f"Activation memory: {_bytes(self.activation_bytes)}",
            f"Estimated total size: {_bytes(self.total_bytes)}",
        ]

    def table_cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and formatted cells of the table (shared by text and HTML)."""
        header = ["Layer (type)", "Output shape", "Param #", "Non-trainable", "Mult-adds",
                  "RF (jump)", "Memory"]
        cells = [[_layer_cell(r), shape_text(r.output_shape),
                  "(shared)" if r.repeat else f"{r.params:,}",
                  "" if r.repeat else f"{r.non_trainable_params:,}", f"{r.mult_adds:,}",
                  r.receptive_field, _bytes(r.memory_bytes)] for r in self.rows]
        return header, cells

    def __str__(self) -> str:
        header, cells = self.table_cells()
        widths = [max(len(c) for c in col) for col in zip(header, *cells)]

        def line(row: list[str]) -> str:
            first = row[0].ljust(widths[0])
            rest = (c.rjust(w) for c, w in zip(row[1:], widths[1:]))
            return "  ".join([first, *rest]).rstrip()

        rule_len = sum(widths) + 2 * (len(widths) - 1)
        title = f"Model: {self.model_name}  input {shape_text(self.input_shape)}"
        out = [title, "=" * rule_len, line(header), "-" * rule_len]
        out += [line(c) for c in cells]
        out += ["=" * rule_len, *self.totals_lines(), "=" * rule_len]
        return "\n".join(out)

    def explain(self) -> str:
        """One line per row: how its parameter count and output size come about."""
        width = max((len(r.name) for r in self.rows), default=0)
        return "\n".join(
            f"{r.name.ljust(width)}  {r.description}: params = {r.param_formula}; "
            f"out = {r.output_formula}" for r in self.rows)

    def _repr_html_(self) -> str:
        header, cells = self.table_cells()
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(
            f"<td style='text-align:{'left' if i == 0 else 'right'}'><code>{esc(c)}</code></td>"
            for i, c in enumerate(row)) + "</tr>" for row in cells)
        totals = "<br>".join(esc(t) for t in self.totals_lines())
        return (f"<div><b>{esc(self.model_name)}</b> input {esc(shape_text(self.input_shape))}"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{totals}</p></div>")


@dataclass
class _Call:
    """One recorded call of a module that computes something (mutable, internal)."""

    module: Any
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    mult_adds: int
    rf: RF
    group: int | None = None
    repeat: bool = False


@dataclass
class _Recorder:
    """State kept while the hooked forward pass runs."""

    calls: list[_Call] = field(default_factory=list)
    groups: list[_Call] = field(default_factory=list)  # spec mode: one per top-level call
    rf_of: dict[int, tuple[Any, RF]] = field(default_factory=dict)  # id(tensor) -> (t, rf)
    last_rf: RF = (1, 1, 1, 1)
    open_group: int | None = None
    seen: set[int] = field(default_factory=set)

    def rf_in(self, t: Any) -> RF:
        """Receptive field of a tensor; for untracked ones (e.g. after `a + b`) the largest
        field among tracked tensors of the same spatial size, else the last one."""
        if id(t) in self.rf_of:
            return self.rf_of[id(t)][1]
        same = [rf for (u, rf) in self.rf_of.values()
                if u.dim() >= 3 and t.dim() >= 3 and u.shape[-2:] == t.shape[-2:]]
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


def summary(model: nn.Module, input_shape: tuple[int, ...] | list[int]) -> ModelSummary:
    """Summarise `model` on one input of shape `input_shape` (no batch dimension).

    Args:
        model: any nn.Module; spec-built models get one row per spec layer, other models one
            row per leaf module call (plus modules holding parameters of their own).
        input_shape: e.g. (3, 32, 32).

    Returns:
        The structured summary; `print()` it for the table.

    Raises:
        ConfigError: a bad input shape. ModelError: the forward pass fails on that shape.
    """
    import torch

    shape = _check_shape(input_shape)
    spec_layers = _spec_layers(model)
    top = dict(model.named_children()) if spec_layers is not None else {}
    top_ids = {id(m): i for i, m in enumerate(top.values())}
    names = {id(m): n for n, m in model.named_modules()}
    tracked = [m for m in model.modules()
               if not list(m.children()) or list(m.parameters(recurse=False))]
    rec = _Recorder()

    def pre_hook(module: nn.Module, args: tuple) -> None:
        if id(module) in top_ids:
            rec.open_group = len(rec.groups)
            rec.groups.append(_Call(module, names[id(module)], _shape(args), (), 0, None))

    def post_hook(module: nn.Module, args: tuple, output: Any) -> None:
        x, y = _first_tensor(args), _first_tensor(output)
        if y is None:
            return
        was_seen = id(module) in rec.seen
        rec.seen.add(id(module))
        if module in leaf_set:
            rf_in = rec.rf_in(x) if x is not None else rec.last_rf
            rf = _next_rf(module, rf_in, y)
            rec.calls.append(_Call(module, names[id(module)], _shape(args), _shape(y),
                                   _mult_adds(module, x, y), rf, rec.open_group,
                                   repeat=was_seen))
            rec.remember(y, rf)
        if id(module) in top_ids and rec.open_group is not None:
            group = rec.groups[rec.open_group]
            group.out_shape, group.rf, group.repeat = _shape(y), rec.rf_in(y), was_seen
            rec.remember(y, group.rf)
            rec.open_group = None

    from convlens.models.hooks import hooked

    leaf_set = set(tracked)
    watched = list(dict.fromkeys([*tracked, *top.values()]))  # no module hooked twice
    states = {m: m.training for m in model.modules()}
    try:
        model.eval()
        ref = next(model.parameters(), None)
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
        x = torch.zeros((1, *shape), dtype=dtype, device=ref.device if ref is not None else "cpu")
        rec.remember(x, (1, 1, 1, 1))
        with hooked(watched, pre=pre_hook, post=post_hook), torch.no_grad():
            model(x)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"forward pass of {type(model).__name__} on input "
                         f"{shape_text(shape)} failed: {first}") from exc
    finally:
        for m, was_training in states.items():
            m.train(was_training)
    return _assemble(model, shape, rec, spec_layers)


def _assemble(model: nn.Module, shape: tuple[int, ...], rec: _Recorder,
              spec_layers: list | None) -> ModelSummary:
    """Turn the recorded calls into rows and totals."""
    rows = []
    if spec_layers is not None:
        for gi, g in enumerate(rec.groups):
            calls = [c for c in rec.calls if c.group == gi]
            layer = spec_layers[list(model.children()).index(g.module)]
            rows.append(_row(g.name, g.module, calls, g.in_shape, g.out_shape, g.rf, g.repeat,
                             params_of=g.module, spec_layer=layer))
    else:
        for c in rec.calls:
            rows.append(_row(c.name or type(c.module).__name__, c.module, [c], c.in_shape,
                             c.out_shape, c.rf, c.repeat, params_of=c.module, spec_layer=None))
    rows = [_with_formulas(r, calls) for r, calls in rows]
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(
        model_name=getattr(model, "registry_name", None) or type(model).__name__, input_shape=shape, rows=tuple(rows),
        total_params=total, trainable_params=trainable, non_trainable_params=total - trainable,
        total_mult_adds=sum(c.mult_adds for c in rec.calls),
        activation_bytes=sum(r.memory_bytes for r in rows),
        input_bytes=math.prod(shape) * BYTES_PER_ELEMENT,
        params_bytes=sum(p.numel() * p.element_size() for p in params),
        spec_text=str(getattr(model, "spec_text", "") or ""))


def _row(name: str, module: nn.Module, calls: list[_Call], in_shape: tuple[int, ...],
         out_shape: tuple[int, ...], rf: RF, repeat: bool, *, params_of: nn.Module,
         spec_layer: Any) -> tuple[LayerRow, list[_Call]]:
    own = not list(params_of.children())
    ps = list(params_of.parameters(recurse=True)) if own or spec_layer is not None \
        else list(params_of.parameters(recurse=False))
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
        name=name, kind=kind, category=_category([c.module for c in calls] or [module]),
        input_shape=in_shape, output_shape=out_shape,
        params=sum(p.numel() for p in ps),
        trainable_params=sum(p.numel() for p in ps if p.requires_grad),
        mult_adds=sum(c.mult_adds for c in calls),
        rf_size=None if rf is None else (rf[0], rf[1]),
        rf_jump=None if rf is None else (rf[2], rf[3]),
        memory_bytes=math.prod(out_shape) * BYTES_PER_ELEMENT, repeat=repeat)
    return row, calls


def _with_formulas(row: LayerRow, calls: list[_Call]) -> LayerRow:
    """Fill in the `--explain` texts: description, parameter and output-size formulas."""
    desc = "+".join(_describe(c.module) for c in calls) if 0 < len(calls) <= 3 else row.kind
    return replace(row, description=desc, param_formula=_param_formula(calls, row.params),
                   size_steps=_size_steps(calls),
                   output_note=_output_note(calls, row.input_shape, row.output_shape))


def _describe(m: nn.Module) -> str:
    """Conv2d(1->32, 3x3, stride 2), Linear(576->64), MaxPool2d(2x2), BatchNorm2d(32), ..."""
    from torch import nn

    name = type(m).__name__
    if isinstance(m, nn.Conv2d):
        extra = [f"{label} {_pair(_two(v)) if not isinstance(v, str) else repr(v)}"
                 for label, v, default in (("stride", m.stride, 1), ("padding", m.padding, 0),
                                           ("dilation", m.dilation, 1), ("groups", m.groups, 1))
                 if v != _two(default) and v != default]
        return f"{name}({m.in_channels}->{m.out_channels}, " \
               f"{m.kernel_size[0]}x{m.kernel_size[1]}{''.join(', ' + e for e in extra)})"
    if isinstance(m, nn.Linear):
        return f"{name}({m.in_features}->{m.out_features})"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s = _two(m.kernel_size), _two(m.stride or m.kernel_size)
        return f"{name}({k[0]}x{k[1]}" + (f", stride {_pair(s)})" if s != k else ")")
    if isinstance(m, nn.modules.batchnorm._NormBase):
        return f"{name}({m.num_features})"
    return name


def _param_formula(calls: list[_Call], total: int) -> str:
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


def _size_steps(calls: list[_Call]) -> tuple[tuple, ...]:
    """The conv/pool calls of a row as (in_hw, kernel, stride, padding, dilation, out_hw,
    ceil_mode), for `LayerRow.output_formula`."""
    from torch import nn

    steps = []
    for c in calls:
        m = c.module
        if isinstance(m, nn.Conv2d):
            k, s, d, p = m.kernel_size, m.stride, m.dilation, m.padding
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _two(m.kernel_size), _two(m.stride or m.kernel_size)
            d, p = _two(getattr(m, "dilation", 1)), _two(m.padding)
        else:
            continue
        steps.append((c.in_shape[-2:], tuple(k), tuple(s), p if isinstance(p, str) else tuple(p),
                      tuple(d), c.out_shape[-2:], bool(getattr(m, "ceil_mode", False))))
    return tuple(steps)


def _output_note(calls: list[_Call], in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> str:
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


def _size_text(hw: tuple[int, ...], k: tuple, s: tuple, p: Any, d: tuple,
               out_hw: tuple[int, ...], ceil_mode: bool) -> str:
    """Output-size formula for height (and width when it differs)."""
    from convlens.primer.convmath import explain_output_size

    if isinstance(p, str):  # Conv2d(padding="same" | "valid")
        if p == "same":
            return f"padding='same' keeps {_pair(_two(out_hw))}"
        p = (0, 0)
    texts = []
    for axis in range(2 if (hw[0], k[0], s[0], p[0], d[0]) != (hw[1], k[1], s[1], p[1], d[1])
                      else 1):
        text = str(explain_output_size(hw[axis], k[axis], stride=s[axis], padding=p[axis],
                                       dilation=d[axis])).removeprefix("out = ")
        if ceil_mode:
            text += f" (ceil_mode gives {out_hw[axis]})"
        texts.append(text)
    return texts[0] if len(texts) == 1 else f"H: {texts[0]}, W: {texts[1]}"


def _spec_layers(model: nn.Module) -> list | None:
    """The spec layers of a spec-built model (one direct child each), else None."""
    layers = getattr(model, "layers", None)
    if getattr(model, "spec_text", None) is None or not isinstance(layers, (list, tuple)):
        return None
    return list(layers) if len(layers) == len(list(model.children())) else None


def _next_rf(module: nn.Module, rf: RF, out: Tensor) -> RF:
    """Receptive field after `module` (see the module docstring for the recursion)."""
    from torch import nn

    if rf is None or out.dim() < 3:
        return None
    if isinstance(module, (nn.Linear, nn.Flatten, nn.modules.pooling._AdaptiveAvgPoolNd,
                           nn.modules.pooling._AdaptiveMaxPoolNd)):
        return None
    if isinstance(module, nn.Conv2d):
        k, s, d = module.kernel_size, module.stride, module.dilation
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d)):
        k, s = _two(module.kernel_size), _two(module.stride or module.kernel_size)
        d = _two(getattr(module, "dilation", 1))
    else:
        return rf
    rh, rw, jh, jw = rf
    return (rh + (k[0] - 1) * d[0] * jh, rw + (k[1] - 1) * d[1] * jw, jh * s[0], jw * s[1])


def _mult_adds(module: nn.Module, x: Tensor | None, y: Tensor) -> int:
    """Weight multiply-accumulates of one call, per sample (batch 1)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd) and x is not None:
        return x.numel() * module.weight[0].numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        return y.numel() * module.weight[0].numel()  # weight[0]: (in/groups, kh, kw)
    if isinstance(module, nn.Linear):
        return y.numel() * module.in_features
    return 0


def _category(modules: list) -> str:
    """Row category: a row with two or more convs is a "block", else the most telling kind."""
    from torch import nn

    def cat(m: nn.Module) -> str:
        pool = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
        checks = [("conv", nn.modules.conv._ConvNd), ("dense", nn.Linear), ("pool", pool),
                  ("flatten", nn.Flatten),
                  ("norm", (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)),
                  ("dropout", nn.modules.dropout._DropoutNd)]
        for name, types in checks:
            if isinstance(m, types):
                return name
        return "activation" if type(m).__module__ == "torch.nn.modules.activation" else "other"

    found = [cat(m) for m in modules]
    if found.count("conv") >= 2:
        return "block"
    return min(found, key=CATEGORIES.index) if found else "other"


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in input_shape)
        ok = len(shape) >= 1 and all(n > 0 for n in shape) and \
            all(int(n) == n for n in input_shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError("Expected input_shape as positive integers without the batch "
                          f"dimension, e.g. (3, 32, 32). Received: input_shape={input_shape!r}")
    return shape


def _layer_cell(r: LayerRow) -> str:
    """ "conv1 (Conv2d+ReLU)", "flatten1 (Flatten) (auto)" """
    auto = r.kind.endswith(" (auto)")
    return f"{r.name} ({r.kind.removesuffix(' (auto)')})" + (" (auto)" if auto else "")


def _first_tensor(obj: Any) -> Any:
    """The first tensor in a (nested) tuple/list/dict of outputs, or None."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) \
        else ()
    for item in items:
        t = _first_tensor(item)
        if t is not None:
            return t
    return None


def _shape(obj: Any) -> tuple[int, ...]:
    t = _first_tensor(obj)
    return tuple(t.shape[1:]) if t is not None else ()


def _two(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def shape_text(shape: tuple[int, ...]) -> str:
    """(32, 26, 26) -> "32x26x26" (the `--input` notation)."""
    return "x".join(str(n) for n in shape) if shape else "-"


def _si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"
