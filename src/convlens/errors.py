"""Exception types of convlens.

Every error a user can cause is one of these. The message is one line that names the bad
value, where it came from and what would be accepted; the CLI prints it and exits with 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_MESSAGE = 1000  # characters: a message naming a huge value keeps its head and its end


class ConvlensError(Exception):
    """Base class of every error convlens raises on purpose. A message longer than
    MAX_MESSAGE (one that names a huge value) is cut in the middle."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE:
            text = args[0]
            cut = len(text) - MAX_MESSAGE + 250
            args = (f"{text[:700]} ...({cut} characters cut)... {text[-200:]}", *args[1:])
        super().__init__(*args)

    def _render_traceback_(self) -> list[str]:
        """How IPython and Jupyter show it: its one line, `ModelError: ...`, not a traceback
        through convlens's internals (IPython's hook for this; `%debug` still opens the
        frames)."""
        return [f"{type(self).__name__}: {self}"]


class ConvMathError(ConvlensError, ValueError):
    """Bad arguments to a function of `convlens.primer.convmath`."""


class ImageError(ConvlensError):
    """A file that cannot be read as an image (not an image, truncated, too large)."""


class SpecError(ConvlensError, ValueError):
    """A layer spec that does not parse, validate or fit its input shape."""


class ModelError(ConvlensError, KeyError):
    """An unknown model name or a model that cannot be built as asked."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DataError(ConvlensError):
    """A data set that is unknown, missing, or whose files are corrupt."""


class CheckpointError(ConvlensError):
    """A checkpoint or run folder that is missing, foreign, tampered or truncated."""


class ConfigError(ConvlensError, ValueError):
    """A bad option value or configuration file."""


class TrainingError(ConvlensError):
    """A training run that cannot go on (e.g. the loss became NaN or infinite)."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    if len(word) > 200:  # no name is that long, and difflib would take seconds over it
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
