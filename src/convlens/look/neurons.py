"""What one unit wants to see, where it looks, and how maps move: numbers (no drawing).

- `feature_vis`: activation maximisation (Erhan et al. 2009; Olah et al. 2017): gradient
  ascent on an input image to excite one channel of one layer (its mean over the map, taken
  before the layer's closing ReLU so that a channel off on the noise still learns), with
  the regularisers that make the result readable: random jitter (a shift of a few pixels
  each step), a small blur every few steps (high frequencies fade) and pixels kept in 0..1
  (a sigmoid). Several channels are optimised at once, one image each.
- `receptive_box`: the input region one unit of a layer sees, from the summary's receptive
  field (size and jump) and its layers' padding; `gradient_box` the box of input pixels the
  unit's gradient actually reaches, to check it against.
- `shift_response`: translation equivariance: shift the input by a few pixels; each conv or
  pool layer's maps shift with it (small difference once shifted back), while the dense
  output barely changes.

The model runs in eval mode; its parameters' `.grad` and modes are left as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convlens.errors import ConfigError, ModelError
from convlens.look.attribution import _in_eval_mode
from convlens.models.hooks import conv_layers, get_layer, hooked, spatial_layers
from convlens.models.summary import LayerRow, summary


@dataclass(frozen=True)
class FeatureVis:
    """Images that excite channels of a layer, and the activations before and after.

    Attributes:
        layer: the layer's name; channels: the channels, one image each.
        pixels: float (K, C, H, W) in 0..1, the optimised images.
        start, final: each channel's mean activation on its starting noise and on its image.
    """

    layer: str
    channels: tuple[int, ...]
    pixels: np.ndarray
    start: np.ndarray
    final: np.ndarray


def _channel_means(
    model: nn.Module, module: nn.Module, x: torch.Tensor, channels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K,) channel channels[k] of the layer for image k, averaged over the map: before the
    layer's closing activation (what is optimised: a ReLU that is off passes no gradient)
    and after it (the activation reported)."""
    kept: dict[str, torch.Tensor] = {}
    last = module[-1] if isinstance(module, nn.Sequential) and len(module) > 1 else None
    closing = last if last is not None and type(last).__module__.endswith("activation") else None

    def before(m: nn.Module, args: tuple) -> None:
        kept["pre"] = args[0].clone()  # before an in-place ReLU overwrites it

    def after(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        kept["post"] = out

    with hooked([closing] if closing is not None else [], pre=before):
        with hooked([module], post=after):
            model(x)
    rows = torch.arange(len(channels))

    def mean(t: torch.Tensor) -> torch.Tensor:
        picked = t[rows, channels]  # (K, H, W) or (K,)
        return picked.flatten(1).mean(1) if picked.dim() > 1 else picked

    return mean(kept.get("pre", kept["post"])), mean(kept["post"])


def _blur(p: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur per channel (replicated edges)."""
    k = torch.tensor([1.0, 2.0, 1.0], device=p.device)
    k2 = (k[:, None] * k[None, :]) / 16
    c = p.shape[1]
    return F.conv2d(F.pad(p, (1, 1, 1, 1), mode="replicate"), k2.expand(c, 1, 3, 3), groups=c)


def feature_vis(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    layer: str | None = None,
    channels: int | list[int] | tuple[int, ...] | None = None,
    *,
    mean: tuple[float, ...] = (0.5,),
    std: tuple[float, ...] = (0.5,),
    steps: int = 96,
    lr: float = 0.08,
    jitter: int = 2,
    blur_every: int = 4,
    seed: int = 0,
) -> FeatureVis:
    """Optimise one input image per channel to excite that channel of `layer`.

    Args:
        model: any CNN; input_shape: (C, H, W) of its input.
        layer: a layer name (default: the last conv layer); any layer with an output (a map's
            channel is averaged over its positions, a dense layer's unit taken as it is).
        channels: the channels to excite (default: the first eight, or all if fewer).
        mean, std: the normalisation the model was trained with (pixels 0..1 -> its input).
        steps, lr: Adam steps and learning rate on the pixels' logits.
        jitter: each step shifts the image by up to this many pixels (0: off).
        blur_every: blur the image every this many steps (0: off).
        seed: the starting noise.
    """
    names = conv_layers(model)
    if not names and layer is None:
        raise ModelError("feature-vis needs a conv layer; this model has none (pass a layer)")
    layer = layer or names[-1]
    module = get_layer(model, layer)
    device = next(model.parameters()).device
    c, h, w = input_shape
    with _in_eval_mode(model), torch.no_grad():
        width = _output_channels(model, module, torch.zeros(1, c, h, w, device=device))
    if channels is None:
        channels = tuple(range(min(8, width)))
    chosen = (channels,) if isinstance(channels, int) else tuple(channels)
    if not chosen or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in chosen):
        raise ConfigError(f"Expected channels as whole numbers >= 0. Received: {channels!r}")
    if steps < 1:
        raise ConfigError(f"Expected steps >= 1. Received: steps={steps!r}")
    if max(chosen) >= width:
        raise ConfigError(
            f"layer {layer!r} has {width} channels (0..{width - 1}). "
            f"Received: channels={list(chosen)}"
        )
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    index = torch.tensor(chosen, device=device)
    gen = torch.Generator().manual_seed(seed)
    logits = (0.1 * torch.randn(len(chosen), c, h, w, generator=gen)).to(device)  # faint
    logits.requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    rng = np.random.default_rng(seed)
    params = [p.requires_grad for p in model.parameters()]
    with _in_eval_mode(model):
        try:
            for p in model.parameters():
                p.requires_grad_(False)
            with torch.no_grad():
                start = _channel_means(model, module, (logits.sigmoid() - m) / s, index)[1]
            for step in range(steps):
                x = (logits.sigmoid() - m) / s
                if jitter:
                    dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, 2))
                    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                loss = -_channel_means(model, module, x, index)[0].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                if blur_every and (step + 1) % blur_every == 0 and step + 1 < steps:
                    with torch.no_grad():
                        logits.copy_(_blur(logits))
            with torch.no_grad():
                pixels = logits.sigmoid()
                final = _channel_means(model, module, (pixels - m) / s, index)[1]
        finally:
            for p, flag in zip(model.parameters(), params):
                p.requires_grad_(flag)
    return FeatureVis(layer, chosen, pixels.cpu().numpy(), start.cpu().numpy(), final.cpu().numpy())


def _output_channels(model: nn.Module, module: nn.Module, x: torch.Tensor) -> int:
    kept: list[torch.Tensor] = []
    with hooked([module], post=lambda m, args, out: kept.append(out)):
        model(x[:1])
    return int(kept[0].shape[1])


# ----------------------------------------------------------------------------- receptive field
@dataclass(frozen=True)
class Box:
    """Input pixels a unit sees: rows top..bottom and columns left..right, inclusive (may
    reach past the image: the padding); `size` and `jump` are the summary's numbers."""

    top: int
    left: int
    bottom: int
    right: int
    size: tuple[int, int]
    jump: tuple[int, int]

    def clipped(self, height: int, width: int) -> Box:
        """The part inside an image of height x width."""
        return Box(
            max(self.top, 0),
            max(self.left, 0),
            min(self.bottom, height - 1),
            min(self.right, width - 1),
            self.size,
            self.jump,
        )


def _row(model: nn.Module, input_shape: tuple[int, ...], layer: str) -> tuple[LayerRow, list]:
    rows = summary(model, input_shape).rows
    names = [r.name for r in rows]
    if layer not in names:
        raise ModelError(f"no layer {layer!r} in the summary; layers: {', '.join(names)}")
    at = names.index(layer)
    return rows[at], list(rows[: at + 1])


def receptive_box(
    model: nn.Module, input_shape: tuple[int, int, int], layer: str, unit: tuple[int, int]
) -> Box:
    """The input region unit (row, col) of `layer`'s map sees: the summary's receptive-field
    size, centred where the layers' strides and padding put that unit."""
    row, rows = _row(model, input_shape, layer)
    if row.rf_size is None or row.rf_jump is None:
        raise ModelError(f"layer {layer!r} sees the whole input (after a dense or global pool)")
    oh, ow = row.output_shape[-2:]
    if not (0 <= unit[0] < oh and 0 <= unit[1] < ow):
        raise ConfigError(
            f"layer {layer!r} has a {oh}x{ow} map; Expected a unit in 0..{oh - 1}, 0..{ow - 1}. "
            f"Received: {tuple(unit)}"
        )
    centre = [0.0, 0.0]  # input position of unit (0, 0)'s centre, per axis
    jump = [1, 1]
    size = list(input_shape[-2:])
    for r in rows:
        for in_hw, k, s, p, d, out_hw, _ceil in r.size_steps:
            if tuple(in_hw) != tuple(size):
                continue  # a parallel branch (a residual shortcut): centred alike
            for a in (0, 1):
                pad = (d[a] * (k[a] - 1)) // 2 if p == "same" else p[a]
                centre[a] += ((k[a] - 1) / 2 * d[a] - pad) * jump[a]
                jump[a] *= s[a]
            size = list(out_hw)
    half = [(n - 1) / 2 for n in row.rf_size]
    top = centre[0] + unit[0] * row.rf_jump[0] - half[0]
    left = centre[1] + unit[1] * row.rf_jump[1] - half[1]
    return Box(
        math.floor(top),
        math.floor(left),
        math.floor(top) + row.rf_size[0] - 1,
        math.floor(left) + row.rf_size[1] - 1,
        row.rf_size,
        row.rf_jump,
    )


def unit_gradient(
    model: nn.Module, x: torch.Tensor, layer: str, unit: tuple[int, int], channel: int = 0
) -> np.ndarray:
    """|d unit / d input| (H, W), the largest over input channels, of one unit of `layer`."""
    module = get_layer(model, layer)
    x = x.detach().clone().requires_grad_(True)
    with _in_eval_mode(model):
        kept: list[torch.Tensor] = []
        with hooked([module], post=lambda m, args, out: kept.append(out)):
            model(x)
        (grad,) = torch.autograd.grad(kept[0][0, channel, unit[0], unit[1]], x)
    return grad[0].abs().amax(0).cpu().numpy()


def gradient_box(gradient: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the nonzero gradient, or None where it is all zero."""
    rows, cols = np.nonzero(gradient > 0)
    if not len(rows):
        return None
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


# ----------------------------------------------------------------------------- equivariance
@dataclass(frozen=True)
class ShiftResponse:
    """How each layer answers a shift of the input by `shift` pixels to the right.

    Attributes:
        layers: spatial layers (convs, pools) then "output" (the class probabilities).
        moved: relative change of each layer's maps in place, ||f(Tx) - f(x)|| / ||f(x)||.
        after_shift_back: the same once the maps are shifted back by shift / jump cells
            (NaN where the shift is not a whole number of cells); small = equivariant.
        output_change: half the L1 distance of the class probabilities (0 = the same, 1 =
            disjoint).
    """

    shift: int
    layers: tuple[str, ...]
    moved: np.ndarray
    after_shift_back: np.ndarray
    output_change: float


def shift_right(x: torch.Tensor, shift: int) -> torch.Tensor:
    """x (B, C, H, W) moved `shift` pixels to the right, the left edge repeated."""
    return F.pad(x[..., : x.shape[-1] - shift], (shift, 0, 0, 0), mode="replicate")


@torch.no_grad()
def shift_response(model: nn.Module, x: torch.Tensor, shift: int = 4) -> ShiftResponse:
    """Maps of every conv/pool layer and the output, for x and x shifted right by `shift`."""
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 < shift < x.shape[-1]:
        raise ConfigError(f"Expected a shift of 1..{x.shape[-1] - 1} pixels. Received: {shift!r}")
    names = spatial_layers(model)
    rows = {r.name: r for r in summary(model, tuple(x.shape[1:])).rows}
    modules = [get_layer(model, n) for n in names]
    outs: list[dict[int, torch.Tensor]] = [{}, {}]
    with _in_eval_mode(model):
        probs = []
        for k, image in enumerate((x, shift_right(x, shift))):
            keep = outs[k]
            with hooked(modules, post=lambda m, a, o, keep=keep: keep.setdefault(id(m), o.clone())):
                probs.append(model(image).softmax(1))
    moved, back = [], []
    for name, module in zip(names, modules):
        a, b = outs[0][id(module)], outs[1][id(module)]
        norm = a.norm().clamp_min(1e-12)
        moved.append(float((b - a).norm() / norm))
        row = rows.get(name)
        jump = row.rf_jump[1] if row is not None and row.rf_jump else None
        cells = shift // jump if jump and shift % jump == 0 else 0
        if not cells or cells >= a.shape[-1]:
            back.append(float("nan"))
            continue
        aa, bb = a[..., : a.shape[-1] - cells], b[..., cells:]  # where both see the image
        back.append(float((bb - aa).norm() / aa.norm().clamp_min(1e-12)))
    change = float((probs[1] - probs[0]).abs().sum() / 2 / len(x))
    return ShiftResponse(shift, tuple(names), np.array(moved), np.array(back), change)
