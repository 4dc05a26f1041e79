"""Precision and memory layout: the speed switches that leave the numbers (nearly) alone.

`autocast` runs the forward pass in bfloat16/float16 where the config asks for it (weights and
optimizer state stay float32); `channels_last_model` and `to_model_input` put convolutions in
NHWC memory layout. Training and evaluation use these same three, so a run is tested the way
it was trained.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["amp_dtype", "autocast", "channels_last_model", "to_model_input"]


def amp_dtype(amp: str, device_type: str = "cpu") -> torch.dtype | None:
    """bfloat16/float16 for mixed precision, None for plain float32 ("auto": native bf16 only)."""
    if amp == "auto":
        if device_type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        native = (
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
        return torch.bfloat16 if device_type == "cpu" and native else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]


def autocast(amp: str, device_type: str = "cpu") -> Any:
    """The autocast context of an `amp` mode (a no-op context for float32)."""
    dtype = amp_dtype(amp, device_type)
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def channels_last_model(model: nn.Module, channels_last: bool) -> nn.Module:
    """`model` with its weights in NHWC layout when `channels_last` (in place, same numbers)."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


def to_model_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A batch in the layout the model runs in (NHWC when `channels_last`)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
