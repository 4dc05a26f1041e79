"""Pictures of what a trained model does with one image: feature maps of every conv and pool
layer, a saliency map (input gradient) and Grad-CAM on a conv layer."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from convlens.models.hooks import capture_activations, conv_layers, get_layer, spatial_layers

MAX_MAPS = 16   # channels drawn per layer


def _show_input(ax, pixels: torch.Tensor, title: str) -> None:
    img = pixels.permute(1, 2, 0).numpy()
    ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def draw_feature_maps(model: nn.Module, x: torch.Tensor, pixels: torch.Tensor, *,
                      title: str = "") -> Figure:
    """Feature maps of every conv/pool layer for one normalised input x (1, C, H, W);
    `pixels` (C, H, W) uint8 is that input as a picture."""
    acts = capture_activations(model, x, spatial_layers(model))
    acts = {k: v for k, v in acts.items() if v.dim() == 4}
    rows = 1 + len(acts)
    fig, axes = plt.subplots(rows, MAX_MAPS // 2 + 1, figsize=(13, 1.6 * rows + 1),
                             squeeze=False, gridspec_kw={"width_ratios": [1.4] +
                                                         [1] * (MAX_MAPS // 2)})
    for ax in axes.flat:
        ax.axis("off")
    _show_input(axes[0, 0], pixels, "input")
    axes[0, 0].axis("on")
    for r, (name, a) in enumerate(acts.items(), start=0):
        maps = a[0].float()
        shown = min(MAX_MAPS // 2, maps.shape[0])
        label = axes[r + 1 if r + 1 < rows else r, 0]
        label.text(0.95, 0.5, f"{name}\n{'x'.join(map(str, maps.shape))}"
                   + (f"\nfirst {shown} of {maps.shape[0]}" if shown < maps.shape[0] else ""),
                   ha="right", va="center", fontsize=8, transform=label.transAxes)
        for j in range(shown):
            ax = axes[r + 1, j + 1]
            ax.imshow(maps[j].numpy(), cmap="viridis")
            ax.axis("on"), ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title or "Feature maps of every conv and pooling layer (bright = strong "
                          "activation)", fontsize=10)
    return fig


def saliency(model: nn.Module, x: torch.Tensor, target: int | None = None
             ) -> tuple[np.ndarray, int]:
    """|d logit / d input|, max over channels, for the target (default: predicted) class."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        target = int(logits.argmax(1)) if target is None else target
        grad, = torch.autograd.grad(logits[0, target], x)
    return grad[0].abs().amax(0).numpy(), target


def gradcam(model: nn.Module, x: torch.Tensor, layer: str | None = None,
            target: int | None = None) -> tuple[np.ndarray, int, str]:
    """Grad-CAM (Selvaraju et al. 2017) on a conv layer, upsampled to the input size."""
    convs = conv_layers(model)
    layer = layer or (convs[-1] if convs else "")
    module = get_layer(model, layer, convs)   # a spec block: its output after the activation
    kept: dict[str, torch.Tensor] = {}

    def keep(mod, inputs, output):
        kept["act"] = output
        output.register_hook(lambda g: kept.__setitem__("grad", g))
    handle = module.register_forward_hook(keep)
    model.eval()
    try:
        with torch.enable_grad():
            inp = x.detach().clone().requires_grad_(True)  # gradients flow even if weights froze
            logits = model(inp)
            target = int(logits.argmax(1)) if target is None else target
            logits[0, target].backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    weights = kept["grad"][0].mean(dim=(1, 2))                      # (K,) channel importance
    cam = F.relu((weights[:, None, None] * kept["act"][0]).sum(0))  # (h, w)
    cam = F.interpolate(cam[None, None], size=x.shape[2:], mode="bilinear",
                        align_corners=False)[0, 0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    return cam.detach().numpy(), target, layer


def draw_attribution(pixels: torch.Tensor, heat: np.ndarray, *, kind: str, label: str
                     ) -> Figure:
    """Three panels: the image, the map, and the map over the image."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    _show_input(axes[0], pixels, "input")
    axes[1].imshow(heat, cmap="inferno")
    axes[1].set_title(kind, fontsize=9)
    _show_input(axes[2], pixels, "overlay")
    axes[2].imshow(heat, cmap="inferno", alpha=0.55)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"{kind}: where the model looked for '{label}'", fontsize=10)
    fig.tight_layout()
    return fig
