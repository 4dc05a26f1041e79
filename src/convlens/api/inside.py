"""`feature_maps`: what every conv and pooling layer of a model makes of one image."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from convlens.engine.prepare import InputFormat, prepare
from convlens.engine.runs import Run as EngineRun
from convlens.errors import ConfigError
from convlens.models.hooks import capture_activations, spatial_layers
from convlens.models.summary import model_input_shape

__all__ = ["feature_maps", "model_input"]


def feature_maps(
    model: Any, image: Any, *, layers: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """The output of every conv and pooling layer for one image, by layer name, in order.

    Args:
        model: a Run (from `cl.train` or `cl.load`: the image goes through `run.prepare`,
            exactly as `run.predict` sees it) or any nn.Module, trained or not (the same
            preparation for its `input_shape`, pixels scaled to 0-1).
        image: one image, anything `run.prepare` takes: a file path, PIL image, numpy array
            or tensor (what is used as it is: the rule in `convlens.engine.prepare`).
        layers: only these layers (default: every conv and pooling layer).

    Returns:
        {layer name: tensor (C, H, W)}, the batch dimension dropped.

    Example:
        >>> maps = cl.feature_maps(model, "shoe.png")
        >>> {name: tuple(m.shape) for name, m in maps.items()}
    """
    net, x = model_input(model, image)
    weight = next(net.parameters(), None)
    if weight is not None:
        x = x.to(weight.device)
    names = spatial_layers(net) if layers is None else list(layers)
    return {name: t[0].cpu() for name, t in capture_activations(net, x, names).items()}


def model_input(model: Any, image: Any) -> tuple[nn.Module, torch.Tensor]:
    """(the module, its input (1, C, H, W)) for a Run or an nn.Module and one image, by
    `convlens.engine.prepare` (a model without a run: pixels scaled to 0-1, not normalised)."""
    run = getattr(model, "engine_run", model)  # a front-door Run holds the engine's
    if isinstance(run, EngineRun):
        return run.model, _one(prepare(run, image).x)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Expected a model: an nn.Module or a Run from cl.train / cl.load. "
            f"Received: {type(model).__name__}"
        )
    if getattr(model, "input_shape", None) is None:
        if isinstance(image, torch.Tensor) and image.is_floating_point():
            return model, _one(image[None] if image.dim() == 3 else image)
        raise ConfigError(
            f"{type(model).__name__} has no input_shape attribute: set one, e.g. "
            f"model.input_shape = (1, 28, 28), or pass the image as a float tensor (C, H, W)"
        )
    shape = model_input_shape(model)
    if len(shape) != 3:
        raise ConfigError(
            f"feature maps need an image input (C, H, W); {type(model).__name__} takes "
            f"input_shape={shape}"
        )
    return model, _one(prepare(InputFormat(shape), image).x)


def _one(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 4 or x.shape[0] != 1:
        raise ConfigError(
            f"Expected one image (feature maps are of one image; a float tensor (C, H, W) or "
            f"(1, C, H, W) is the model's input). Received: shape {tuple(x.shape)}"
        )
    return x
