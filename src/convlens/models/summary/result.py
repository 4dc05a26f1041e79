"""What `summary` returns: one `LayerRow` per layer call and the `ModelSummary` around them;
`str()` is the table, `explain()` the formulas, `_repr_html_()` the notebook view."""

from __future__ import annotations

from dataclasses import dataclass, field

from convlens.models.summary.explain import SizeStep, size_text
from convlens.models.summary.facts import FULL
from convlens.models.summary.format import (
    bytes_text,
    html_table,
    layer_cell,
    pair_text,
    shape_text,
    si,
    text_table,
)


@dataclass(frozen=True)
class LayerRow:
    """One row of the summary: a layer call and what it costs."""

    name: str
    kind: str  # e.g. "Conv2d+ReLU", "Flatten (auto)", "Linear"
    category: str  # one of facts.CATEGORIES, used for colours in pictures
    input_shape: tuple[int, ...]  # without the batch dimension
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    trainable_params: int
    mult_adds: int
    rf_size: tuple[int, int] | None  # None: sees the full input
    rf_jump: tuple[int, int] | None
    memory_bytes: int
    repeat: bool = False  # a module called a second time: its parameters are shared
    description: str = ""  # e.g. "Conv2d(1->32, 3x3)+ReLU"
    param_formula: str = ""  # e.g. "3*3*1*32 + 32 = 320"
    # Output-size steps of the convs/pools in this row, turned into text only when asked
    # (`output_formula`).
    size_steps: tuple[SizeStep, ...] = field(default=(), repr=False)
    output_note: str = ""  # the output text of rows without conv/pool, e.g. "64*3*3 = 576"

    @property
    def non_trainable_params(self) -> int:
        """Parameters with requires_grad=False."""
        return self.params - self.trainable_params

    @property
    def output_formula(self) -> str:
        """How the output size comes about, e.g. "floor((28 + 2*0 - 1*(3-1) - 1)/1) + 1 = 26"."""
        if not self.size_steps:
            return self.output_note
        steps = " then ".join(size_text(*step) for step in self.size_steps)
        return f"{steps} -> {shape_text(self.output_shape)}"

    @property
    def receptive_field(self) -> str:
        """Receptive field as text: "5 (2)" = size 5, jump 2; "full" after dense layers."""
        if self.rf_size is None or self.rf_jump is None:
            return FULL
        return f"{pair_text(self.rf_size)} ({pair_text(self.rf_jump)})"


@dataclass(frozen=True, repr=False)
class ModelSummary:
    """Rows and totals of a model summary; `str()` is the table, `explain()` the formulas."""

    model_name: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_mult_adds: int
    activation_bytes: int
    input_bytes: int
    params_bytes: int
    spec_text: str = ""

    @property
    def total_bytes(self) -> int:
        """Input + parameters + activations, in bytes (inference, batch 1)."""
        return self.input_bytes + self.params_bytes + self.activation_bytes

    def totals_lines(self) -> list[str]:
        """The totals block, Keras wording for the parameter lines."""
        return [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Total mult-adds: {self.total_mult_adds:,} ({si(self.total_mult_adds)})",
            f"Input size: {bytes_text(self.input_bytes)}",
            f"Params size: {bytes_text(self.params_bytes)}",
            f"Activation memory: {bytes_text(self.activation_bytes)}",
            f"Estimated total size: {bytes_text(self.total_bytes)}",
        ]

    def table_cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and formatted cells of the table (shared by text and HTML)."""
        header = [
            "Layer (type)",
            "Output shape",
            "Param #",
            "Non-trainable",
            "Mult-adds",
            "RF (jump)",
            "Memory",
        ]
        cells = [
            [
                layer_cell(r.name, r.kind),
                shape_text(r.output_shape),
                "(shared)" if r.repeat else f"{r.params:,}",
                "" if r.repeat else f"{r.non_trainable_params:,}",
                f"{r.mult_adds:,}",
                r.receptive_field,
                bytes_text(r.memory_bytes),
            ]
            for r in self.rows
        ]
        return header, cells

    def __str__(self) -> str:
        header, cells = self.table_cells()
        title = f"Model: {self.model_name}  input {shape_text(self.input_shape)}"
        return text_table(title, header, cells, self.totals_lines())

    def __repr__(self) -> str:  # a REPL shows the table, as `print` does
        return str(self)

    def explain(self) -> str:
        """One line per row: how its parameter count and output size come about."""
        width = max((len(r.name) for r in self.rows), default=0)
        return "\n".join(
            f"{r.name.ljust(width)}  {r.description}: params = {r.param_formula}; "
            f"out = {r.output_formula}"
            for r in self.rows
        )

    def _repr_html_(self) -> str:
        header, cells = self.table_cells()
        return html_table(
            self.model_name,
            f"input {shape_text(self.input_shape)}",
            header,
            cells,
            self.totals_lines(),
        )
