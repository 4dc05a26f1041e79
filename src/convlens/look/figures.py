"""Saving pictures: every figure convlens writes goes through `save_figure` (atomic)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from convlens.engine.runs import atomic_write_bytes

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def save_figure(fig: Figure, out: str | Path, *, dpi: int = 110, close: bool = True) -> Path:
    """Write `fig` to `out` (.png, .svg or .pdf) atomically, creating the folder; return the path."""
    path = Path(out)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi, facecolor="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    if close:
        plt.close(fig)
    return path
