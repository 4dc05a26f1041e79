"""The `threads` setting holds for one run: torch's CPU thread count is a process-wide
setting, so a run that sets it gives the process its own count back when it returns."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch

__all__ = ["keeps_threads"]

P = ParamSpec("P")
R = TypeVar("R")


def keeps_threads(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, with the process's torch thread count what it was before once `fn` returns or
    fails (a notebook's next run, or the next test, keeps its own)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        before = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)

    return wrapper
