"""Checks of single setting values, each failing with a one-line ConfigError that names the
key, what it expects and what it received (`TrainConfig` runs them). Torch-free."""

from __future__ import annotations

import math
from typing import Any

from convlens.errors import ConfigError, suggest

__all__ = ["TTA_VIEWS", "check_choice", "check_float", "check_int", "tta_views"]

TTA_VIEWS = ("flip", "shift")  # test-time views, in the order `tta_views` returns them


def tta_views(tta: Any) -> tuple[str, ...]:
    """The test-time views a tta value asks for: true -> ("flip",), false -> (),
    "flip,shift" -> ("flip", "shift"), "none" -> (); ConfigError for anything else."""
    if isinstance(tta, bool) or tta in ("none", "off"):
        return ("flip",) if tta is True else ()
    words = {w.strip() for w in tta.lower().split(",")} if isinstance(tta, str) else {"?"}
    if not words <= set(TTA_VIEWS):
        raise ConfigError(
            f"Expected true, false, 'auto', 'flip', 'shift', 'flip,shift' or 'none' for tta. "
            f"Received: tta={tta!r}"
        )
    return tuple(v for v in TTA_VIEWS if v in words)


def check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    """`value` is one of `allowed` (else the error suggests the closest)."""
    if value not in allowed:
        raise ConfigError(
            f"Expected {key} one of {', '.join(allowed)}. "
            f"Received: {key}={value!r}{suggest(str(value), allowed)}"
        )


def check_int(key: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    """`value` is an int (not a bool) in minimum..maximum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"Expected {key} an integer >= {minimum}. Received: {key}={value!r}")
    if maximum is not None and value > maximum:
        shown = value if value.bit_length() <= 128 else f"a {value.bit_length()}-bit number"
        raise ConfigError(
            f"Expected {key} an integer in {minimum}..{maximum}. Received: {key}={shown}"
        )


def check_float(
    key: str,
    value: Any,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """`value` is a finite number between `low` and `high` (open ends where asked)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:  # NaN and infinity are refused: `--lr inf` trains nothing and says nothing
        ok = (isinstance(value, int) or math.isfinite(value)) and (
            value > low if low_open else value >= low
        )
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"Expected {key} a finite number {lo}{hi}. Received: {key}={value!r}")
