"""Look at what layers compute: activations captured with forward hooks, always removed.

Works with any `nn.Module`: layers are found by name with `named_modules()`. Outputs are
cloned as they pass, so an in-place ReLU that follows a layer cannot change what we keep.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from convlens.errors import ModelError, suggest

SPATIAL = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
           nn.AdaptiveMaxPool2d)


POINTWISE = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm,
             nn.modules.dropout._DropoutNd, nn.Identity)


def _pointwise(module: nn.Module) -> bool:
    """Norm, activation, dropout: a module that keeps the map's shape and meaning."""
    return (isinstance(module, POINTWISE)
            or type(module).__module__ == "torch.nn.modules.activation")


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
    return [_block(model, name) for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d)]


def spatial_layers(model: nn.Module) -> list[str]:
    """Names of the conv and pooling layers (the ones with feature maps), in order."""
    return [_block(model, name) for name, m in model.named_modules()
            if isinstance(m, SPATIAL) and name]


def conv_module(model: nn.Module, name: str) -> nn.Conv2d:
    """The Conv2d of a conv layer or block name (for its weights)."""
    module = get_layer(model, name, conv_layers(model))
    return module[0] if isinstance(module, nn.Sequential) else module


def get_layer(model: nn.Module, name: str, choices: Sequence[str] | None = None) -> nn.Module:
    """The submodule called `name`; ModelError listing the possible names otherwise."""
    modules = dict(model.named_modules())
    allowed = list(choices) if choices is not None else [n for n in modules if n]
    if name not in modules or name not in allowed:
        raise ModelError(f"no layer {name!r} in this model{suggest(name, allowed)}; layers: "
                         f"{', '.join(allowed) or 'none'}")
    return modules[name]


@contextmanager
def forward_hooks(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """While open, the outputs of the named layers land in the yielded dict (cloned)."""
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            def keep(module, inputs, output, name=name):
                outputs[name] = output.detach().clone()
            handles.append(get_layer(model, name).register_forward_hook(keep))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@torch.inference_mode()
def capture_activations(model: nn.Module, x: torch.Tensor,
                        layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
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
