"""`check(yours, reference)`: says "correct" or what differs, for a lesson's exercises.

The answer may be a NumPy array, a list, a number or a PyTorch tensor (anything with
`.detach()`). Besides the first differing element, the message names the usual mistakes it
can recognise from the two arrays alone: wrong shape, values rounded by an integer dtype, a
kernel flipped (rotated 180 degrees), rows and columns swapped, every value off by the same
constant. Mistakes it cannot see from the values (a missing `zero_grad()`) are passed as
`mistakes={"what went wrong": the answer that mistake gives}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from convlens.errors import ConvMathError


@dataclass(frozen=True)
class Check:
    """The verdict: `ok` and the sentence a student reads (shown as the cell's output)."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


def _numbers(value: Any) -> np.ndarray | None:
    """`value` as a NumPy array of numbers, or None where it is not numbers."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged lists
        return None
    return array if array.dtype.kind in "biuf" else None


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def check(
    yours: Any,
    reference: Any,
    *,
    mistakes: Mapping[str, Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> Check:
    """Compare an exercise's answer with the reference; the Check says "correct" or why not.

    Args:
        yours: the student's answer (array, list, number or tensor).
        reference: the right answer, in the same forms.
        mistakes: known wrong answers by what causes them; a match names the cause.
        rtol, atol: how close counts as equal (as in `numpy.allclose`).

    Example:
        >>> import numpy as np
        >>> k = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> check(k, k)
        correct: shape (2, 2), all 4 values match
        >>> check(k + 1, k)
        not yet: every value is off by the same constant, 1 (yours - reference)
    """
    ref = _numbers(reference)
    if ref is None:
        raise ConvMathError(
            f"check: the reference must be numbers (an array, list, number or tensor); "
            f"received {type(reference).__name__} {reference!r:.60}"
        )
    if yours is None:
        return Check(False, "not yet: your answer is None (did the function `return` it?)")
    if yours is Ellipsis:
        return Check(False, "not yet: your answer is still `...` (the TODO is not written)")
    mine = _numbers(yours)
    if mine is None:
        return Check(
            False,
            f"not yet: your answer is {type(yours).__name__} {yours!r:.60}, "
            f"expected numbers of shape {ref.shape}",
        )
    for cause, wrong in (mistakes or {}).items():
        known = _numbers(wrong)
        if (
            known is not None
            and _close(mine, known, rtol, atol)
            and not _close(known, ref, rtol, atol)
        ):
            return Check(False, f"not yet: {cause}")
    if _close(mine, ref, rtol, atol):
        return Check(True, f"correct: shape {mine.shape}, all {ref.size} values match")
    if mine.shape != ref.shape:
        if mine.ndim == 2 and mine.shape == ref.T.shape and _close(mine, ref.T, rtol, atol):
            return Check(
                False,
                f"not yet: your answer is the reference transposed (shape {mine.shape}, "
                f"expected {ref.shape}): rows and columns are swapped",
            )
        return Check(False, f"not yet: shape {mine.shape}, expected {ref.shape}")
    return Check(False, "not yet: " + _what_differs(mine, ref, rtol, atol))


def _what_differs(mine: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> str:
    """The sentence for two arrays of the same shape whose values differ."""
    if mine.ndim >= 2 and _close(mine, ref[..., ::-1, ::-1], rtol, atol):
        return (
            "your answer is the reference rotated by 180 degrees: the kernel is flipped "
            "(that is convolution; a conv layer computes cross-correlation, no flip)"
        )
    if mine.ndim == 2 and _close(mine, ref.T, rtol, atol):
        return "your answer is the reference transposed: rows and columns are swapped"
    diff = mine.astype(float) - ref.astype(float)
    shift = float(diff.flat[0])
    if mine.size > 1 and np.all(np.isfinite(diff)) and np.allclose(diff, shift, atol=atol):
        return f"every value is off by the same constant, {_fmt(shift)} (yours - reference)"
    if mine.ndim == 0:
        return f"yours {_fmt(float(mine))}, expected {_fmt(float(ref))}"
    wrong = ~np.isclose(mine, ref, rtol=rtol, atol=atol, equal_nan=True)
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    found = (
        f"{int(wrong.sum())} of {ref.size} values differ; first at index {_index(first)}: "
        f"yours {_fmt(float(mine[first]))}, expected {_fmt(float(ref[first]))}"
    )
    rounded = mine.dtype.kind in "biu" and ref.dtype.kind == "f"
    if rounded and np.allclose(mine, np.trunc(ref), atol=atol):
        return (
            f"your answer has dtype {mine.dtype}, the reference {ref.dtype}: values were "
            f"rounded ({found}); make the array with dtype=float"
        )
    return found
