"""Exception types of convlens.

Every error a user can cause is one of these. The message is one line that names the bad
value, where it came from and what would be accepted; the CLI prints it and exits with 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConvlensError(Exception):
    """Base class of every error convlens raises on purpose."""

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
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
