"""Models: the spec language, layers, the one builder, the registry, hooks and the summary.

Calling the package lists the registry: `convlens.models()` is a table of every registered
model (name, parameters, input shape, source, description) that prints as text and shows
as HTML in Jupyter; `convlens.build(name)` builds one.

Example:
    >>> import convlens as cl
    >>> cl.models()
    >>> [row.name for row in cl.models()]
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convlens.models.table import ModelTable


class _CallablePackage(types.ModuleType):
    """This package, callable. `convlens.models` is the package as soon as anything imports
    it (Python binds subpackages on their parent), so the front door's `cl.models()` is a
    call of the package itself (module `__class__` assignment, as the language reference
    describes for customising a module)."""

    def __call__(self) -> ModelTable:
        from convlens.models.table import model_table  # torch loads only when called

        return model_table()


sys.modules[__name__].__class__ = _CallablePackage
