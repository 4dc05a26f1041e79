"""`Picture`: a figure convlens drew, as the front door hands it out.

It shows itself in Jupyter as a PNG (`_repr_png_`), saves with `savefig` (atomically, through
`convlens.io`) and keeps the matplotlib figure in `.figure`. Making one closes the figure in
pyplot, so a notebook shows it once, through `_repr_png_`, and never as the text
`<Figure size ...>`; the look functions keep returning plain figures for the CLI.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convlens import io as files
from convlens.errors import ConfigError
from convlens.io import data_url, figure_bytes, gif_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

__all__ = ["Picture"]

DPI = 110


class Picture:
    """A drawn picture: displays in Jupyter, saves with `savefig`.

    Attributes:
        figure: the matplotlib Figure (closed in pyplot; draw on it and save it as usual).
        frames: for animations (`run.show("evolution")`), the GIF frames; else None.
        name: what it shows, e.g. "filters".

    Example:
        >>> pic = cl.draw(model)          # a Picture; the last line of a cell shows it
        >>> pic.savefig("model.png")      # .png, .svg, .pdf (.gif for an animation)
    """

    def __init__(
        self, figure: Figure, *, name: str = "", frames: Sequence[Image.Image] | None = None
    ) -> None:
        import matplotlib.pyplot as plt

        self.figure = figure
        self.name = name
        self.frames = list(frames) if frames is not None else None
        self._png: bytes | None = None
        plt.close(figure)  # pyplot forgets it: notebooks show it once, via _repr_png_

    def png(self, *, dpi: int = DPI) -> bytes:
        """The picture as PNG bytes (white background)."""
        if dpi != DPI:
            return self._bytes("png", {"dpi": dpi})
        if self._png is None:
            self._png = self._bytes("png", {})
        return self._png

    def savefig(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the picture to `path` (any format matplotlib writes, by its suffix; .gif for
        an animation), atomically, creating the folder; `kwargs` go to `Figure.savefig`.

        Example:
            >>> run.show("filters").savefig("out/filters.png", dpi=200)
        """
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt == "gif":
            if self.frames is None:
                raise ConfigError(
                    f"only animations save as .gif; save {self.name or 'this picture'} as "
                    f".png, .svg or .pdf. Received: {str(path)!r}"
                )
            data = gif_bytes(self.frames)
        else:
            formats = self.figure.canvas.get_supported_filetypes()
            if fmt not in formats:
                raise ConfigError(
                    f"Expected a file ending in .png, .svg, .pdf or another of "
                    f"{', '.join(sorted(formats))}. Received: {str(path)!r}"
                )
            data = self._bytes(fmt, kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_bytes(path, data)  # looked up when called: tests fill the disk
        return path

    def _bytes(self, fmt: str, kwargs: dict[str, Any]) -> bytes:
        return figure_bytes(self.figure, fmt, dpi=DPI, close=False, **kwargs)

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str | None:
        """Animations play in notebooks (a GIF); still pictures show through the PNG."""
        if not self.frames:
            return None
        alt = html.escape(self.name or "animation")
        return f'<img src="{data_url(gif_bytes(self.frames), "image/gif")}" alt="{alt}">'

    def __repr__(self) -> str:
        w, h = (round(v) for v in self.figure.get_size_inches() * DPI)
        what = f" {self.name}" if self.name else ""
        frames = f", {len(self.frames)} frames" if self.frames else ""
        return f"<Picture{what}: {w}x{h} px{frames}; .savefig(path) writes it>"
