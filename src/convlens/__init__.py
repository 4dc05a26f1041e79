"""convlens: a PyTorch workbench for learning, building, training and looking inside CNNs."""
from __future__ import annotations

__version__ = "0.1.0"

from convlens.errors import ConvlensError

# Eager on purpose: this rebinds `convlens.summary` from the submodule to the function, so
# `convlens.summary(model, (3, 32, 32))` works. Types: `from convlens.summary import ...`.
from convlens.summary import summary

__all__ = ["ConvlensError", "__version__", "summary"]
