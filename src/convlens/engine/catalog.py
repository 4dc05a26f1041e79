"""The run folders under a folder, and one line about each (without loading a model): what
`convlens runs` prints and the explorer offers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from convlens.engine.runfiles import read_metrics
from convlens.engine.runs import RUN_FILE, read_run_info
from convlens.errors import ConvlensError


def list_runs(root: Path, depth: int = 3) -> dict[str, Path]:
    """Run folders under `root`, by their path relative to it ('digits', 'sweep1/f=32 k=3'):
    runs nested by sweep, compare or transfer too, up to `depth` folders down (a run
    folder's own subfolders are not searched, nor hidden ones)."""
    found: dict[str, Path] = {}

    def walk(folder: Path, level: int) -> None:
        for p in sorted(folder.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            if (p / RUN_FILE).is_file():
                found[p.relative_to(root).as_posix()] = p
            elif level < depth:
                walk(p, level + 1)

    if root.is_dir():
        walk(root, 1)
    return found


def run_row(path: Path) -> dict[str, Any]:
    """What a run is: data, model, input shape, classes, epochs and best test accuracy (NaN
    when none was recorded); `problem` holds the one line when the folder cannot be read."""
    try:
        info = read_run_info(path)
    except ConvlensError as exc:
        return {"problem": str(exc)}
    try:
        metrics = read_metrics(path)  # checked: one row per epoch, each with its accuracy
    except ConvlensError as exc:
        return {"problem": str(exc)}
    accuracies = [float(m["test_accuracy"]) for m in metrics]
    return {
        "data": str(info.get("data", "?")),
        "model": str(info.get("model", "?")),
        "input_shape": list(info.get("input_shape", [])),
        "classes": [str(c) for c in info.get("classes", [])],
        "epochs": len(metrics),
        "best_accuracy": max(accuracies, default=math.nan),
    }


def runs_table(root: Path) -> str:
    """A text table of the runs under `root`: run, data, model, epochs, best accuracy."""
    rows = [("run", "data", "model", "epochs", "best accuracy")]
    for name, path in list_runs(root).items():
        r = run_row(path)
        if "problem" in r:
            rows.append((name, "(unreadable)", r["problem"], "", ""))
            continue
        acc = "-" if math.isnan(r["best_accuracy"]) else f"{r['best_accuracy']:.2%}"
        model = r["model"] if len(r["model"]) <= 40 else r["model"][:39] + "…"
        rows.append((name, r["data"], model, str(r["epochs"]), acc))
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows
    )
