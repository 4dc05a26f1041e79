"""The schemas of a run folder's files, checked where each file is read (this one place).

A run folder may come from anyone (a download, a colleague, a hand edit), so every file of it
is data to validate: run.json, metrics.json and the format version of checkpoint.json are
checked here, config.yaml by `convlens.config` (through the bounded YAML loader,
`convlens.yamlfile`). A bad file is refused in one line that names the file and the field,
with the value cut short.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from convlens.errors import CheckpointError

__all__ = [
    "RUN_FORMAT",
    "CHECKPOINT_FORMAT",
    "check_format",
    "check_run_info",
    "read_metrics",
    "check_metrics",
]

RUN_FORMAT = 1  # run.json's "convlens_run"
CHECKPOINT_FORMAT = 1  # checkpoint.json's "convlens_checkpoint"


def short(value: Any, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters."""
    text = repr(value) if not isinstance(value, (list, dict)) or len(value) < 100 else None
    if text is None:
        text = f"{type(value).__name__} of {len(value)} items"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(path: Path, field: str, expected: str, value: Any) -> CheckpointError:
    return CheckpointError(
        f"{str(path)!r}: {field} must be {expected}. Received: {field}={short(value)}"
    )


def check_format(path: Path, raw: dict[str, Any], key: str, known: int) -> None:
    """CheckpointError unless `raw[key]`, the format version of the file `path`, is one
    this convlens reads (a newer one asks for an upgrade)."""
    version = raw.get(key)
    if key not in raw:
        raise CheckpointError(
            f"{str(path)!r} has no format version ({key}); it was not written by convlens"
        )
    if isinstance(version, int) and not isinstance(version, bool) and version > known:
        raise CheckpointError(
            f"{str(path)!r} was made by a newer convlens (format {version}; this one reads "
            f"format {known}); upgrade convlens: pip install -U convlens"
        )
    if version != known or isinstance(version, bool):
        raise CheckpointError(
            f"{str(path)!r} has an unknown format version {key}={short(version)}; this "
            f"convlens reads format {known}"
        )


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> bool:  # NaN too: a diverged epoch's loss
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_run_info(path: Path, info: Any) -> dict[str, Any]:
    """run.json's contents, checked: the fields every reader relies on have their types."""
    if not isinstance(info, dict) or "input_shape" not in info or "model" not in info:
        raise CheckpointError(f"{str(path)!r} is not a convlens run description")
    check_format(path, info, "convlens_run", RUN_FORMAT)
    shape = info["input_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(_whole(n, 1) for n in shape)):
        raise _bad(path, "input_shape", "3 whole numbers >= 1 (channels, height, width)", shape)
    for field in ("model", "data"):
        if not isinstance(info.get(field), str) or not info[field].strip():
            raise _bad(path, field, "a text", info.get(field))
    if info.get("spec_text") is not None and not isinstance(info["spec_text"], str):
        raise _bad(path, "spec_text", "a text or null", info["spec_text"])
    n = info.get("num_classes")
    if not _whole(n, 1, 100_000):
        raise _bad(path, "num_classes", "a whole number in 1..100000", n)
    classes = info.get("classes")
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise _bad(path, "classes", "a list of class names (texts)", classes)
    if len(classes) != n:
        raise _bad(path, "classes", f"a list of num_classes={n} names", classes)
    for field in ("mean", "std"):
        values = info.get(field)
        if not (isinstance(values, list) and len(values) == shape[0]):
            raise _bad(path, field, f"a list of {shape[0]} numbers (one per channel)", values)
        if not all(_finite(v) and (field == "mean" or v > 0) for v in values):
            what = "finite numbers" if field == "mean" else "finite numbers > 0"
            raise _bad(path, field, what, values)
    seed = info.get("seed")
    if seed is not None and not _whole(seed, 0, 2**64 - 1):
        raise _bad(path, "seed", "a whole number in 0..2**64-1 or null", seed)
    return info


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.json of a run folder, checked; [] when no epoch has finished (no file)."""
    path = run_dir / "metrics.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {str(path)!r}: {exc}") from None
    try:
        rows = json.loads(text)
    except ValueError:
        raise CheckpointError(
            f"{str(path)!r} is not readable JSON (empty or cut short); the run's metrics "
            f"are also in metrics.csv"
        ) from None
    return check_metrics(path, rows)


def check_metrics(path: Path, rows: Any) -> list[dict[str, Any]]:
    """metrics.json's rows, checked: one mapping per epoch with its numbers."""
    if not isinstance(rows, list):
        raise _bad(path, "the file", "a list of one mapping per epoch", rows)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _bad(path, f"row {i + 1}", "a mapping of an epoch's numbers", row)
        if not _whole(row.get("epoch"), 1):
            raise _bad(path, f"row {i + 1} epoch", "a whole number >= 1", row.get("epoch"))
        if not _number(row.get("test_accuracy")):
            raise _bad(path, f"row {i + 1} test_accuracy", "a number", row.get("test_accuracy"))
        for key, value in row.items():
            if value is not None and not _number(value):
                raise _bad(path, f"row {i + 1} {key}", "a number", value)
    return rows
