"""`draw` (the architecture picture) and `list_models` (the registry as a table) at the front
door. (`build` and `summary` are the library's own: `convlens.models.build.build` and
`convlens.models.summary.summary`.)"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from convlens.look.architecture import check_out_path, draw_summary
from convlens.look.picture import Picture
from convlens.models.summary import model_input_shape, summary
from convlens.models.table import ModelTable, model_table

__all__ = ["draw", "list_models"]


def list_models() -> ModelTable:
    """Every registered model as a table: name, parameters (10 classes), input shape, where
    the architecture comes from and one line about it; prints as text, shows as HTML in
    Jupyter, and is a list of rows (`.name`, `.params`, `.input_shape`, ...).

    Example:
        >>> cl.list_models()
        >>> [row.name for row in cl.list_models() if row.input_shape[0] == 3]
    """
    return model_table()


def draw(
    model: nn.Module,
    input_shape: tuple[int, ...] | str | None = None,
    *,
    out: str | Path | None = None,
) -> Picture:
    """The architecture as layered 3-D boxes (one per feature map; dense layers as bars).

    Args:
        model: any nn.Module.
        input_shape: e.g. (1, 28, 28) or "1x28x28"; default: the model's own `input_shape`.
        out: also write it there (.png, .svg or .pdf).

    Example:
        >>> cl.draw(cl.build("keras_mnist"))          # shows in Jupyter
        >>> cl.draw(model, out="model.svg")
    """
    if out is not None:
        check_out_path(out)
    shape = model_input_shape(model, input_shape)
    picture = Picture(draw_summary(summary(model, shape)), name="architecture")
    if out is not None:
        picture.savefig(out)
    return picture
