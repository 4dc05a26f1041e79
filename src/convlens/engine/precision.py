"""Precision and memory layout: the speed switches that leave the numbers (nearly) alone.

`autocast` runs the forward pass in bfloat16/float16 where the config asks for it (weights and
optimizer state stay float32); `channels_last_model` and `to_model_input` put convolutions in
NHWC memory layout. Training and evaluation use these same three, so a run is tested the way
it was trained.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["amp_dtype", "autocast", "bf16_instructions", "channels_last_model", "to_model_input"]

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bfloat16 arithmetic on x86


@functools.cache
def bf16_instructions() -> bool | None:
    """Whether this x86 processor computes bfloat16 in hardware (its /proc/cpuinfo flags);
    None where that cannot be read (not Linux, not x86). oneDNN also says "supported" on
    AVX-512 processors without them, where it emulates bfloat16: on a 2-core Intel Xeon with
    AVX-512 but no avx512_bf16, a fastcnn step of 256 images took 1.7x as long in bfloat16
    as in float32 (2026-12-07, a busy machine, 1 thread, interleaved)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return any(flag in value.split() for flag in BF16_FLAGS)
    return None  # no x86 flags line (e.g. ARM): oneDNN's word stands


def amp_dtype(amp: str, device_type: str = "cpu") -> torch.dtype | None:
    """bfloat16/float16 for mixed precision, None for plain float32 ("auto": bfloat16 only
    where the processor computes it natively: oneDNN supports it and, on x86, the processor
    has `BF16_FLAGS`)."""
    if amp == "auto":
        if device_type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        native = (
            torch.backends.mkldnn.is_available()
            and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            and bf16_instructions() is not False
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
