"""Filter history: a training callback that keeps conv kernels epoch by epoch.

The kernels of the recorded layers go into `filters.safetensors` in the run folder, one
tensor per layer and epoch (`conv1/epoch_000` are the initial weights), rewritten atomically
after every epoch for the pictures. The recorded kernels are also the callback's state_dict,
so they travel in the checkpoint and a resumed run continues the same history.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from convlens.engine.callbacks import Callback, TrainState
from convlens.engine.checkpoint import plain_module
from convlens.errors import ConfigError, DataError
from convlens.io import atomic_write_bytes
from convlens.models.hooks import conv_layers, conv_module

FILTERS_FILE = "filters.safetensors"
KEY = re.compile(r"^(?P<layer>.+)/epoch_(?P<epoch>\d{3,})$")


def resolve_layers(model: torch.nn.Module, record: str) -> list[str]:
    """Layer names for `record` = 'first', 'all', 'none' or comma-separated names."""
    convs = conv_layers(plain_module(model))
    text = record.strip().lower()
    if text == "none":
        return []
    if text == "first":
        return convs[:1]
    if text == "all":
        return convs
    names = [n.strip() for n in record.split(",") if n.strip()]
    unknown = [n for n in names if n not in convs]
    if unknown:
        raise ConfigError(
            f"--record-filters: no conv layer {unknown[0]!r}; conv layers: "
            f"{', '.join(convs) or 'none'} (or first, all, none)"
        )
    return names


def read_history(run_dir: str | Path) -> dict[str, dict[int, torch.Tensor]]:
    """{layer: {epoch: kernels (O, C, kh, kw)}} from a run folder ({} when none)."""
    path = Path(run_dir) / FILTERS_FILE
    if not path.is_file():
        return {}
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{path}: unreadable filter history ({exc})") from None
    history: dict[str, dict[int, torch.Tensor]] = {}
    for key, value in tensors.items():
        match = KEY.match(key)
        if match:
            history.setdefault(match["layer"], {})[int(match["epoch"])] = value
    return history


class FilterHistory(Callback):
    """Record the kernels of `layers` at the start (epoch 0) and after every epoch."""

    def __init__(self, run_dir: str | Path, layers: list[str]) -> None:
        self.path = Path(run_dir) / FILTERS_FILE
        self.layers = layers
        self.tensors: dict[str, torch.Tensor] = {}  # "layer/epoch_000" -> kernels

    def on_fit_start(self, state: TrainState) -> None:
        if not self.tensors:  # a new run (a resumed one got its history from the checkpoint)
            self._record(state.model, 0)

    def on_epoch_end(self, state: TrainState) -> None:
        self._record(state.model, state.epoch)  # state.epoch counts finished epochs here

    def state_dict(self) -> dict[str, Any]:
        return {"tensors": dict(self.tensors)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.tensors = dict(state_dict["tensors"])

    def _record(self, model: torch.nn.Module, epoch: int) -> None:
        for layer in self.layers:
            weight = conv_module(plain_module(model), layer).weight
            weight = weight.detach().float().cpu().contiguous().clone()
            self.tensors[f"{layer}/epoch_{epoch:03d}"] = weight
        atomic_write_bytes(self.path, save(self.tensors))
