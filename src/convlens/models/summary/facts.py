"""What one layer call costs and sees: mult-adds, receptive field, category (see the
conventions in `convlens.models.summary`). torch is imported inside the functions, so
`import convlens` stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn

BYTES_PER_ELEMENT = 4  # activation memory is counted as float32
FULL = "full"
# Row categories, most telling first: a row holding a conv and a ReLU is a "conv" row.
CATEGORIES = ("block", "conv", "dense", "pool", "flatten", "norm", "activation", "dropout", "other")

RF = tuple[int, int, int, int] | None  # (size_h, size_w, jump_h, jump_w); None = full input


@dataclass
class Call:
    """One recorded call of a module that computes something (mutable while recording)."""

    module: Any
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    mult_adds: int
    rf: RF
    group: int | None = None
    repeat: bool = False


def two(v: Any) -> tuple[int, int]:
    """3 -> (3, 3); (3, 5) -> (3, 5)."""
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def mult_adds(module: nn.Module, x: Tensor | None, y: Tensor) -> int:
    """Weight multiply-accumulates of one call, per sample (batch 1)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd) and x is not None:
        return x.numel() * module.weight[0].numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        return y.numel() * module.weight[0].numel()  # weight[0]: (in/groups, kh, kw)
    if isinstance(module, nn.Linear):
        return y.numel() * module.in_features
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and x is not None and x.dim():
        # Every weight (input-hidden, hidden-hidden, LSTM projection; all layers and
        # directions) does one multiply-accumulate per input vector: time steps x batch,
        # the same count whether the sequence is batch-first, unbatched or packed.
        weights = sum(
            p.numel()
            for name, p in module.named_parameters(recurse=False)
            if name.startswith("weight_")
        )
        return x.numel() // x.shape[-1] * weights
    return 0


def next_rf(module: nn.Module, rf: RF, out: Tensor) -> RF:
    """Receptive field after `module`: r_out = r_in + (k - 1) * dilation * j_in and
    j_out = j_in * stride for conv and pooling; None ("full") after dense layers."""
    from torch import nn

    if rf is None or out.dim() < 3:
        return None
    if isinstance(
        module,
        (
            nn.Linear,
            nn.Flatten,
            nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd,
        ),
    ):
        return None
    if isinstance(module, nn.Conv2d):
        k, s, d = module.kernel_size, module.stride, module.dilation
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d)):
        k, s = two(module.kernel_size), two(module.stride or module.kernel_size)
        d = two(getattr(module, "dilation", 1))
    else:
        return rf
    rh, rw, jh, jw = rf
    return (rh + (k[0] - 1) * d[0] * jh, rw + (k[1] - 1) * d[1] * jw, jh * s[0], jw * s[1])


def category(modules: list) -> str:
    """Row category: a row with two or more convs is a "block", else the most telling kind."""
    from torch import nn

    def cat(m: nn.Module) -> str:
        pool = (
            nn.modules.pooling._MaxPoolNd,
            nn.modules.pooling._AvgPoolNd,
            nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd,
        )
        checks: list[tuple[str, Any]] = [
            ("conv", nn.modules.conv._ConvNd),
            ("dense", nn.Linear),
            ("pool", pool),
            ("flatten", nn.Flatten),
            ("norm", (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)),
            ("dropout", nn.modules.dropout._DropoutNd),
        ]
        for name, types in checks:
            if isinstance(m, types):
                return name
        return "activation" if type(m).__module__ == "torch.nn.modules.activation" else "other"

    found = [cat(m) for m in modules]
    if found.count("conv") >= 2:
        return "block"
    return min(found, key=CATEGORIES.index) if found else "other"
