"""One way from an image to the model's input: `prepare(run, image)` (`run.prepare(image)` at
the front door). Every door that takes an image calls it: `predict` (by index, path, array,
tensor or batch), `cl.feature_maps`, `run.show` and the report, the explorer, the doctor.

The rule (the README's "What the model sees" says the same):

- **A model input is used as it is.** A tensor or numpy array in the model's own layout,
  exactly its input shape (C, H, W), or a batch (N, C, H, W) of them, is never cropped,
  re-centred, resized or (with invert="auto") inverted:
  - uint8 (any integer type): pixels in the run's data set format, what `ds[i][0]` and
    `ds.images` hold; only normalised with the run's training mean and std;
  - float: the model's input itself, already normalised (what `prepare` returns), passed on
    unchanged. Pixels on a 0-1 scale are not a model input: give them as uint8, or as
    (H, W) / (H, W, C).
  An int is image `index` of the run's own data set (`split`, default test), the same way.
- **Anything else is an image to convert** (a path, the bytes of a file, a PIL image, an
  array (H, W) or (H, W, C), a tensor of another size): read by `to_image`, then
  1. channels: grayscale for 1-channel models, RGB for 3-channel ones;
  2. inversion: data sets of light objects on a dark background (MNIST, Fashion-MNIST) get
     dark-on-light drawings and photos inverted. `invert="auto"` decides from the image's
     border: it inverts when the border is light and the training data is dark, and says so;
  3. size: an image already at the model's (H, W) keeps its pixels where they are (a PNG of
     a test image gives the test image's numbers). Any other size: for dark-background data
     the content is cropped to its bounding box first; then the image is scaled to fit the
     model's input keeping its aspect ratio, centred, and the rest filled with the
     background. Digit sets keep MNIST's 4-pixel margin (digits sit in a 20x20 box of 28x28);
  4. normalisation with the run's own training mean and std.

What was decided for each image is in `ModelInput.decisions` (one `Decisions` per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from convlens import data as datamod
from convlens.data.images import IMAGE_HELP, to_image
from convlens.errors import ConfigError
from convlens.io import shown_path

INVERT_CHOICES = ("auto", "yes", "no")
DIGIT_SETS = ("mnist", "digits")
DARK_DATA_MEAN = 0.4  # a training mean below this (every channel) means light-on-dark data
LIGHT_BORDER = 0.5  # a border median above this is a light background


@dataclass(frozen=True)
class InputFormat:
    """What a model takes: its input shape, the training statistics it is normalised with
    (empty for a model without a run: pixels are only scaled to 0-1), and its data set."""

    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    data: str = ""

    @classmethod
    def of(cls, source: Any) -> InputFormat:
        """The format of a run (engine `Run`) or of a loaded data set split."""
        if isinstance(source, InputFormat):
            return source
        info = getattr(source, "info", None)
        data = str(info.get("data", "")) if isinstance(info, dict) else str(source.name)
        shape = tuple(int(v) for v in source.input_shape)
        return cls(shape, tuple(source.mean), tuple(source.std), data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decisions:
    """What was done to one image on its way to the model.

    Attributes:
        source: where it came from: "test[3] (true: 7)", a file name, "tensor", "array" ...
        as_is: it already was a model input (see the module doc): nothing cropped, resized
            or re-centred.
        inverted: dark and light were swapped; `note` says why.
        cropped: cropped to its content (dark-background data, an image of another size).
        resized_from: its (H, W) before it was scaled to the model's size; None: not scaled.
        normalised: how: "mean (0.13,) std (0.31,)", "no: already normalised", "scaled to 0-1".
        note: one line on the inversion, as `predict` prints it ("" when not inverted).
    """

    source: str
    as_is: bool
    inverted: bool = False
    cropped: bool = False
    resized_from: tuple[int, int] | None = None
    normalised: str = ""
    note: str = ""


@dataclass(frozen=True)
class ModelInput:
    """Images exactly as the model sees them.

    Attributes:
        x: float32 (N, C, H, W), normalised: what the model is given.
        pixels: uint8 (N, C, H, W): the same images as pixels, before normalisation (to draw).
        decisions: one `Decisions` per image.
    """

    x: torch.Tensor
    pixels: torch.Tensor
    decisions: tuple[Decisions, ...]

    def __len__(self) -> int:
        return len(self.decisions)


def check_invert(invert: str | bool) -> None:
    if invert not in (True, False, *INVERT_CHOICES):
        raise ConfigError(f"Expected invert in {INVERT_CHOICES}. Received: invert={invert!r}")


def prepare(
    run: Any,
    image: Any,
    *,
    invert: str | bool = "auto",
    split: str = "test",
    dataset: datamod.ImageDataset | datamod.FolderStream | None = None,
    max_bytes: int | None = None,
) -> ModelInput:
    """Images as the model sees them, and what was done to each (the rule: module doc).

    Args:
        run: an engine `Run`, a loaded data set split, or an `InputFormat`.
        image: one image, a batch (N, C, H, W), a list of images, or indices (ints) into the
            run's `split` of its own data set.
        invert: "auto", "yes" or "no" (True/False): swap dark and light.
        split: which split indices count in ("test" or "train").
        dataset: that split, when the caller has it loaded already.
        max_bytes: refuse larger image files (web uploads).

    Raises:
        ConfigError: an index out of range, an unknown kind of input, a bad `invert`.
        ImageError: a file or array that is not a readable image (named in the message).
    """
    check_invert(invert)
    fmt = InputFormat.of(run)
    items = _items(image)
    ds = dataset
    if any(_is_index(i) for i in items) and ds is None:
        ds = _dataset(run, split)
    out = [_one(fmt, item, invert, ds, split, max_bytes) for item in items]
    if not out:
        empty = torch.zeros((0, *fmt.input_shape))
        return ModelInput(empty, empty.to(torch.uint8), ())
    return ModelInput(
        torch.cat([o.x for o in out]),
        torch.cat([o.pixels for o in out]),
        tuple(d for o in out for d in o.decisions),
    )


def _items(image: Any) -> list[Any]:
    """One image, a batch (N, C, H, W) of them, a list of them, or indices: as a list."""
    if isinstance(image, tuple) and len(image) == 2 and _is_index(image[1]):
        if isinstance(image[0], torch.Tensor) and image[0].ndim == 3:  # what ds[i] returns
            raise ConfigError(
                "Expected an image, not a data set item (image, label): pass ds[i][0], or "
                "the index i of the run's test set"
            )
    if isinstance(image, (list, tuple)):
        return list(image)
    if isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim == 4:
        return list(image)
    if isinstance(image, (np.ndarray, torch.Tensor, str, bytes, bytearray, Image.Image)):
        return [image]
    if _is_index(image) or hasattr(image, "__fspath__"):
        return [image]
    raise ConfigError(
        f"Expected an image ({IMAGE_HELP}), a batch (N, C, H, W), a list of them or "
        f"test-set indices. Received: {type(image).__name__}"
    )


def _is_index(item: Any) -> bool:
    return isinstance(item, (int, np.integer)) and not isinstance(item, bool)


def _dataset(run: Any, split: str) -> datamod.ImageDataset | datamod.FolderStream:
    if isinstance(run, (datamod.ImageDataset, datamod.FolderStream)):
        return run
    info, config = getattr(run, "info", None), getattr(run, "config", None)
    if not isinstance(info, dict) or config is None:
        raise ConfigError(
            "Expected an image, not an index: indices count in a run's data set, and this "
            "model has no run (train it, or pass the image itself)"
        )
    if split not in ("test", "train"):
        raise ConfigError(f"Expected split test or train. Received: {split!r}")
    return datamod.load_dataset(info["data"], split, data_dir=config.data_dir)


def _one(
    fmt: InputFormat,
    item: Any,
    invert: str | bool,
    ds: datamod.ImageDataset | datamod.FolderStream | None,
    split: str,
    max_bytes: int | None,
) -> ModelInput:
    """One item as a ModelInput of one image."""
    if _is_index(item):
        assert ds is not None
        i = int(item)
        if not 0 <= i < len(ds):
            raise ConfigError(
                f"Expected an index in 0..{len(ds) - 1} ({fmt.data} {split}). Received: {i}"
            )
        source = f"{split}[{i}] (true: {ds.classes[int(ds.labels[i])]})"
        return _as_is(fmt, datamod.images_at(ds, [i]), source, invert)
    if isinstance(item, (np.ndarray, torch.Tensor)) and tuple(item.shape) == fmt.input_shape:
        t = torch.tensor(item) if isinstance(item, np.ndarray) else item.detach().cpu()
        t = t[None]  # (1, C, H, W)
        return _as_is(fmt, t, _kind(item), invert)
    img = to_image(item, max_bytes=max_bytes)
    pixels, decided = convert_image(img, fmt, invert=invert)
    decided = replace(decided, source=_kind(item))
    return ModelInput(_normalise(fmt, pixels[None]), pixels[None], (decided,))


def _kind(item: Any) -> str:
    """How a decision names its image: the path (relative to the working folder when near it:
    outputs carry no machine path), else the kind of object."""
    if isinstance(item, str) or hasattr(item, "__fspath__"):
        return shown_path(item)
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return "array" if isinstance(item, np.ndarray) else "tensor"
    return "PIL image" if isinstance(item, Image.Image) else "image"


def _as_is(fmt: InputFormat, t: torch.Tensor, source: str, invert: str | bool) -> ModelInput:
    """A model input (1, C, H, W): uint8 pixels normalised, floats passed on (module doc)."""
    flip = invert in (True, "yes")
    note = "inverted (--invert yes)" if flip else ""
    if t.is_floating_point():
        x = t.float()
        if flip:  # dark and light swapped on the 0-1 scale, normalised again
            x = _normalise(fmt, 255 - _unnormalise(fmt, x))
        pixels = _unnormalise(fmt, x).round().clamp(0, 255).to(torch.uint8)
        how = "no: already normalised"
    else:
        pixels = t.to(torch.int64).clamp(0, 255).to(torch.uint8)
        pixels = 255 - pixels if flip else pixels
        x, how = _normalise(fmt, pixels), _how(fmt)
    decided = Decisions(source, as_is=True, inverted=flip, normalised=how, note=note)
    return ModelInput(x.contiguous(), pixels, (decided,))


def _how(fmt: InputFormat) -> str:
    if not fmt.mean:
        return "scaled to 0-1"
    mean, std = (", ".join(f"{v:.4f}" for v in vs) for vs in (fmt.mean, fmt.std))
    return f"mean ({mean}) std ({std})"


def _normalise(fmt: InputFormat, pixels: torch.Tensor) -> torch.Tensor:
    """0-255 pixels (N, C, H, W) -> float32 model input: the run's mean/std, else 0-1."""
    if fmt.mean:
        return datamod.normalize(pixels, fmt.mean, fmt.std)
    return pixels.float() / 255


def _unnormalise(fmt: InputFormat, x: torch.Tensor) -> torch.Tensor:
    """A model input (N, C, H, W) back on the 0-255 scale (unrounded)."""
    if not fmt.mean:
        return x * 255
    m = torch.tensor(fmt.mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(fmt.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x * s + m) * 255


# --------------------------------------------------------------------------- images to convert
def is_dark_data(mean: Sequence[float]) -> bool:
    """True for light-on-dark training data such as MNIST (mean 0.13) or Fashion-MNIST (0.29)."""
    return bool(mean) and all(m < DARK_DATA_MEAN for m in mean)


def _border(a: np.ndarray) -> np.ndarray:
    """The outer ring of pixels (about 5% of each side, at least one), shape (n, C)."""
    h, w = a.shape[:2]
    t = max(1, round(0.05 * min(h, w)))
    mask = np.zeros((h, w), bool)
    mask[:t], mask[-t:], mask[:, :t], mask[:, -t:] = True, True, True, True
    return a[mask]


def convert_image(
    img: Image.Image, fmt: InputFormat, *, invert: str | bool = "auto"
) -> tuple[torch.Tensor, Decisions]:
    """A loaded image in the model's channels, polarity and size (steps 1-3 of the module
    doc): uint8 pixels (C, H, W) and what was decided."""
    check_invert(invert)
    c, h, w = fmt.input_shape
    img = img.convert("L" if c == 1 else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = a[..., None] if a.ndim == 2 else a  # (H, W, C)
    dark_data = is_dark_data(fmt.mean)
    border = float(np.median(_border(a)))
    if invert == "auto":
        flip = dark_data and border > LIGHT_BORDER
        note = (
            f"inverted: light background (border {border:.2f}) and the model was trained "
            f"on light-on-dark images; --invert no keeps it"
            if flip
            else ""
        )
    else:
        flip = invert in (True, "yes")
        note = "inverted (--invert yes)" if flip else ""
    if flip:
        a = 1.0 - a
    size = (a.shape[0], a.shape[1])
    cropped, resized = False, None
    if size != (h, w):
        background = np.median(_border(a), axis=0)  # per channel
        margin = 0
        if dark_data:
            before = a.shape
            a = _crop_to_content(a, background)
            cropped = a.shape != before
            margin = round(4 * min(h, w) / 28) if fmt.data.split(":")[0] in DIGIT_SETS else 0
        a = _letterbox(a, h, w, margin, background)
        resized = size
    pixels = torch.from_numpy(np.round(a * 255).clip(0, 255).astype(np.uint8))
    decided = Decisions("image", False, flip, cropped, resized, _how(fmt), note)
    return pixels.permute(2, 0, 1).contiguous(), decided  # (C, H, W)


def _crop_to_content(a: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of pixels that differ clearly from the background."""
    diff = np.abs(a - background).max(axis=2)
    rows, cols = np.flatnonzero(diff.max(1) > 0.2), np.flatnonzero(diff.max(0) > 0.2)
    if len(rows) == 0 or len(cols) == 0:
        return a
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _letterbox(a: np.ndarray, h: int, w: int, margin: int, background: np.ndarray) -> np.ndarray:
    """Scale `a` to fit (h - 2 margin, w - 2 margin) keeping aspect, centre it on background."""
    box_h, box_w = max(1, h - 2 * margin), max(1, w - 2 * margin)
    scale = min(box_h / a.shape[0], box_w / a.shape[1])
    new_h, new_w = max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(a[..., i]).resize(
                    (new_w, new_h),
                    Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR,
                )
            )
            for i in range(a.shape[2])
        ],
        axis=2,
    ).clip(0, 1)
    canvas = np.broadcast_to(background, (h, w, a.shape[2])).copy()
    top, left = (h - new_h) // 2, (w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas
