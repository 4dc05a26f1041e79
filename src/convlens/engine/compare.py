"""CNN versus MLP (notebook 003's lesson) as a measured table: same data, same budget.

`compare` trains each model into its own run folder under `out` with the same epochs,
batch, optimizer, schedule and seed, then tabulates parameters, mult-adds, training time,
images/s and test accuracy. A finished run folder is reused; an interrupted one resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convlens.config import TrainConfig
from convlens.engine.runs import slug
from convlens.io import atomic_write_text


@dataclass(frozen=True)
class Row:
    """One model's result."""

    model: str
    params: int
    mult_adds: int
    seconds: float
    images_per_second: float
    accuracy: float
    loss: float
    curve: tuple[float, ...]  # test accuracy per epoch


def compare(models: Sequence[str], base: TrainConfig, out: str | Path, *, log=print) -> list[Row]:
    """Train every model with the settings of `base` into `out/<model>`; one Row each."""
    from convlens.engine.sweep import result_of, train_or_reuse

    rows = []
    for name in models:
        cfg = base.replace(model=name, out=str(Path(out) / slug(name)))
        if log:
            log(f"== {name}")
        r = result_of(train_or_reuse(cfg, log=log), {"model": name}, cfg.seed)
        rows.append(
            Row(
                name,
                r.params,
                r.mult_adds,
                r.seconds,
                r.images_per_second,
                r.accuracy,
                r.loss,
                r.curve,
            )
        )
    return rows


def table(rows: Sequence[Row]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "| model | params | mult-adds | train s | images/s | test acc | test loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {r.params:,} | {r.mult_adds:,} | {r.seconds:.1f} | "
        f"{r.images_per_second:,.0f} | {r.accuracy:.2%} | {r.loss:.4f} |"
        for r in rows
    ]
    return "\n".join(lines)


def write_outputs(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """compare.md in `out` (the plot beside it is drawn by look/experiments.py)."""
    md = Path(out) / "compare.md"
    atomic_write_text(md, table(rows) + "\n")
    return [md]
