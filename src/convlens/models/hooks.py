"""Forward hooks, in one place: which layers a model has, and what they compute.

`hooked` is the only function in convlens that registers forward hooks (`grep
register_forward_hook` finds this module alone); everything else builds on it:
`forward_hooks` / `capture_activations` (feature maps, the explorer, the doctor) and the
summary's recorder. Attributions (`convlens.look.attribution`) are computed by Captum, whose
own layer hooks live inside Captum. Hooks are always removed, even when the forward pass
fails. Works with any `nn.Module`: layers are found by name with `named_modules()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from convlens.errors import ModelError, suggest

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
        with forward_hooks(model, names) as outputs:
            model(x)
    finally:
        model.train(was_training)
    return {name: outputs[name] for name in names if name in outputs}
