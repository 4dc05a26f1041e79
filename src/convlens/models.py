"""Registry of named models: the notebook architectures, an MLP baseline and stronger nets.

Every model here is a layer spec (see `convlens.spec`) with a `{num_classes}` placeholder, so
`convlens summary NAME` shows it layer by layer and `model.spec_text` tells how it was built.
Parameter counts (10 classes):

| name          | source         | params on 1x28x28 | params on 3x32x32 |
|---------------|----------------|-------------------|-------------------|
| keras_mnist   | notebook 000   | 93,322            | 122,570           |
| cifar_vgg     | notebook 001   | 6,692,810         | 8,660,042         |
| cifar_tf      | notebook 002   | 65,642            | 94,890            |
| conv5x5       | notebook 003   | 155,606           | 214,806           |
| mlp_small     | notebook 003   | 52,650            | 199,082           |
| pytorch_net   | notebook 004   | 93,322            | 122,570           |
| mlp           | CNN-vs-MLP     | 93,834            | 350,090           |
| fastcnn       | accuracy goals | 241,770           | 357,034           |
| resnet_small  | accuracy goals | 308,074           | 308,650           |

One training step on a batch of 256 1x28x28 images of fastcnn takes about 0.07 s on 2 CPU
cores with bfloat16 autocast (0.15 s in float32), about 16 s per Fashion-MNIST epoch.
fastcnn has no dropout: for budgets of a few epochs it only slowed learning down (4 epochs
on Fashion-MNIST: 92.9% test accuracy without, 91.7% with two dropout 0.25 layers).

`mlp` (784-112-48-10) is sized to match `keras_mnist` on MNIST (93,834 vs 93,322
parameters), for the lesson that the CNN gets more from the same budget.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convlens.errors import ModelError, SpecError, suggest
from convlens.spec import ALIASES, ACTIVATION_NAMES, KINDS, SPEC_FILE_SUFFIXES, build

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ModelInfo", "register_model", "register_spec", "create_model", "list_models",
           "get_model", "model_info"]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of one model.

    Attributes:
        name: registry name.
        description: one line.
        source: where the architecture comes from, e.g. "notebook 000 (Keras MNIST)".
        default_input: input shape (C, H, W) the model is meant for.
        spec: the spec template (with `{num_classes}`), or None for a hand-written module.
    """

    name: str
    description: str
    source: str
    default_input: tuple[int, ...] = (1, 28, 28)
    spec: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Alias of `default_input`."""
        return self.default_input


Factory = Callable[..., "nn.Module"]
_REGISTRY: dict[str, tuple[ModelInfo, Factory]] = {}


def register_model(name: str, *, description: str, source: str,
                   default_input: tuple[int, ...] = (1, 28, 28),
                   spec: str | None = None) -> Callable[[Factory], Factory]:
    """Decorator adding a factory `fn(*, in_channels, num_classes, image_size, **kw)`.

    `image_size` is an int or an (H, W) pair. Registering a taken name is an error.
    """
    def decorate(fn: Factory) -> Factory:
        if name in _REGISTRY:
            raise ModelError(f"model {name!r} is already registered")
        info = ModelInfo(name, description, source, tuple(default_input), spec)
        _REGISTRY[name] = (info, fn)
        return fn
    return decorate


def register_spec(name: str, spec: str, *, description: str, source: str,
                  default_input: tuple[int, ...] = (1, 28, 28)) -> None:
    """Register a model defined by a spec template (`{num_classes}` is filled in)."""
    def factory(*, in_channels: int, num_classes: int, image_size: int | Sequence[int],
                **kwargs: Any) -> nn.Module:
        if kwargs:
            raise ModelError(f"model {name!r} takes no options. Received: "
                             f"{', '.join(f'{k}={v!r}' for k, v in kwargs.items())}")
        return build(spec, (in_channels, *_hw(image_size)), num_classes=num_classes)

    register_model(name, description=description, source=source, default_input=default_input,
                   spec=spec)(factory)


def list_models() -> list[ModelInfo]:
    """Every registered model, in registration order."""
    return [info for info, _ in _REGISTRY.values()]


def model_info(name: str) -> ModelInfo:
    """The ModelInfo of `name` (ModelError with a suggestion when unknown)."""
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}{suggest(name, _REGISTRY)}; known: "
                         f"{', '.join(_REGISTRY)}")
    return _REGISTRY[name][0]


def create_model(name: str, *, in_channels: int | None = None, num_classes: int = 10,
                 image_size: int | Sequence[int] | None = None, **kwargs: Any) -> nn.Module:
    """Build registered model `name`; channels and size default to its `default_input`.

    Raises:
        ModelError: unknown name or bad num_classes. SpecError: the input does not fit.
    """
    info = model_info(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(f"Expected num_classes >= 1. Received: num_classes={num_classes!r}")
    c = info.default_input[0] if in_channels is None else in_channels
    size = info.default_input[1:] if image_size is None else image_size
    model = _REGISTRY[name][1](in_channels=c, num_classes=num_classes, image_size=size, **kwargs)
    model.registry_name = name  # summaries and pictures show the name the user typed
    return model


def get_model(name_or_spec: str | Path | Sequence[Any], *,
              input_shape: Sequence[int] | None = None, num_classes: int = 10) -> nn.Module:
    """A model from a registry name, spec text, tuple-list (or its text), or YAML spec file.

    Args:
        name_or_spec: e.g. "keras_mnist", "conv 32 3, maxpool 2, dense 10", "net.yaml".
        input_shape: (C, H, W); default: the registry model's own, or the YAML file's `input:`.
        num_classes: outputs of registry models; fills `{num_classes}` in specs.

    Raises:
        ModelError: an unknown name that does not look like a spec. SpecError: a bad spec.
    """
    if isinstance(name_or_spec, str) and name_or_spec.strip() in _REGISTRY:
        name = name_or_spec.strip()
        shape = tuple(input_shape) if input_shape is not None else model_info(name).default_input
        if len(shape) != 3:
            raise ModelError(f"model {name!r} needs input_shape (C, H, W). "
                             f"Received: input_shape={input_shape!r}")
        return create_model(name, in_channels=shape[0], num_classes=num_classes,
                            image_size=shape[1:])
    if isinstance(name_or_spec, str) and not _looks_like_spec(name_or_spec):
        name = name_or_spec.strip()
        raise ModelError(f"unknown model {name!r}{suggest(name, _REGISTRY)}; known: "
                         f"{', '.join(_REGISTRY)}; or give a spec like 'conv 32 3, maxpool 2, "
                         f"flatten, dense 10' or a .yaml spec file")
    return build(name_or_spec, input_shape, num_classes=num_classes)


def _looks_like_spec(text: str) -> bool:
    text = text.strip()
    if not text or text.startswith(("[", "(")) or any(c in text for c in ",\n ="):
        return True
    if text.lower().endswith(SPEC_FILE_SUFFIXES) or Path(text).is_file():
        return True
    return text.lower() in (*KINDS, *ALIASES, *ACTIVATION_NAMES)


def _hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return (image_size, image_size)
    h, w = image_size
    return (int(h), int(w))


# ----------------------------------------------------------------------------- the models
register_spec(
    "keras_mnist",
    "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, "
    "dense {num_classes}",
    description="TensorFlow tutorial CNN: 3 valid 3x3 convs, 2 max-pools, dense 64",
    source="notebook 000 (Keras MNIST)")
register_spec(
    "cifar_vgg",
    "[('c', 64, 3), ('c', 64, 3), ('m', 2), ('c', 128, 3), ('m', 2), ('c', 128, 3), "
    "('f', None), ('d', 1024), ('d', {num_classes})]",
    description="VGG-style CNN from a tuple list: same-padded 3x3 convs, dense 1024",
    source="notebook 001 (Keras CIFAR-10, create_cnn)", default_input=(3, 32, 32))
register_spec(
    "cifar_tf",
    "conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, "
    "dense {num_classes}",
    description="small CIFAR-10 CNN: 3 valid 3x3 convs, 2 max-pools, dense 64",
    source="notebook 002 (TensorFlow CIFAR-10)", default_input=(3, 32, 32))
register_spec(
    "conv5x5",
    "conv 32 5, maxpool 2, conv 64 5, maxpool 2, flatten, dense 100, dense {num_classes}",
    description="two valid 5x5 convs with 2x2 max-pools, dense 100",
    source="notebook 003 (Keras MNIST CNN)")
register_spec(
    "mlp_small",
    "dense 64, dense 32, dense {num_classes}",
    description="MLP 64-32 on the flattened image",
    source="notebook 003 (Keras MNIST MLP)")
register_spec(
    "pytorch_net",
    "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dropout 0.5, "
    "dense {num_classes}",
    description="PyTorch Net: 3 valid 3x3 convs, 2 max-pools, dense 64, dropout 0.5",
    source="notebook 004 (PyTorch MNIST)")
register_spec(
    "mlp",
    "dense 112, dense 48, dense {num_classes}",
    description="MLP baseline with about the parameters of keras_mnist (93,834 on 1x28x28)",
    source="convlens (CNN vs MLP)")
register_spec(
    "fastcnn",
    "conv 32 3 pad=same bn=1, maxpool 2, conv 64 3 pad=same bn=1, maxpool 2, "
    "conv 128 3 pad=same bn=1, maxpool 2, flatten, dense 128, dense {num_classes}",
    description="fast BN CNN: 3 same-padded conv-bn-relu + max-pool stages, dense 128",
    source="convlens (accuracy goals, CPU-friendly)")
register_spec(
    "resnet_small",
    "conv 32 3 pad=same bn=1, maxpool 2, res 32, res 64 stride=2, res 128 stride=2, gap, "
    "dense {num_classes}",
    description="small ResNet: conv-bn stem, max-pool, 3 residual blocks, global avg pool",
    source="convlens (accuracy goals, after He et al. 2016)")
