"""Registry of named models: the notebook architectures, an MLP baseline and stronger nets.

Every model here is a layer spec (see `convlens.models.spec`) with a `{num_classes}` placeholder, so
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
| lenet5        | LeCun 1998     | 61,706            | 92,246            |
| alexnet_small | Krizhevsky 2012| 576,650           | 578,250           |
| vgg_small     | Simonyan 2015  | 435,306           | 550,570           |
| resnet20      | He 2016        | 272,186           | 272,474           |

One training step on a batch of 256 1x28x28 images of fastcnn takes about 0.07 s on 2 CPU
cores with bfloat16 autocast (0.15 s in float32), about 16 s per Fashion-MNIST epoch.
fastcnn has no dropout: for budgets of a few epochs it only slowed learning down (4 epochs
on Fashion-MNIST: 92.9% test accuracy without, 91.7% with two dropout 0.25 layers).

`mlp` (784-112-48-10) is sized to match `keras_mnist` on MNIST (93,834 vs 93,322
parameters), for the lesson that the CNN gets more from the same budget.

The classic architectures (lesson 06), each what the paper did, scaled to 28x28/32x32:

- `lenet5`: LeCun et al. 1998, "Gradient-based learning applied to document recognition":
  C1 6@5x5 (pad 2 on 28x28 = the paper's 32x32 input), S2, C3 16@5x5, S4, C5 120@5x5, F6 84;
  tanh and average pooling, read the modern way (S2/S4 without their trainable scale, C3
  fully connected, a dense output instead of the RBF units). C5 sees the whole 32x32 input.
- `alexnet_small`: Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep
  convolutional neural networks": five convs (large kernels first), ReLU, overlapping 3x3
  stride-2 max pooling, dropout before two dense layers; channels 96-256-384-384-256 ->
  32-64-96-96-64 and the 11x11 stride-4 stem -> 5x5 stride 1.
- `vgg_small`: Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale
  image recognition": only 3x3 convs, two per stage, channels doubling after each 2x2 max
  pool (three stages instead of five), dense 128 with dropout.
- `resnet20`: He et al. 2016, "Deep residual learning for image recognition", section 4.2
  (CIFAR-10, 6n+2 layers, n=3): a 16-channel stem, three stages of three residual blocks
  (16, 32, 64 channels), global average pooling. The paper's CIFAR shortcuts pad with
  zeros (0.27M parameters); here a 1x1 conv-BN
  projection where the shape changes (its option B), 272,474 parameters on 3x32x32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convlens.errors import ModelError, suggest

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ModelInfo",
    "register_model",
    "register_spec",
    "names",
    "list_models",
    "model_info",
    "factory",
]


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


Factory = Callable[..., "nn.Module"]
_REGISTRY: dict[str, tuple[ModelInfo, Factory | None]] = {}


def register_model(
    name: str, *, description: str, source: str, default_input: tuple[int, ...] = (1, 28, 28)
) -> Callable[[Factory], Factory]:
    """Decorator adding a hand-written model: `fn(*, in_channels, num_classes, image_size,
    **options) -> nn.Module`, `image_size` an (H, W) pair. A taken name is an error."""

    def decorate(fn: Factory) -> Factory:
        _add(ModelInfo(name, description, source, tuple(default_input)), fn)
        return fn

    return decorate


def register_spec(
    name: str,
    spec: str,
    *,
    description: str,
    source: str,
    default_input: tuple[int, ...] = (1, 28, 28),
) -> None:
    """Register a model defined by a spec template (`{num_classes}` is filled in)."""
    _add(ModelInfo(name, description, source, tuple(default_input), spec), None)


def _add(info: ModelInfo, factory: Factory | None) -> None:
    if info.name in _REGISTRY:
        raise ModelError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = (info, factory)


def names() -> list[str]:
    """Registered names, in registration order."""
    return list(_REGISTRY)


def list_models() -> list[ModelInfo]:
    """Every registered model, in registration order."""
    return [info for info, _ in _REGISTRY.values()]


def model_info(name: str) -> ModelInfo:
    """The ModelInfo of `name` (ModelError with a suggestion when unknown)."""
    if name not in _REGISTRY:
        raise ModelError(
            f"unknown model {name!r}{suggest(name, _REGISTRY)}; known: {', '.join(_REGISTRY)}"
        )
    return _REGISTRY[name][0]


def factory(name: str) -> Factory:
    """The factory of a hand-written model (ModelError for spec models and unknown names)."""
    fn = _REGISTRY[model_info(name).name][1]
    if fn is None:
        raise ModelError(f"model {name!r} is a spec; build it with convlens.models.build.build")
    return fn


# ----------------------------------------------------------------------------- the models
register_spec(
    "keras_mnist",
    "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dense {num_classes}",
    description="TensorFlow tutorial CNN: 3 valid 3x3 convs, 2 max-pools, dense 64",
    source="notebook 000 (Keras MNIST)",
)
register_spec(
    "cifar_vgg",
    "[('c', 64, 3), ('c', 64, 3), ('m', 2), ('c', 128, 3), ('m', 2), ('c', 128, 3), "
    "('f', None), ('d', 1024), ('d', {num_classes})]",
    description="VGG-style CNN from a tuple list: same-padded 3x3 convs, dense 1024",
    source="notebook 001 (Keras CIFAR-10, create_cnn)",
    default_input=(3, 32, 32),
)
register_spec(
    "cifar_tf",
    "conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, dense {num_classes}",
    description="small CIFAR-10 CNN: 3 valid 3x3 convs, 2 max-pools, dense 64",
    source="notebook 002 (TensorFlow CIFAR-10)",
    default_input=(3, 32, 32),
)
register_spec(
    "conv5x5",
    "conv 32 5, maxpool 2, conv 64 5, maxpool 2, flatten, dense 100, dense {num_classes}",
    description="two valid 5x5 convs with 2x2 max-pools, dense 100",
    source="notebook 003 (Keras MNIST CNN)",
)
register_spec(
    "mlp_small",
    "dense 64, dense 32, dense {num_classes}",
    description="MLP 64-32 on the flattened image",
    source="notebook 003 (Keras MNIST MLP)",
)
register_spec(
    "pytorch_net",
    "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dropout 0.5, "
    "dense {num_classes}",
    description="PyTorch Net: 3 valid 3x3 convs, 2 max-pools, dense 64, dropout 0.5",
    source="notebook 004 (PyTorch MNIST)",
)
register_spec(
    "mlp",
    "dense 112, dense 48, dense {num_classes}",
    description="MLP baseline with about the parameters of keras_mnist (93,834 on 1x28x28)",
    source="convlens (CNN vs MLP)",
)
register_spec(
    "fastcnn",
    "conv 32 3 pad=same bn=1, maxpool 2, conv 64 3 pad=same bn=1, maxpool 2, "
    "conv 128 3 pad=same bn=1, maxpool 2, flatten, dense 128, dense {num_classes}",
    description="fast BN CNN: 3 same-padded conv-bn-relu + max-pool stages, dense 128",
    source="convlens (accuracy goals, CPU-friendly)",
)
register_spec(
    "resnet_small",
    "conv 32 3 pad=same bn=1, maxpool 2, res 32, res 64 stride=2, res 128 stride=2, gap, "
    "dense {num_classes}",
    description="small ResNet: conv-bn stem, max-pool, 3 residual blocks, global avg pool",
    source="convlens (accuracy goals, after He et al. 2016)",
)
register_spec(
    "lenet5",
    "conv 6 5 pad=2 act=tanh, avgpool 2, conv 16 5 act=tanh, avgpool 2, conv 120 5 act=tanh, "
    "flatten, dense 84 act=tanh, dense {num_classes}",
    description="LeNet-5: tanh 5x5 convs and average pools, C5 120, F6 84",
    source="LeCun et al. 1998 (LeNet-5)",
)
register_spec(
    "alexnet_small",
    "conv 32 5 pad=same, maxpool 3 stride=2 pad=1, conv 64 5 pad=same, "
    "maxpool 3 stride=2 pad=1, conv 96 3 pad=same, conv 96 3 pad=same, conv 64 3 pad=same, "
    "maxpool 3 stride=2 pad=1, flatten, dropout 0.5, dense 256, dropout 0.5, dense 256, "
    "dense {num_classes}",
    description="AlexNet-style for 32x32: 5 ReLU convs, overlapping max-pools, dropout, 2 dense",
    source="after Krizhevsky et al. 2012 (AlexNet)",
    default_input=(3, 32, 32),
)
register_spec(
    "vgg_small",
    "conv 32 3 pad=same, conv 32 3 pad=same, maxpool 2, conv 64 3 pad=same, "
    "conv 64 3 pad=same, maxpool 2, conv 128 3 pad=same, conv 128 3 pad=same, maxpool 2, "
    "flatten, dense 128, dropout 0.5, dense {num_classes}",
    description="VGG-style for 32x32: three stages of two 3x3 convs, channels doubling",
    source="after Simonyan & Zisserman 2015 (VGG)",
    default_input=(3, 32, 32),
)
register_spec(
    "resnet20",
    "conv 16 3 pad=same bn=1, res 16, res 16, res 16, res 32 stride=2, res 32, res 32, "
    "res 64 stride=2, res 64, res 64, gap, dense {num_classes}",
    description="ResNet-20 for CIFAR: 16-32-64 channels, 3 residual blocks per stage, GAP",
    source="He et al. 2016 (ResNet-20 for CIFAR)",
    default_input=(3, 32, 32),
)
