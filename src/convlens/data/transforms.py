"""Batched tensor transforms: normalisation and augmentation of whole batches (B, C, H, W).

Augmentation works on the batch as one tensor (airbench style): one padded tensor and
per-sample offsets gathered by advanced indexing for random crops, one `torch.where` for
flips, one mask for cutout. All randomness is drawn on the CPU from the `torch.Generator`
passed in, then moved to the batch's device, so a batch augments to bitwise the same pixels
on every device and in every run with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from convlens.errors import ConfigError, suggest


def normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """uint8 (or 0-255 float) images (B, C, H, W) -> float32 (x/255 - mean) / std per channel.

    Works on any device: the statistics are put on the images' device.
    """
    if images.ndim != 4 or images.shape[1] != len(mean) or len(mean) != len(std):
        raise ConfigError(
            f"Expected images (B, C, H, W) with C = {len(mean)} channels (mean "
            f"{tuple(mean)}, std {tuple(std)}). Received: shape "
            f"{tuple(images.shape)}"
        )
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255 - m) / s


@dataclass(frozen=True)
class Augment:
    """Batched augmentation settings.

    Attributes:
        crop_padding: pad every side with this many zero pixels, then crop back to the
            original size at a random offset (a random shift of up to +-crop_padding pixels).
        flip: mirror left-right with probability 1/2 (not for digits or text!).
        cutout: zero one random square of this side per image (0: off).
    """

    crop_padding: int = 0
    flip: bool = False
    cutout: int = 0

    def __post_init__(self) -> None:
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"Expected {name} to be a whole number >= 0. Received: {name}={value!r}"
                )

    def __bool__(self) -> bool:
        return bool(self.crop_padding or self.flip or self.cutout)


# name in the text form -> (Augment field, value when given without "=N")
AUGMENTATIONS = {"crop": ("crop_padding", 2), "flip": ("flip", True), "cutout": ("cutout", 8)}


def parse_augment(text: str) -> Augment:
    """'crop,flip' or 'crop=4,cutout=6' -> Augment; '' or 'none' -> no augmentation.

    Raises:
        ConfigError: an unknown name (with the allowed ones) or a bad number of pixels.
    """
    values: dict[str, Any] = {}  # Augment field -> pixels or on/off
    for part in (p.strip() for p in str(text).replace("+", ",").split(",")):
        if not part or part.lower() in ("none", "off"):
            continue
        word, _, number = part.partition("=")
        word = word.strip().lower()
        if word not in AUGMENTATIONS:
            raise ConfigError(
                f"unknown augmentation {word!r}{suggest(word, AUGMENTATIONS)}; "
                f"allowed: {', '.join(AUGMENTATIONS)} (e.g. crop=2,flip)"
            )
        key, default = AUGMENTATIONS[word]
        if number and key != "flip":
            if not number.strip().isdigit():
                raise ConfigError(f"Expected {word}=N pixels. Received: {part!r}")
            values[key] = int(number)
        else:
            values[key] = default
    return Augment(**values)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad (B, C, H, W) by `padding` and cut each image back out at a random offset."""
    b, c, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    padded = F.pad(x, (padding,) * 4)  # (B, C, H+2p, W+2p)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]  # (B, C, H, W)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one random size x size square (inside the image) per image."""
    b, _, h, w = x.shape
    s = min(size, h, w)
    cy = torch.randint(0, h - s + 1, (b,), generator=generator).to(x.device).view(b, 1, 1, 1)
    cx = torch.randint(0, w - s + 1, (b,), generator=generator).to(x.device).view(b, 1, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, 1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, 1, w)
    hole = (ys >= cy) & (ys < cy + s) & (xs >= cx) & (xs < cx + s)  # (B, 1, H, W)
    return x.masked_fill(hole, 0)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch (B, C, H, W), uint8 or float, with randomness from `generator` only.

    Order: crop, flip, cutout; each draws from `generator` only when switched on.
    """
    if x.ndim != 4:
        raise ConfigError(f"Expected a batch (B, C, H, W). Received: shape {tuple(x.shape)}")
    if aug.crop_padding:
        x = random_crop(x, aug.crop_padding, generator)
    if aug.flip:
        x = random_flip(x, generator)
    if aug.cutout:
        x = random_cutout(x, aug.cutout, generator)
    return x
