"""The explorer's logic, without the web: one image through the whole network (the overview),
the formula behind any value it shows, and the older per-layer predict and arithmetic.
The FastAPI app in `convlens.web.app` only routes to this."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from convlens.engine.familiar import unlike_training
from convlens.engine.prepare import ModelInput, prepare
from convlens.engine.runs import Run, load_run
from convlens.errors import ConfigError
from convlens.io import data_url, png_bytes
from convlens.models.hooks import spatial_layers
from convlens.web import formula, graph
from convlens.web.graph import INPUT, SOFTMAX, Trace

MAX_MAPS = 16  # feature maps per layer in the older predict answer
MAX_CHANNELS = 8  # input channels shown in the older arithmetic of one pixel
CACHE = 16  # inputs whose traces are kept for the formula view


def png_data_url(a: np.ndarray) -> str:
    """A 2-D float array (or (H, W, 3) uint8) as a PNG data URL, scaled to 0-255."""
    return data_url(png_bytes(a))


def page_note(note: str) -> str:
    """The inversion note in the page's words (its control is the invert menu, not a flag)."""
    return note.replace("--invert no keeps it", "choose invert: no to keep it").replace(
        "(--invert yes)", "(invert: yes)"
    )


class Explorer:
    """A loaded run, ready to answer the page's questions (thread-safe)."""

    def __init__(self, run: Run | str | Path, *, trust_code: bool = False) -> None:
        self.run = run if isinstance(run, Run) else load_run(run, trust_code=trust_code)
        self.model = self.run.model.eval()
        self.units = graph.units(self.model)
        self.layers = spatial_layers(self.model)
        modules = dict(self.model.named_modules())
        self.modules = {name: modules[name] for name in self.layers}
        self._seen: OrderedDict[str, Trace] = OrderedDict()
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
            "units": list(self.units),
            "metrics": self.run.metrics,
        }

    # ------------------------------------------------------------------------- one input
    def prepare(self, image: Any, invert: str = "auto") -> ModelInput:
        """One image (an upload, or a test image's uint8 pixels) as the model sees it: the
        run's one way, `convlens.engine.prepare`."""
        return prepare(self.run, image, invert=invert)

    def _trace(self, seen: ModelInput) -> tuple[str, Trace]:
        """Trace a prepared image through the model; remember it under a new token."""
        seen_by = graph.trace(self.model, seen.x, self.units, self.modules)  # x (1, C, H, W)
        token = uuid.uuid4().hex
        with self._lock:
            self._seen[token] = seen_by
            while len(self._seen) > CACHE:
                self._seen.popitem(last=False)
        return token, seen_by

    def overview(self, image: Any, **extra: Any) -> dict[str, Any]:
        """Everything the overview draws for one image (e.g. a test image's uint8 pixels
        (C, H, W), used as they are): the input channels, every column's maps (uint8 on the
        layer's scale) or vector, softmax with class names, which column feeds which, and the
        layers not drawn as columns with the reason."""
        return self._overview(self.prepare(image), **extra)

    def _overview(self, prepared: ModelInput, **extra: Any) -> dict[str, Any]:
        token, seen = self._trace(prepared)
        columns, listed = graph.layout(self.units, seen)
        probs = seen.logits.softmax(1)[0]
        pixels = prepared.pixels[0]  # (C, H, W) uint8
        c = pixels.shape[0]
        names = ["R", "G", "B"] if c == 3 else [f"channel {k}" for k in range(c)]
        input_col: dict[str, Any] = {
            "name": INPUT,
            "type": "input",
            "kind": "input",
            "from": "",
            "mix": "",
        }
        input_col |= {"shape": list(seen.x.shape[1:]), "channels": names}
        input_col |= graph.encode(seen.x[0])
        last = columns[-1]["name"] if columns else INPUT
        px = pixels.permute(1, 2, 0).numpy()
        return {
            "token": token,
            "image": png_data_url(px[..., 0] if c == 1 else px),
            "columns": [input_col, *columns],
            "listed": listed,
            "softmax": {
                "name": SOFTMAX,
                "from": last,
                "classes": list(self.run.classes),
                "logits": seen.logits[0].tolist(),
                "probs": probs.tolist(),
            },
            "top": _top(probs, self.run.classes),
            **extra,
        }

    def overview_image(self, img: Image.Image, *, invert: str = "auto") -> dict[str, Any]:
        """The overview of an uploaded image, and how it was prepared."""
        prepared = self.prepare(img, invert)
        decided = prepared.decisions[0]
        note = page_note(decided.note)
        ov = self._overview(prepared, inverted=decided.inverted, note=note)
        run, pixels = self.run, prepared.pixels[0]
        ov["unlike"] = unlike_training(pixels, run.mean, run.std, ov["top"][0]["prob"])
        return ov

    def predict_image(
        self, img: Image.Image, *, invert: str = "auto", top_k: int = 5
    ) -> dict[str, Any]:
        """Top-k classes, the input as the model sees it, and the first maps of every conv
        and pooling layer as PNGs (the answer of the predict route)."""
        prepared = self.prepare(img, invert)
        decided = prepared.decisions[0]
        token, seen = self._trace(prepared)
        probs = seen.logits.softmax(1)[0]
        px = prepared.pixels[0].permute(1, 2, 0).numpy()
        return {
            "token": token,
            "top": _top(probs, self.run.classes, top_k),
            "input": png_data_url(px[..., 0] if px.shape[2] == 1 else px),
            "inverted": decided.inverted,
            "note": page_note(decided.note),
            "layers": [
                self._layer_json(name, seen.extra[name])
                for name in self.layers
                if name in seen.extra and seen.extra[name].dim() == 4
            ],
        }

    def _layer_json(self, name: str, out: torch.Tensor) -> dict[str, Any]:
        maps = out[0].float()
        return {
            "name": name,
            "shape": list(maps.shape),
            "kind": "conv" if _conv_of(self.modules[name]) is not None else "pool",
            "maps": [
                {
                    "channel": k,
                    "png": png_data_url(maps[k].numpy()),
                    "min": float(maps[k].min()),
                    "max": float(maps[k].max()),
                }
                for k in range(min(MAX_MAPS, maps.shape[0]))
            ],
        }

    def _remembered(self, token: str) -> Trace:
        with self._lock:
            seen = self._seen.get(token)
        if seen is None:
            raise ConfigError("that input is no longer remembered; draw or upload it again")
        return seen

    # ------------------------------------------------------------------------- formula
    def formula(self, token: str, layer: str, channel: int, i: int = 0, j: int = 0) -> dict:
        """How value (channel, i, j) of a column (or unit `channel` of a vector, or class
        `channel` of softmax) comes about, with the model's numbers for that input."""
        seen = self._remembered(token)
        if layer == SOFTMAX:
            self._check_channel(layer, channel, seen.logits.shape[1])
            f = formula.softmax_formula(seen.logits[0].numpy(), channel, list(self.run.classes))
            return {"layer": layer, "channel": channel, "pixel": [0, 0], **f}
        if layer not in seen.outputs or layer not in self.units:
            raise ConfigError(f"no column {layer!r}; columns: {', '.join(seen.outputs)}, softmax")
        module, out = self.units[layer], seen.outputs[layer][0]
        self._check_channel(layer, channel, out.shape[0])
        if out.dim() == 3 and not (0 <= i < out.shape[1] and 0 <= j < out.shape[2]):
            raise ConfigError(
                f"Expected a pixel inside {out.shape[1]}x{out.shape[2]}. Received: ({i}, {j})"
            )
        index = (channel, i, j) if out.dim() == 3 else (channel,)
        value = float(out[index])
        x_in = seen.inputs[layer]
        parts = graph.parts(module)
        head, kind = parts[0], graph.kind_of(module)
        x = graph.as_array(x_in[0])
        base = {"layer": layer, "channel": channel, "pixel": [i, j], "value": value}
        if kind == "conv" and x.ndim == 3:
            f = formula.conv_formula(head, x, channel, i, j)  # type: ignore[arg-type]
            return base | f | {"steps": formula.after(parts[1:], channel, f["conv_value"])}
        if kind == "pool" and x.ndim == 3:
            hw = (out.shape[1], out.shape[2]) if out.dim() == 3 else (1, 1)
            f = formula.pool_formula(head, x, hw, channel, i if out.dim() == 3 else 0, j)
            return base | f
        if kind == "dense":
            f = formula.dense_formula(head, x.reshape(-1), channel)  # type: ignore[arg-type]
            return base | f | {"steps": formula.after(parts[1:], channel, f["dense_value"])}
        if kind in ("norm", "activation") and len(parts) == 1:
            before = float(x_in[0][index])
            step = formula.after(parts, channel, before)
            return base | {"kind": kind, "input": before, "steps": step}
        return base | formula.parts_formula(module, x_in, index)

    # ------------------------------------------------------------------------- older routes
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

    def arithmetic(self, token: str, layer: str, channel: int, i: int, j: int) -> dict[str, Any]:
        """How output pixel (i, j) of feature map `channel` of conv or pool `layer` comes about."""
        seen = self._remembered(token)
        module = self._module(layer)
        out = seen.extra[layer][0]
        self._check_channel(layer, channel, out.shape[0])
        if not (0 <= i < out.shape[1] and 0 <= j < out.shape[2]):
            raise ConfigError(
                f"Expected a pixel inside {out.shape[1]}x{out.shape[2]}. Received: ({i}, {j})"
            )
        x = graph.as_array(seen.extra[layer + ":in"][0])  # (C, H, W) layer input
        base: dict[str, Any] = {"layer": layer, "channel": channel, "pixel": [i, j]}
        base["value"] = float(out[channel, i, j])
        conv = _conv_of(module)
        if conv is None:
            return base | formula.pool_formula(
                module, x, (out.shape[1], out.shape[2]), channel, i, j
            )
        f = formula.conv_formula(conv, x, channel, i, j, MAX_CHANNELS)
        after = [type(m).__name__ for m in graph.parts(module)[1:]]
        return base | f | {"after": after}

    def _module(self, layer: str) -> nn.Module:
        if layer not in self.modules:
            raise ConfigError(f"no layer {layer!r}; layers: {', '.join(self.layers)}")
        return self.modules[layer]

    @staticmethod
    def _check_channel(layer: str, channel: int, n: int) -> None:
        if not 0 <= channel < n:
            raise ConfigError(f"Expected a channel of {layer} in 0..{n - 1}. Received: {channel}")


def _top(probs: torch.Tensor, classes: tuple[str, ...], k: int = 5) -> list[dict[str, Any]]:
    order = torch.argsort(probs, descending=True)[:k].tolist()
    return [{"class": classes[i], "index": i, "prob": float(probs[i])} for i in order]


def _conv_of(module: nn.Module) -> nn.Conv2d | None:
    if isinstance(module, nn.Conv2d):
        return module
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Conv2d):
        return module[0]
    return None
