"""Run folders: create one, lock one, read one back (`load_run`), and record where a run
came from.

A run folder holds:

    config.yaml        the resolved TrainConfig
    run.json           model, data set, classes, mean/std, input shape, seed, versions, git commit
    model.txt          the model as given (registry name or spec text), enough to rebuild it
    .lock              locked (fcntl.flock) by the process that trains the run; holds its PID

and, written by training after every epoch (see convlens.engine.checkpoint), the metrics and
the checkpoint (weights, state and the checkpoint.json that names them). Every file is written
atomically (`convlens.io`), and run.json says "creating" until the folder is whole, so a kill
while a folder is made leaves one that `train --out` starts again. A training holds the lock
for its whole run (resume included), so a second training into the same folder is refused
with the holder's PID. Commands that only read a run take no lock and write nothing into the
folder when it is read-only (`output_folder`).
"""

from __future__ import annotations

import errno
import html
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from convlens.config import TrainConfig, config_to_yaml, load_config_file, merge_config
from convlens.engine import lock
from convlens.engine.checkpoint import (
    apply_weights,
    check_no_orphans,
    has_checkpoint,
    read_checkpoint,
)
from convlens.engine.hints import resume_hint, start_again
from convlens.engine.provenance import git_commit, versions
from convlens.engine.rebuild import build_run_model
from convlens.engine.runfiles import RUN_FORMAT, check_run_info, read_metrics
from convlens.errors import CheckpointError, ConfigError
from convlens.io import atomic_write_json, atomic_write_text

__all__ = [
    "RUN_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "LOCK_FILE",
    "Run",
    "check_run_dir",
    "resume_hint",
    "start_again",
    "run_lock",
    "output_folder",
    "write_for_run",
    "create_run",
    "read_run_info",
    "read_run_config",
    "load_run",
    "slug",
    "versions",
    "git_commit",
]

RUN_FILE, CONFIG_FILE, MODEL_FILE, LOCK_FILE = "run.json", "config.yaml", "model.txt", ".lock"
CREATING = "creating"  # run.json's "state" until config.yaml and model.txt are written too
# What a creation killed half-way leaves: its files, and the temp files of convlens.io's writes
_SCRATCH = re.compile(
    r"^(run\.json|config\.yaml|model\.txt|\.(run\.json|config\.yaml|model\.txt)\.[0-9a-f]{8}\.tmp)$"
)
T = TypeVar("T")


# ----------------------------------------------------------------------------- reading runs
def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    """run.json of a run folder; CheckpointError when the folder is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {str(run_dir)!r} does not exist")
    try:
        info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{str(run_dir)!r} is not a run folder (no {RUN_FILE}); expected "
            f"a folder made by `convlens train --out`"
        ) from None
    except (OSError, ValueError):
        raise CheckpointError(f"{str(run_dir / RUN_FILE)!r} is not readable JSON") from None
    if isinstance(info, dict) and info.get("state") == CREATING:
        raise CheckpointError(
            f"{str(run_dir)!r} was stopped while it was being created, before training "
            f"began; train again with --out {run_dir}"
        )
    return check_run_info(run_dir / RUN_FILE, info)


def _half_made(run_dir: Path) -> bool:
    """True when `run_dir` has no whole run description: no run.json, or one still creating
    (what a kill during `create_run` leaves); its files may then be replaced."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return not path.exists()
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("state") == CREATING
    except (OSError, ValueError, AttributeError):
        return False


def _scratch(path: Path) -> bool:
    """A file a killed `create_run` may have left (see `_half_made`)."""
    return bool(_SCRATCH.match(path.name)) and path.is_file()


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved TrainConfig saved in a run folder."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        return merge_config(TrainConfig(), load_config_file(path), source=str(path))
    except ConfigError as exc:
        raise CheckpointError(f"run config unusable: {exc}") from None


def check_run_dir(run_dir: str | Path) -> None:
    """CheckpointError when `run_dir` is being trained, already holds a run, or holds other
    files (nothing is touched)."""
    run_dir = Path(run_dir)
    holder = lock.holder(run_dir / LOCK_FILE)
    if holder is not None:
        raise _in_use(run_dir, holder)
    outer = next((p for p in run_dir.absolute().parents if (p / RUN_FILE).is_file()), None)
    if outer is not None:  # `serve` and `convlens runs` would not find it; a copy drags it along
        raise CheckpointError(
            f"--out {str(run_dir)!r} is inside the run folder {str(outer)!r}; a run goes in a "
            f"folder of its own: choose an --out outside it"
        )
    _check_contents(run_dir)
    if not run_dir.exists():
        parent = next(p for p in run_dir.absolute().parents if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise CheckpointError(
                f"cannot create the run folder {str(run_dir)!r}: {str(parent)!r} is not a "
                f"folder you can write to; choose another --out"
            )


def _check_contents(run_dir: Path) -> None:
    half_made = _half_made(run_dir)
    if run_dir.is_dir() and not has_checkpoint(run_dir):
        check_no_orphans(run_dir)  # weights whose manifest was lost: never overwritten
    if not half_made:
        try:
            read_run_info(run_dir)
        except CheckpointError as exc:
            raise CheckpointError(
                f"--out {str(run_dir)!r} is not a convlens run folder ({exc}); choose another --out"
            ) from None
    if not half_made and not has_checkpoint(run_dir):
        raise CheckpointError(
            f"{str(run_dir)!r} holds a run that stopped before its first checkpoint; "
            f"{start_again(run_dir)}"
        )
    if not half_made:
        raise CheckpointError(
            f"{str(run_dir)!r} already holds a run; continue it with "
            f"{resume_hint(run_dir)} or choose another run folder"
        )
    if run_dir.exists() and (
        not run_dir.is_dir()
        or any(p.name != LOCK_FILE and not _scratch(p) for p in run_dir.iterdir())
    ):
        raise CheckpointError(
            f"--out {str(run_dir)!r} exists and is not an empty folder; choose a new folder"
        )


@contextmanager
def run_lock(run_dir: str | Path, *, create: bool = False) -> Iterator[None]:
    """Hold the run folder's lock (convlens.engine.lock on RUN/.lock) for the block.

    `create`: make the folder (and its parents) first; it may exist only empty. Raises
    CheckpointError, one line, when another process holds the lock (naming its PID), or the
    folder cannot be made or is not empty.
    """
    run_dir = Path(run_dir)
    try:
        if create:
            run_dir.mkdir(parents=True, exist_ok=True)
        fd, holder = lock.acquire(run_dir / LOCK_FILE)
    except OSError as exc:
        raise CheckpointError(
            f"cannot {'create' if create else 'lock'} the run folder {str(run_dir)!r}: "
            f"{exc.strerror or exc}; choose a folder you can write to"
        ) from None
    if fd is None:
        raise _in_use(run_dir, str(holder))
    try:
        if create:
            _check_contents(run_dir)  # under the lock: of two trainings, one gets the folder
        yield
    finally:
        lock.release(fd)


def _in_use(run_dir: Path, holder: str) -> CheckpointError:
    return CheckpointError(
        f"{str(run_dir)!r} is in use by another training ({holder}); wait for it to "
        f"finish, or choose another --out"
    )


def output_folder(run_dir: str | Path) -> Path:
    """Where a command that only reads a run writes its files: the run folder when this
    process may write there, else out/<run folder name> (in the working folder)."""
    run_dir = Path(run_dir)
    if os.access(run_dir, os.W_OK):
        return run_dir
    return Path("out") / run_dir.resolve().name


def write_for_run(run_dir: str | Path, write: Callable[[Path], T]) -> tuple[T, Path | None]:
    """Call `write(folder)` with `output_folder(run_dir)`; when writing into the run folder
    fails because it is read-only, call it again with out/<run name>. Returns the result
    and the other folder used (None: the run folder)."""
    run_dir = Path(run_dir)
    folder = output_folder(run_dir)
    if folder == run_dir:
        try:
            return write(run_dir), None
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
        folder = Path("out") / run_dir.resolve().name
    return write(folder), folder


def slug(text: str, max_len: int = 40) -> str:
    """A folder-name-safe short form of a model name or spec text."""
    stem = Path(text).stem if text.strip().lower().endswith((".yaml", ".yml")) else text
    out = "".join(c if c.isalnum() or c in "._" else "-" for c in stem.strip().lower())
    out = "-".join(part for part in out.split("-") if part)
    return out[:max_len].strip("-") or "model"


def create_run(run_dir: str | Path, config: TrainConfig, model: nn.Module, train_ds: Any) -> None:
    """Make the run folder and write run.json, config.yaml and model.txt (before training).

    run.json first, saying "state": "creating", and again, whole, once the others are written:
    a kill at any moment leaves a whole run description or a folder that says it is half
    made, which `train --out` replaces (and `load_run` / `--resume` refuse in one line)."""
    run_dir = Path(run_dir)
    _check_contents(run_dir)  # train() holds the folder's lock here
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.iterdir():  # a killed creation's files
        if _scratch(stale):
            stale.unlink()
    spec_text = getattr(model, "spec_text", None)
    info = {
        "convlens_run": RUN_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": config.model,
        "spec_text": spec_text,
        "data": train_ds.name,
        "classes": list(train_ds.classes),
        "num_classes": train_ds.num_classes,
        "mean": list(train_ds.mean),
        "std": list(train_ds.std),
        "input_shape": list(train_ds.input_shape),
        "train_images": len(train_ds),
        "seed": config.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": versions(),
        "git_commit": git_commit(),
    }
    try:
        atomic_write_json(run_dir / RUN_FILE, {**info, "state": CREATING})
        atomic_write_text(run_dir / CONFIG_FILE, config_to_yaml(config))
        atomic_write_text(run_dir / MODEL_FILE, (spec_text or config.model) + "\n")
        atomic_write_json(run_dir / RUN_FILE, info)
    except OSError as exc:
        for name in (CONFIG_FILE, MODEL_FILE, RUN_FILE):  # empty again, ready for a new try
            (run_dir / name).unlink(missing_ok=True)
        raise CheckpointError(
            f"cannot write the run folder {str(run_dir)!r}: {exc.strerror or exc}; free some "
            f"space (or choose another --out) and train again"
        ) from None


@dataclass
class Run:
    """A finished (or stopped) training run, loaded for evaluation or prediction.

    Attributes:
        path: the run folder.
        config: the resolved TrainConfig.
        info: run.json as a dict.
        classes, mean, std, input_shape: what the model expects and predicts.
        model: the rebuilt model in eval mode with the chosen weights.
        weights: "best" or "last": the checkpoint weights used ("last" when asked for the
            best before any epoch ended).
        weights_file: the file they came from.
        metrics: one dict per finished epoch.
    """

    path: Path
    config: TrainConfig
    info: dict[str, Any]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, int, int]
    model: nn.Module
    weights: str
    weights_file: Path | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        best = max((m["test_accuracy"] for m in self.metrics), default=float("nan"))
        return (
            f"run {self.path}: {self.info.get('model')} on {self.info.get('data')}, "
            f"{len(self.metrics)} epochs, best test accuracy {best:.2%}"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{m['epoch']}</td><td>{m['train_loss']:.4f}</td>"
            f"<td>{m['test_loss']:.4f}</td><td>{m['test_accuracy']:.2%}</td></tr>"
            for m in self.metrics
        )
        return (
            f"<div><b>{html.escape(str(self))}</b><table><tr><th>epoch</th>"
            f"<th>train loss</th><th>test loss</th><th>test acc</th></tr>{rows}</table></div>"
        )


def load_run(
    path: str | Path,
    *,
    weights: str = "best",
    model: nn.Module | None = None,
    trust_code: bool = False,
) -> Run:
    """Load a run folder: config, classes, normalisation, and the model with its weights.

    Args:
        path: a folder made by `convlens train`.
        weights: "best" (best test accuracy; falls back to last) or "last".
        model: a fresh instance of the run's own module (a user's class that cannot be
            imported here, e.g. one defined in a notebook); its tensors must match the
            checkpoint's names and shapes.
        trust_code: import the code the run names (`FILE.py:Class`, `module:Class`) to
            rebuild its model; without it such a run is refused unless `model` is given.
    """
    if weights not in ("best", "last"):
        raise ConfigError(f"Expected weights 'best' or 'last'. Received: weights={weights!r}")
    run_dir = Path(path)
    info = read_run_info(run_dir)
    config = read_run_config(run_dir)
    manifest, data, paths = read_checkpoint(run_dir, (weights,))
    used = weights if weights in manifest.files else "last"
    model = build_run_model(info, model, config, run_dir=run_dir, trust_code=trust_code)
    apply_weights(model, data[weights], paths[weights])
    model.eval()
    metrics = read_metrics(run_dir)
    return Run(
        path=run_dir,
        config=config,
        info=info,
        classes=tuple(info["classes"]),
        mean=tuple(info["mean"]),
        std=tuple(info["std"]),
        input_shape=tuple(info["input_shape"]),
        model=model,
        weights=used,
        weights_file=paths[weights],
        metrics=metrics,
    )
