"""Model budgets: what a spec will allocate, computed from its shapes before it is built.

`spec_cost` counts, for each layer of a resolved spec, its parameters and the elements of its
output for one image (the activation memory `convlens summary` reports, at 4 bytes each),
without creating a tensor. `check_budget` refuses a spec whose parameters or activations
exceed a `Budget`, with a ModelError naming the layer and the budget, so `dense 10000000000`
or `conv 100000 3` at batch 256 is one line instead of an allocation failure or a machine
that swaps. `allocating(layer)` turns an allocation failure while a layer is built anyway
(a raised budget, a small machine) into the same kind of one-line error.

Only spec-built models are counted; a hand-written module is built as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from convlens.errors import ModelError
from convlens.models.spec import LayerSpec

__all__ = [
    "MAX_PARAMS",
    "MAX_ACTIVATION_MB",
    "Budget",
    "LayerCost",
    "layer_params",
    "spec_cost",
    "check_budget",
    "allocating",
    "out_of_memory",
    "memory_detail",
]

BYTES_PER_ELEMENT = 4  # float32 weights and activations
MiB = 2**20
# One billion parameters is 4 GB of float32 weights (16 GB to train with AdamW). 4096 MiB of
# layer outputs per training batch is 75x what fastcnn takes at batch 256 on 28x28 images
# (54 MiB) and 20x cifar_vgg's on CIFAR-10 (201 MiB); training needs about 2-3x that.
MAX_PARAMS = 1_000_000_000
MAX_ACTIVATION_MB = 4096.0


@dataclass(frozen=True)
class Budget:
    """Limits a spec must fit before it is built.

    Attributes:
        max_params: parameters of the whole model.
        max_activation_mb: MiB of layer outputs (float32) for `batch` images, counted as
            `convlens summary`'s activation memory times `batch`.
        batch: images per step (training: the batch size; 1 when a model is only built).
    """

    max_params: int = MAX_PARAMS
    max_activation_mb: float = MAX_ACTIVATION_MB
    batch: int = 1


@dataclass(frozen=True)
class LayerCost:
    """One layer's parameters and output elements for one image."""

    layer: LayerSpec
    params: int
    activations: int


def layer_params(layer: LayerSpec, in_shape: Sequence[int]) -> int:
    """Parameters of the module `convlens.models.layers.make_module` makes for `layer`."""
    k, c = layer.kind, in_shape[0]
    if k == "conv":
        n = layer.width
        return n * c * layer.window**2 + (2 * n if layer.bn else n)  # BN shift replaces bias
    if k == "dense":
        return layer.width * c + layer.width
    if k == "res":
        n = layer.width
        params = c * n * 9 + n * n * 9 + 4 * n  # two 3x3 convs, two BN
        if layer.stride != 1 or c != n:
            params += c * n + 2 * n  # 1x1 projection + BN
        return params
    if k == "bn":
        return 2 * c
    return 0


def spec_cost(
    layers: Sequence[LayerSpec], shapes: Sequence[tuple[int, ...]], input_shape: Sequence[int]
) -> list[LayerCost]:
    """The cost of each resolved layer, given each layer's output shape (`infer_shapes`)."""
    costs, in_shape = [], tuple(input_shape)
    for layer, out_shape in zip(layers, shapes):
        costs.append(LayerCost(layer, layer_params(layer, in_shape), math.prod(out_shape)))
        in_shape = out_shape
    return costs


def check_budget(
    layers: Sequence[LayerSpec],
    shapes: Sequence[tuple[int, ...]],
    input_shape: Sequence[int],
    budget: Budget,
) -> None:
    """ModelError when the spec's parameters or activations exceed `budget`."""
    costs = spec_cost(layers, shapes, input_shape)
    if not costs:
        return
    params = sum(c.params for c in costs)
    if params > budget.max_params:
        big = max(costs, key=lambda c: c.params)
        total = f" ({params:,} in all)" if params != big.params else ""
        raise ModelError(
            f"model too large: {big.layer.where()} has {big.params:,} parameters"
            f"{total}; the budget is {budget.max_params:,} parameters; "
            f"make that layer smaller, or raise the budget with --max-params "
            f"(max_params= in Python)"
        )
    per_image = sum(c.activations for c in costs) * BYTES_PER_ELEMENT
    if per_image * budget.batch > budget.max_activation_mb * MiB:
        big = max(costs, key=lambda c: c.activations)
        images = f"a batch of {budget.batch} images" if budget.batch > 1 else "one image"
        raise ModelError(
            f"model too large: its layer outputs take {_mib(per_image * budget.batch)} for "
            f"{images} ({big.layer.where()} alone "
            f"{_mib(big.activations * BYTES_PER_ELEMENT * budget.batch)}); the budget is "
            f"{budget.max_activation_mb:,g} MiB; lower --batch-size, make that layer "
            f"smaller, or raise the budget with --max-activation-mb (max_activation_mb= "
            f"in Python)"
        )


@contextmanager
def allocating(layer: LayerSpec) -> Iterator[None]:
    """Build `layer`'s module inside this block: an allocation failure becomes a ModelError."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise ModelError(
            f"{layer.where()}: not enough memory to build it ({memory_detail(exc)}); "
            f"make it smaller"
        ) from None


def out_of_memory(exc: BaseException) -> bool:
    """True for MemoryError and the RuntimeErrors torch raises when an allocation fails."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError)
        and any(s in text for s in ("can't allocate memory", "out of memory", "not enough memory"))
    )


def memory_detail(exc: BaseException) -> str:
    """The useful part of an allocation failure's message ('you tried to allocate ...')."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split("DefaultCPUAllocator: ")[-1][:160]


def _mib(n_bytes: int | float) -> str:
    n = n_bytes / MiB
    return f"{n:,.0f} MiB" if n >= 10 else f"{n:.2g} MiB"
