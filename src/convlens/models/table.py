"""The model registry as a table: what `cl.list_models()` returns (a list of `ModelRow`
that prints as text and displays as HTML in Jupyter)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from convlens.models.build import build
from convlens.models.registry import list_models
from convlens.models.summary.format import shape_text

__all__ = ["ModelRow", "ModelTable", "model_table"]


@dataclass(frozen=True)
class ModelRow:
    """One registered model: its name, parameters (10 classes, on its default input), input
    shape, where the architecture comes from, and one line about it."""

    name: str
    params: int
    input_shape: tuple[int, ...]
    source: str
    description: str


class ModelTable(list[ModelRow]):
    """The model registry, one `ModelRow` per model; prints and displays as a table."""

    HEADER = ("name", "params", "input", "source", "description")

    def cells(self) -> list[tuple[str, str, str, str, str]]:
        """The table's text cells, one tuple per model."""
        return [
            (r.name, f"{r.params:,}", shape_text(r.input_shape), r.source or "-", r.description)
            for r in self
        ]

    def __repr__(self) -> str:
        rows = [self.HEADER, *self.cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join(
            "  ".join(
                [
                    r[0].ljust(widths[0]),
                    r[1].rjust(widths[1]),
                    r[2].ljust(widths[2]),
                    r[3].ljust(widths[3]),
                    r[4],
                ]
            ).rstrip()
            for r in rows
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:{'right' if i == 1 else 'left'}'>{html.escape(c)}</td>"
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in self.cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def model_table() -> ModelTable:
    """Every registered model with its parameter count on its default input (10 classes)."""
    rows = ModelTable()
    for info in list_models():
        net = build(info.name, info.default_input, num_classes=10)
        params = sum(p.numel() for p in net.parameters())
        rows.append(
            ModelRow(info.name, params, tuple(info.default_input), info.source, info.description)
        )
    return rows
