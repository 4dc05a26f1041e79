"""Forward hooks, in one place: which layers a model has, and what they compute.

`hooked` is the only function in convlens that registers forward hooks (`grep
register_forward_hook` finds this module alone); everything else builds on it:
`forward_hooks` / `capture_activations` (feature maps, the explorer, the doctor), the
summary's recorder and `layer_errors` (a failed forward pass named by its layer).
Attributions (`convlens.look.attribution`) are computed by Captum, whose own layer hooks
live inside Captum. Hooks are always removed, even when the forward pass
fails. Works with any `nn.Module`: layers are found by name with `named_modules()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from convlens.errors import ConvlensError, ModelError, suggest
from convlens.models.summary.format import shape_text

SPATIAL = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)


POINTWISE = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
)


def _pointwise(module: nn.Module) -> bool:
    """Norm, activation, dropout: a module that keeps the map's shape and meaning."""
    return isinstance(module, POINTWISE) or type(module).__module__ == "torch.nn.modules.activation"


def _block(model: nn.Module, name: str) -> str:
    """A conv that opens a Sequential block (a spec's conv + bn + activation) is named by
    its block, whose output (after the activation) is what a user means by that layer.
    A Sequential holding more than that (e.g. a whole `features` stack) is no block."""
    if name.endswith(".0"):
        parent = dict(model.named_modules()).get(name[:-2])
        if isinstance(parent, nn.Sequential) and all(_pointwise(m) for m in list(parent)[1:]):
            return name[:-2]
    return name


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's Conv2d layers (or of the blocks they open), in order."""
    return [_block(model, name) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def spatial_layers(model: nn.Module) -> list[str]:
    """Names of the conv and pooling layers (the ones with feature maps), in order."""
    return [
        _block(model, name) for name, m in model.named_modules() if isinstance(m, SPATIAL) and name
    ]


def conv_module(model: nn.Module, name: str) -> nn.Conv2d:
    """The Conv2d of a conv layer or block name (for its weights)."""
    module = get_layer(model, name, conv_layers(model))
    conv = module[0] if isinstance(module, nn.Sequential) else module
    if not isinstance(conv, nn.Conv2d):  # conv_layers names only Conv2d layers and their blocks
        raise ModelError(f"layer {name!r} is not a Conv2d")
    return conv


def get_layer(model: nn.Module, name: str, choices: Sequence[str] | None = None) -> nn.Module:
    """The submodule called `name`; ModelError listing the possible names otherwise."""
    modules = dict(model.named_modules())
    allowed = list(choices) if choices is not None else [n for n in modules if n]
    if name not in modules or name not in allowed:
        raise ModelError(
            f"no layer {name!r} in this model{suggest(name, allowed)}; layers: "
            f"{', '.join(allowed) or 'none'}"
        )
    return modules[name]


# ----------------------------------------------------------------------------- the hooks
Hook = Callable[..., Any]


@contextmanager
def hooked(
    modules: Iterable[nn.Module], *, pre: Hook | None = None, post: Hook | None = None
) -> Iterator[None]:
    """While open, `pre(module, args)` runs before and `post(module, args, output)` after
    every call of each module (PyTorch's forward hooks); all are removed on exit.

    This is the one place convlens registers forward hooks: captures, the summary, the
    doctor and the explorer all come through here. A `post` that returns a value replaces
    the module's output, as in PyTorch.
    """
    handles = []
    try:
        for module in modules:
            if pre is not None:
                handles.append(module.register_forward_pre_hook(pre))
            if post is not None:
                handles.append(module.register_forward_hook(post))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def forward_hooks(
    model: nn.Module, names: Sequence[str], *, inputs: bool = False
) -> Iterator[dict[str, torch.Tensor]]:
    """While open, the outputs of the named layers land in the yielded dict (detached
    clones, so an in-place ReLU after a layer cannot change them). With `inputs`, each
    layer's first input lands there too, under `name + ":in"`."""
    outputs: dict[str, torch.Tensor] = {}
    by_module = {id(get_layer(model, name)): name for name in names}

    def keep(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name = by_module[id(module)]
        outputs[name] = output.detach().clone()
        if inputs and args and isinstance(args[0], torch.Tensor):
            outputs[name + ":in"] = args[0].detach().clone()

    with hooked([get_layer(model, name) for name in names], post=keep):
        yield outputs


@torch.inference_mode()
def capture_activations(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Run `x` (B, C, H, W) through `model` in eval mode; the outputs of `layers`
    (default: every conv and pooling layer) by name, in model order."""
    names = list(layers) if layers is not None else spatial_layers(model)
    was_training = model.training
    model.eval()
    try:
        with forward_hooks(model, names) as outputs, layer_errors(model, x.shape[1:]):
            model(x)
    finally:
        model.train(was_training)
    return {name: outputs[name] for name in names if name in outputs}


@contextmanager
def layer_errors(model: nn.Module, given: Sequence[int]) -> Iterator[None]:
    """While open, a forward pass of `model` on an input of shape `given` (C, H, W) that
    fails raises a one-line ModelError instead: the layer it failed in, the shape that layer
    received and what it expects (or the layer it failed after, in the model's own code).
    """
    names = {id(m): _block(model, n) for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    last: list[Any] = [None, (), False]  # module, the shape it received, whether it finished

    def enter(module: nn.Module, args: tuple[Any, ...]) -> None:
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        last[:] = [module, tuple(first.shape[1:]) if first is not None else (), False]

    def leave(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if isinstance(output, torch.Tensor):
            last[:] = [module, tuple(output.shape[1:]), True]

    try:
        with hooked(leaves, pre=enter, post=leave):
            yield
    except ConvlensError:
        raise
    except Exception as exc:
        module, shape, finished = last
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        built = tuple(getattr(model, "input_shape", None) or ())
        takes = f"; the model takes {shape_text(built)}" if built and built != tuple(given) else ""
        origin = f" from input {shape_text(given)}" if tuple(shape) != tuple(given) else ""
        if module is None:
            line = f"the forward pass on input {shape_text(given)} failed before any layer: {why}"
        elif finished:
            line = (
                f"the forward pass on input {shape_text(given)} failed after layer "
                f"{names[id(module)]!r} (its output: {shape_text(shape)}): {why}"
            )
        else:
            what, needs = _expects(module, shape)
            name = names[id(module)]
            line = (
                (f"layer {name!r}" if name else "the model")
                + f" ({what}) "
                + (
                    f"expects {needs}; it received {shape_text(shape)}{origin}"
                    if needs
                    else f"failed on {shape_text(shape)}{origin}: {why}"
                )
            )
        raise ModelError(line + takes) from exc


def _expects(module: nn.Module, shape: tuple[int, ...]) -> tuple[str, str | None]:
    """(the layer in words, what it expects of an input of `shape` (C, ...) that it did not
    get; None when the shape is not what is wrong)."""
    what = type(module).__name__
    if isinstance(module, (nn.modules.conv._ConvNd, nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _numbers(module.kernel_size, len(shape) - 1)
        what += f", kernel {shape_text(kernel)}"
        channels = getattr(module, "in_channels", None)
        if channels is not None and shape and shape[0] != channels:
            return what, f"{channels} input channel{'s' * (channels != 1)}"
        if len(shape) > 1 and not _kernel_fits(module, shape[1:]):
            return what, f"maps of at least {shape_text(kernel)} pixels"
    if isinstance(module, nn.Linear) and shape and shape[-1] != module.in_features:
        return what, f"{module.in_features} features"
    norm = isinstance(module, nn.modules.batchnorm._NormBase)
    if norm and shape and shape[0] != module.num_features:
        return what, f"{module.num_features} channels"
    return what, None


def _numbers(value: Any, n: int) -> tuple[int, ...]:
    """A conv or pool setting (an int or a tuple) as one int per spatial dimension."""
    return (int(value),) * n if isinstance(value, int) else tuple(int(v) for v in value)


def _kernel_fits(layer: nn.Module, sizes: Sequence[int]) -> bool:
    """Whether the (dilated) kernel fits in each padded spatial size of a conv or pool."""
    padding = getattr(layer, "padding", 0)
    if padding == "same":
        return True
    pads = _numbers(0 if padding == "valid" else padding, len(sizes))
    kernels = _numbers(layer.kernel_size, len(sizes))
    dilations = _numbers(getattr(layer, "dilation", 1), len(sizes))
    return all(
        n + 2 * p >= d * (k - 1) + 1
        for n, p, d, k in zip(sizes, pads, dilations, kernels, strict=False)
    )
