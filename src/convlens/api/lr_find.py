"""`lr_find`: the learning-rate finder at the front door (`convlens lr-find` in the shell)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from convlens.config import TrainConfig, merge_config
from convlens.engine import train as training
from convlens.engine.lr_find import LRFindResult, check_sweep
from convlens.errors import ConfigError
from convlens.look.lr_find import draw_lr_find
from convlens.look.picture import Picture

__all__ = ["lr_find", "LRFind"]


class LRFind:
    """One learning-rate sweep: `.suggestion`, `.rule`, `.lrs`, `.losses`, `.plot()`.

    Shows itself in Jupyter as its picture. `.result` is the library's
    `convlens.engine.lr_find.LRFindResult`.
    """

    def __init__(self, result: LRFindResult) -> None:
        self.result = result
        self._picture: Picture | None = None

    @property
    def suggestion(self) -> float:
        """The suggested learning rate."""
        return self.result.suggestion

    @property
    def rule(self) -> str:
        """The rule that chose it (`convlens.engine.lr_find.RULES`)."""
        return self.result.rule

    @property
    def lrs(self) -> list[float]:
        return self.result.lrs

    @property
    def losses(self) -> list[float]:
        return self.result.losses

    def plot(self) -> Picture:
        """The loss against the lr with the suggestion marked and the rule named."""
        if self._picture is None:
            self._picture = Picture(draw_lr_find(self.result), name="lr-find")
        return self._picture

    def _repr_png_(self) -> bytes:
        return self.plot().png()

    def __repr__(self) -> str:
        r = self.result
        return (
            f"LRFind(suggestion={r.suggestion:.3g}, rule={r.rule!r}, steps={len(r.lrs)}, "
            f"lrs {r.lrs[0]:.3g}..{r.lrs[-1]:.3g}, {r.seconds:.1f} s)"
        )


def lr_find(
    model: str | nn.Module | None = None,
    data: str | None = None,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    rule: str = "min/10",
    out: str | Path | None = None,
    **options: Any,
) -> LRFind:
    """Sweep the learning rate exponentially over `steps` batches and suggest one.

    Runs on a copy of the model (yours is left as it was). The suggestion is made by a named
    rule: "min/10" (the default: it came closest in bench/lr_find.py), "valley" (fastai's)
    or "steepest" (`convlens.engine.lr_find`).

    Args:
        model: a registry name, spec text or any nn.Module (default "fastcnn").
        data: a data set name (default "fashion-mnist").
        start_lr, end_lr, steps: the sweep.
        rule: which rule suggests the lr.
        out: also save the picture there (.png, .svg, .pdf).
        **options: TrainConfig fields that shape a step: optimizer, batch_size,
            weight_decay, label_smoothing, augment, amp, seed, limit_train, ...

    Example:
        >>> found = cl.lr_find("fastcnn", data="fashion-mnist")
        >>> found.suggestion, found.rule
        >>> found.plot()
        >>> run = cl.train("fastcnn", lr=found.suggestion)   # or cl.train(..., lr="find")
    """
    module = model if isinstance(model, nn.Module) else None
    if model is not None and module is None and not isinstance(model, str):
        raise ConfigError(
            f"Expected model: a registry name, spec text or an nn.Module. "
            f"Received: {type(model).__name__}"
        )
    check_sweep(start_lr, end_lr, steps, rule)
    given = {"model": model if isinstance(model, str) else None, "data": data}
    config = merge_config(TrainConfig(), {**given, **options}, source="cl.lr_find")
    result = training.find_lr(
        config, model=module, start_lr=start_lr, end_lr=end_lr, steps=steps, rule=rule
    )
    found = LRFind(result)
    if out is not None:
        found.plot().savefig(out)
    return found
