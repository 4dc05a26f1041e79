"""convlens: a PyTorch workbench for learning, building, training and looking inside CNNs."""

from __future__ import annotations

__version__ = "0.1.0"

from convlens.errors import ConvlensError
from convlens.models.summary import summary

__all__ = ["ConvlensError", "__version__", "summary"]
