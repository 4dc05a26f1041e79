"""`feature_maps`: what every conv and pooling layer of a model makes of one image."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from convlens import data as datamod
from convlens.api.images import to_image
from convlens.engine.predict import prepare_image
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
        model: a Run (from `cl.train` or `cl.load`: the image is prepared and normalised the
            way it was trained) or any nn.Module, trained or not (the image is converted to
            its `input_shape` and scaled to 0-1).
        image: a file path, PIL image, numpy array or uint8 tensor of pixels; or a float
            tensor (C, H, W) or (1, C, H, W), which is the model's input as it is.
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
    """(the module, its input (1, C, H, W)) for a Run or an nn.Module and one image."""
    run = getattr(model, "engine_run", model)  # a front-door Run holds the engine's
    if isinstance(run, EngineRun):
        net = run.model
        if _is_input(image):
            return net, _batched(image)
        prepared = prepare_image(
            to_image(image), run.input_shape, run.mean, data=str(run.info.get("data", ""))
        )
        return net, datamod.normalize(prepared.pixels[None], run.mean, run.std)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Expected a model: an nn.Module or a Run from cl.train / cl.load. "
            f"Received: {type(model).__name__}"
        )
    if _is_input(image):
        return model, _batched(image)
    if getattr(model, "input_shape", None) is None:
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
    prepared = prepare_image(to_image(image), shape, mean=())
    return model, prepared.pixels[None].float() / 255


def _is_input(image: Any) -> bool:
    return isinstance(image, torch.Tensor) and image.is_floating_point()


def _batched(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        return x[None]
    if x.dim() == 4 and x.shape[0] == 1:
        return x
    raise ConfigError(
        f"Expected a float tensor (C, H, W) or (1, C, H, W) as the model's input. "
        f"Received: shape {tuple(x.shape)}"
    )
