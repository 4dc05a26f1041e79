"""`sweep` and `compare`: experiments of several runs from a notebook, as one table.

Both train every run into its own folder under `out` (a finished run is reused, an
interrupted one resumes), repeat it with `seeds` seeds, and return an `Experiment`: one row
per setting with the mean test accuracy and its spread over the seeds, best first. Every run
starts from the recipe src/convlens/recipes/experiment.yaml (Adam, lr 2e-3, one-cycle, batch
128, 3 epochs, no augmentation), as `convlens sweep` and `convlens compare` do; keyword
options override it. The work is the engine's (`convlens.engine.sweep`; a comparison is a
sweep over the model); this is the front door.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convlens.api.run import shown_path
from convlens.config import TrainConfig, experiment_config
from convlens.engine import sweep as sweeping
from convlens.errors import ConfigError
from convlens.look.experiments import draw_sweep
from convlens.look.picture import Picture

__all__ = ["Experiment", "sweep", "compare"]


class Experiment:
    """The result of `cl.sweep` or `cl.compare`: shows as a Markdown table in Jupyter.

    Attributes:
        rows: one dict per setting, best mean test accuracy first: run, accuracy (mean over
            seeds), spread (standard deviation over seeds, 0 for one seed), seeds, loss,
            params, mult_adds, seconds, images_per_second.
        results: every single run (`convlens.engine.sweep.Result`: combo, seed, accuracy,
            curve, ...), in the order they ran.
        out: the folder that holds the runs.

    Example:
        >>> exp = cl.sweep("conv {n} 3, maxpool 2, flatten, dense 10", {"n": [8, 32]}, seeds=2)
        >>> exp.rows[0]["run"], exp.rows[0]["accuracy"], exp.rows[0]["spread"]
        >>> exp.plot()
    """

    def __init__(
        self, rows: list[dict[str, Any]], results: list[sweeping.Result], out: Path, title: str
    ) -> None:
        self.rows = rows
        self.results = results
        self.out = out
        self.title = title

    def table(self) -> str:
        """The rows as a Markdown table (test accuracy, its spread over seeds, size, time)."""
        return sweeping.table(self.rows)

    def plot(self) -> Picture:
        """Mean test accuracy of each setting, best first, with the spread as error bars."""
        fig = draw_sweep(self.rows, title=f"{self.title}, best first")
        return Picture(fig, name=self.title.lower())

    def _repr_markdown_(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        best = self.rows[0]
        return (
            f"<Experiment {self.title.lower()}: {len(self.rows)} settings x "
            f"{best['seeds']} seeds in {shown_path(self.out)}; best {best['run']} "
            f"{best['accuracy']:.2%}; .table(), .plot()>"
        )


def sweep(
    model: str,
    grid: Mapping[str, Sequence[Any]],
    data: str | None = None,
    *,
    seeds: int = 1,
    out: str | Path | None = None,
    jobs: int = 1,
    quiet: bool = False,
    **options: Any,
) -> Experiment:
    """Train every combination of `grid`, `seeds` times each; one row per combination.

    Args:
        model: spec text with {placeholders} that the grid fills, e.g. "conv 32 {k},
            maxpool 2, flatten, dense 10", or a registry name.
        grid: values to try per key: a {placeholder} of the model, or a training setting
            such as batch_size or lr, e.g. {"k": [3, 5, 7]} or {"batch_size": [32, 512]}.
        data: the data set (default "fashion-mnist").
        seeds: runs per combination, with seeds seed..seed+seeds-1 (two or more give the
            spread that tells a real difference from noise).
        out: the folder of the runs (default runs/sweep-<time>); finished runs are reused.
        jobs: runs at once, each in its own process.
        quiet: print nothing while training (no epoch lines, no progress bar).
        **options: TrainConfig fields for every run (epochs, limit_train, lr, ...); the
            others are the experiment recipe's (src/convlens/recipes/experiment.yaml).

    Example:
        >>> cl.sweep("conv 32 {k}, maxpool 2, flatten, dense 10", {"k": [3, 5]}, seeds=2,
        ...          epochs=2, limit_train=6000)
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(
            f"Expected grid: a dict of lists, e.g. {{'k': [3, 5]}}. Received: {grid!r}"
        )
    values = {str(k): _values(k, v) for k, v in grid.items()}
    return _experiment("sweep", model, values, data, seeds, out, jobs, quiet, options)


def compare(
    models: Sequence[str],
    data: str | None = None,
    *,
    seeds: int = 1,
    out: str | Path | None = None,
    jobs: int = 1,
    quiet: bool = False,
    **options: Any,
) -> Experiment:
    """Train several models with the same data, budget and settings; one row per model.

    Args:
        models: registry names or spec texts, e.g. ["mlp", "keras_mnist"].
        data: the data set (default "fashion-mnist").
        seeds: runs per model, with seeds seed..seed+seeds-1.
        out: the folder of the runs (default runs/compare-<time>); finished runs are reused.
        jobs: runs at once, each in its own process.
        quiet: print nothing while training (no epoch lines, no progress bar).
        **options: TrainConfig fields for every run (epochs, limit_train, lr, ...); the
            others are the experiment recipe's (src/convlens/recipes/experiment.yaml).

    Example:
        >>> cl.compare(["mlp", "keras_mnist"], seeds=2, epochs=2, limit_train=6000)
    """
    if isinstance(models, str) or not models or not all(isinstance(m, str) for m in models):
        raise ConfigError(
            f"Expected models: a list of registry names or spec texts, e.g. "
            f"['mlp', 'keras_mnist']. Received: {models!r}"
        )
    grid = {"model": list(models)}  # a comparison is a sweep over the model
    return _experiment("compare", "{model}", grid, data, seeds, out, jobs, quiet, options)


def _experiment(
    kind: str,
    template: str,
    grid: dict[str, list[str]],
    data: str | None,
    seeds: int,
    out: str | Path | None,
    jobs: int,
    quiet: bool,
    options: dict[str, Any],
) -> Experiment:
    """Check the arguments, run the sweep (`convlens.engine.sweep`) and tabulate it; `kind`:
    "sweep" or "compare"."""
    base = _base(data, options, f"cl.{kind}", quiet)
    folder = _folder(out, kind)
    _check_counts(seeds=seeds, jobs=jobs)
    log = None if quiet else print
    results = sweeping.sweep(template, grid, base, folder, seeds=seeds, jobs=jobs, log=log)
    title = "Comparison" if kind == "compare" else "Sweep"
    return Experiment(sweeping.summarize(results), results, folder, title)


def _values(key: Any, given: Any) -> list[str]:
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or not given:
        raise ConfigError(
            f"Expected a list of values for grid key {key!r}, e.g. [3, 5]. Received: {given!r}"
        )
    return [str(v) for v in given]


def _base(data: str | None, options: dict[str, Any], source: str, quiet: bool) -> TrainConfig:
    if "model" in options:
        raise ConfigError(f"{source}: the model is set per run; pass it as the first argument")
    if not isinstance(quiet, bool):
        raise ConfigError(f"Expected quiet=True or False. Received: quiet={quiet!r}")
    quiet_bar = {"progress": False} if quiet else {}
    return experiment_config(settings={"data": data, **quiet_bar, **options}, source=source)


def _folder(out: str | Path | None, kind: str) -> Path:
    return (
        Path(out) if out is not None else Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    )


def _check_counts(**counts: Any) -> None:
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"Expected {key} >= 1. Received: {key}={value!r}")
