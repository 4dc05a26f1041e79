"""The explorer's logic, without the web: predict with every activation, and the arithmetic
of one feature-map pixel. The FastAPI app in `convlens.web.app` only routes to this."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from convlens import data as datamod
from convlens.engine.predict import prepare_image
from convlens.engine.runs import Run, load_run
from convlens.errors import ConfigError
from convlens.io import data_url, png_bytes
from convlens.models.hooks import forward_hooks, spatial_layers
from convlens.primer.geometry import Window, adaptive_window, window

MAX_MAPS = 16  # feature maps sent per layer
MAX_CHANNELS = 8  # input channels shown in the arithmetic of one pixel
CACHE = 16  # inputs whose activations are kept for the arithmetic panel


def png_data_url(a: np.ndarray) -> str:
    """A 2-D float array (or (H, W, 3) uint8) as a PNG data URL, scaled to 0-255."""
    return data_url(png_bytes(a))


@dataclass
class _Seen:
    """What one input did inside the model: inputs and outputs of every watched module."""

    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]


class Explorer:
    """A loaded run, ready to answer the page's questions (thread-safe)."""

    def __init__(self, run: Run | str | Path) -> None:
        self.run = run if isinstance(run, Run) else load_run(run)
        self.model = self.run.model.eval()
        self.layers = spatial_layers(self.model)
        modules = dict(self.model.named_modules())
        self.modules = {name: modules[name] for name in self.layers}
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        c, h, w = self.run.input_shape
        return {
            "name": self.run.path.name,
            "classes": list(self.run.classes),
            "input_shape": [c, h, w],
            "grayscale": c == 1,
            "data": self.run.info["data"],
            "model": self.run.info.get("model"),
            "layers": self.layers,
            "metrics": self.run.metrics,
        }

    # ------------------------------------------------------------------------- predict
    def predict_image(
        self, img: Image.Image, *, invert: str = "auto", top_k: int = 5
    ) -> dict[str, Any]:
        """Top-k classes, the input as the model sees it, and every layer's feature maps."""
        prepared = prepare_image(
            img,
            self.run.input_shape,
            self.run.mean,
            invert=invert,
            data=str(self.run.info.get("data", "")),
        )
        x = datamod.normalize(prepared.pixels[None], self.run.mean, self.run.std)
        seen, logits = self._forward(x)
        probs = logits.softmax(1)[0].numpy()
        order = np.argsort(-probs)[:top_k]
        token = uuid.uuid4().hex
        with self._lock:
            self._seen[token] = seen
            while len(self._seen) > CACHE:
                self._seen.popitem(last=False)
        px = prepared.pixels.permute(1, 2, 0).numpy()
        return {
            "token": token,
            "top": [{"class": self.run.classes[i], "prob": float(probs[i])} for i in order],
            "input": png_data_url(px[..., 0] if px.shape[2] == 1 else px),
            "inverted": prepared.inverted,
            "note": prepared.note,
            "layers": [
                self._layer_json(name, seen.outputs[name])
                for name in self.layers
                if name in seen.outputs and seen.outputs[name].dim() == 4
            ],
        }

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor) -> tuple[_Seen, torch.Tensor]:
        with forward_hooks(self.model, self.layers, inputs=True) as kept:
            logits = self.model(x).float()
        seen = _Seen(
            {name: kept[name + ":in"] for name in self.layers if name + ":in" in kept},
            {name: kept[name] for name in self.layers if name in kept},
        )
        return seen, logits

    def _layer_json(self, name: str, out: torch.Tensor) -> dict[str, Any]:
        maps = out[0].float()
        shown = min(MAX_MAPS, maps.shape[0])
        return {
            "name": name,
            "shape": list(maps.shape),
            "kind": _kind(self.modules[name]),
            "maps": [
                {
                    "channel": k,
                    "png": png_data_url(maps[k].numpy()),
                    "min": float(maps[k].min()),
                    "max": float(maps[k].max()),
                }
                for k in range(shown)
            ],
        }

    # ------------------------------------------------------------------------- filters
    def filter(self, layer: str, channel: int) -> dict[str, Any]:
        """The kernel that makes feature map `channel` of conv layer `layer`."""
        conv = _conv_of(self._module(layer))
        if conv is None:
            raise ConfigError(
                f"{layer} is a pooling layer: it has no filter, it takes the "
                f"{'max' if 'Max' in type(self._module(layer)).__name__ else 'mean'}"
                f" of each window"
            )
        self._check_channel(layer, channel, conv.out_channels)
        w = conv.weight[channel].detach().float()  # (C, kh, kw)
        return {
            "layer": layer,
            "channel": channel,
            "in_channels": int(w.shape[0]),
            "weights": w[:MAX_CHANNELS].tolist(),
            "bias": float(conv.bias[channel].detach()) if conv.bias is not None else 0.0,
        }

    # ------------------------------------------------------------------------- arithmetic
    def arithmetic(self, token: str, layer: str, channel: int, i: int, j: int) -> dict[str, Any]:
        """How output pixel (i, j) of feature map `channel` of `layer` comes about."""
        with self._lock:
            seen = self._seen.get(token)
        if seen is None:
            raise ConfigError("that input is no longer remembered; draw or upload it again")
        module = self._module(layer)
        out = seen.outputs[layer][0]
        self._check_channel(layer, channel, out.shape[0])
        if not (0 <= i < out.shape[1] and 0 <= j < out.shape[2]):
            raise ConfigError(
                f"Expected a pixel inside {out.shape[1]}x{out.shape[2]}. Received: ({i}, {j})"
            )
        x = seen.inputs[layer][0].float().numpy()  # (C, H, W) layer input
        conv = _conv_of(module)
        if conv is None:
            return self._pool_arithmetic(layer, module, x, out, channel, i, j)
        win = window(
            x.shape[1:],
            conv.kernel_size,
            (i, j),
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
        )
        per_group = conv.in_channels // conv.groups  # the input channels this filter sees
        first = channel // (conv.out_channels // conv.groups) * per_group
        patch = win.read(x[first : first + per_group])  # (C, kh, kw), zero padding
        w = conv.weight[channel].detach().float().numpy()
        per_channel = (patch * w).sum((1, 2))
        bias = float(conv.bias[channel].detach()) if conv.bias is not None else 0.0
        total = float(per_channel.sum()) + bias
        shown = min(MAX_CHANNELS, patch.shape[0])
        return {
            "kind": "conv",
            "layer": layer,
            "channel": channel,
            "pixel": [i, j],
            "in_channels": int(patch.shape[0]),
            "shown_channels": shown,
            "patch": patch[:shown].tolist(),
            "kernel": w[:shown].tolist(),
            "channel_sums": per_channel[:shown].tolist(),
            "other_channels_sum": float(per_channel[shown:].sum()),
            "bias": bias,
            "conv_value": total,
            "value": float(out[channel, i, j]),
            "after": _after(module),
        }

    def _pool_arithmetic(
        self,
        layer: str,
        module: nn.Module,
        x: np.ndarray,
        out: torch.Tensor,
        channel: int,
        i: int,
        j: int,
    ) -> dict[str, Any]:
        """The window of a pooling output pixel. Cells that do not count (max pooling's
        padding, or past the input with ceil_mode) are null; mean pooling's zero padding
        counts in the average, as in PyTorch (count_include_pad)."""
        mode = "max" if "Max" in type(module).__name__ else "mean"
        (h, w), (oh, ow) = x.shape[1:], out.shape[1:]
        win = _pool_window(module, (h, w), (oh, ow), i, j)
        zeros_count = mode == "mean" and getattr(module, "count_include_pad", True)
        patch = win.read(x[channel], fill=0.0 if zeros_count else np.nan, beyond=np.nan)
        return {
            "kind": "pool",
            "mode": mode,
            "layer": layer,
            "channel": channel,
            "pixel": [i, j],
            "patch": [[v if np.isfinite(v) else None for v in row] for row in patch.tolist()],
            "value": float(out[channel, i, j]),
        }

    # ------------------------------------------------------------------------- helpers
    def _module(self, layer: str) -> nn.Module:
        if layer not in self.modules:
            raise ConfigError(f"no layer {layer!r}; layers: {', '.join(self.layers)}")
        return self.modules[layer]

    @staticmethod
    def _check_channel(layer: str, channel: int, n: int) -> None:
        if not 0 <= channel < n:
            raise ConfigError(f"Expected a channel of {layer} in 0..{n - 1}. Received: {channel}")


def _conv_of(module: nn.Module) -> nn.Conv2d | None:
    if isinstance(module, nn.Conv2d):
        return module
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Conv2d):
        return module[0]
    return None


def _kind(module: nn.Module) -> str:
    return "conv" if _conv_of(module) is not None else "pool"


def _after(module: nn.Module) -> list[str]:
    """What a conv block applies after the convolution (e.g. BatchNorm2d, ReLU)."""
    if isinstance(module, nn.Sequential):
        return [type(m).__name__ for m in list(module)[1:]]
    return []


def _pool_window(
    module: nn.Module, hw: tuple[int, int], out_hw: tuple[int, int], i: int, j: int
) -> Window:
    """Which cells of the (padded) input pooling output pixel (i, j) reads."""
    if isinstance(
        module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    ):
        return adaptive_window(hw, out_hw, (i, j))
    pool: Any = module  # MaxPool2d or AvgPool2d: kernel_size, stride, padding, ceil_mode
    return window(
        hw,
        pool.kernel_size,
        (i, j),
        stride=pool.stride or pool.kernel_size,
        padding=pool.padding,
        dilation=getattr(pool, "dilation", 1),
        ceil_mode=pool.ceil_mode,
    )
