"""Attributions as numbers: which parts of one input a class score rests on.

Each function takes a model and one normalised input x (1, C, H, W) and returns a map the
size of the input, (H, W) as a NumPy array, and the class it explains (default: the one the
model predicts):

- `saliency`: |d score / d pixel|, the largest over the channels (Simonyan et al. 2014);
- `gradcam`: a conv layer's maps weighted by their mean gradient, positive part, upsampled
  bilinearly and scaled to 0..1 (Selvaraju et al. 2017); the layer defaults to the last conv
  layer or block (`convlens.models.hooks.conv_layers`);
- `integrated_gradients`: gradients averaged on the straight path from a baseline image to x,
  times (x - baseline), summed over channels; signed, and they add up to the change of the
  score from the baseline to x (Sundararajan et al. 2017);
- `occlusion`: how much the score drops when a square window over a pixel is replaced by the
  baseline (averaged over the windows covering it); signed (Zeiler and Fergus 2014).

Captum computes them (Grad-CAM's layer hook is Captum's own: it keeps the layer's output and
passes a clone on, so an in-place ReLU after the layer cannot change what is kept, and it is
removed after the call). The model runs in eval mode during the call and gets each module's
mode back afterwards; gradients are taken with respect to the input or the layer only, so the
parameters' `.grad` stay as they were. x is moved to the model's device; maps come back on
the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import (
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from torch import nn

from convlens.errors import ConfigError, ModelError
from convlens.models.hooks import conv_layers, get_layer

Baseline = torch.Tensor | float


@contextmanager
def _in_eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode while open (no dropout, batch-norm statistics untouched); each module's own
    mode is restored on exit, so a model with some layers frozen in eval keeps them so."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _prepare(model: nn.Module, x: torch.Tensor, target: int | None) -> tuple[torch.Tensor, int]:
    """x detached on the model's device, and the class to explain (checked)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ConfigError(
            f"Expected one input of shape (1, C, H, W). Received: shape {tuple(x.shape)}"
        )
    param = next(model.parameters(), None)
    x = x.detach().to(param.device if param is not None else x.device)
    with torch.no_grad():
        logits = model(x)
    classes = logits.shape[1]
    if target is None:
        return x, int(logits.argmax(1)[0])
    if not 0 <= int(target) < classes:
        raise ConfigError(f"Expected a target class in 0..{classes - 1}. Received: {target}")
    return x, int(target)


def _baseline(baseline: Baseline, x: torch.Tensor) -> Baseline:
    return baseline.to(x.device, x.dtype) if isinstance(baseline, torch.Tensor) else baseline


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def saliency(
    model: nn.Module, x: torch.Tensor, target: int | None = None
) -> tuple[np.ndarray, int]:
    """|d score / d input|, the largest over channels, for the target (default: predicted)."""
    with _in_eval_mode(model):
        x, target = _prepare(model, x, target)
        grad = Saliency(model).attribute(x.requires_grad_(True), target=target, abs=True)
    return _numpy(grad[0].amax(0)), target


def gradcam(
    model: nn.Module, x: torch.Tensor, layer: str | None = None, target: int | None = None
) -> tuple[np.ndarray, int, str]:
    """Grad-CAM on a conv layer or block (default: the last), upsampled to the input, 0..1.

    Returns (map, class explained, layer name).
    """
    convs = conv_layers(model)
    if not convs:
        raise ModelError(
            "this model has no Conv2d layer for Grad-CAM; saliency, "
            "integrated-gradients and occlusion work on any model"
        )
    layer = layer or convs[-1]
    module = get_layer(model, layer, convs)  # a spec block: its output after the activation
    with _in_eval_mode(model):
        x, target = _prepare(model, x, target)
        # an input that requires grad lets gradients reach the layer even when weights froze
        cam = LayerGradCam(model, module).attribute(
            x.requires_grad_(True), target=target, relu_attributions=True
        )
    cam = LayerAttribution.interpolate(
        cam.detach(), tuple(x.shape[2:]), interpolate_mode="bilinear"
    )[0, 0]
    top = cam.max()
    return _numpy(cam / top if top > 0 else cam), target, layer


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    *,
    baseline: Baseline = 0.0,
    steps: int = 32,
) -> tuple[np.ndarray, int]:
    """Integrated Gradients from `baseline` (an image like x, or one value for every pixel;
    0.0 is the training mean after normalisation), summed over channels; signed."""
    if steps < 1:
        raise ConfigError(f"Expected steps >= 1 for integrated gradients. Received: {steps}")
    with _in_eval_mode(model):
        x, target = _prepare(model, x, target)
        attr = IntegratedGradients(model).attribute(
            x,
            baselines=_baseline(baseline, x),
            target=target,
            n_steps=steps,
            internal_batch_size=min(steps, 16),
        )
    return _numpy(attr[0].sum(0)), target


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    *,
    window: int | None = None,
    stride: int | None = None,
    baseline: Baseline = 0.0,
) -> tuple[np.ndarray, int]:
    """The drop of the target score when a `window` x `window` square (all channels) is set
    to `baseline`, sliding by `stride`; default window about 1/7 of the side, stride half."""
    with _in_eval_mode(model), torch.no_grad():
        x, target = _prepare(model, x, target)
        c, h, w = x.shape[1:]
        window = window or max(2, round(min(h, w) / 7))
        stride = stride or max(1, window // 2)
        if not 1 <= window <= min(h, w) or stride < 1:
            raise ConfigError(
                f"Expected an occlusion window of 1..{min(h, w)} pixels and a "
                f"stride >= 1. Received: window {window}, stride {stride}"
            )
        attr = Occlusion(model).attribute(
            x,
            sliding_window_shapes=(c, window, window),
            strides=(c, stride, stride),
            baselines=_baseline(baseline, x),
            target=target,
            perturbations_per_eval=32,
        )
    return _numpy(attr[0].mean(0)), target
