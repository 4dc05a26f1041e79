"""Run folders: create one, read one back (`load_run`), and record where a run came from.

A run folder holds:

    config.yaml        the resolved TrainConfig
    run.json           model, data set, classes, mean/std, input shape, seed, versions, git commit
    model.txt          the model as given (registry name or spec text), enough to rebuild it

and, written by training after every epoch (see convlens.engine.checkpoint), the metrics,
the last and best weights, state.pt and checksums.json. Every file is written atomically
(`convlens.io`).
"""

from __future__ import annotations

import html
import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import torch
from torch import nn

from convlens import __version__
from convlens.config import TrainConfig, config_to_yaml, load_config_file, merge_config
from convlens.engine.checkpoint import BEST, LAST, load_weights, verify_checksums
from convlens.errors import CheckpointError, ConfigError, ModelError
from convlens.io import atomic_write_json, atomic_write_text
from convlens.models.build import MODULE_REF, build

__all__ = [
    "RUN_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "Run",
    "check_run_dir",
    "create_run",
    "read_run_info",
    "read_run_config",
    "load_run",
    "slug",
    "build_run_model",
    "versions",
    "git_commit",
]

RUN_FILE, CONFIG_FILE, MODEL_FILE = "run.json", "config.yaml", "model.txt"


# ----------------------------------------------------------------------------- provenance
def versions() -> dict[str, str]:
    """Versions of python and the libraries that decide the numbers."""
    import torchvision  # a slow import: only when a run is created

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "convlens": __version__,
    }


def git_commit(path: str | Path | None = None) -> str | None:
    """The git commit of the source tree (None outside a git repository)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
    if not isinstance(info, dict) or "input_shape" not in info or "model" not in info:
        raise CheckpointError(f"{str(run_dir / RUN_FILE)!r} is not a convlens run description")
    return info


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved TrainConfig saved in a run folder."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        return merge_config(TrainConfig(), load_config_file(path), source=str(path))
    except ConfigError as exc:
        raise CheckpointError(f"run config unusable: {exc}") from None


def check_run_dir(run_dir: str | Path) -> None:
    """CheckpointError when `run_dir` already holds a run or other files (nothing is touched)."""
    run_dir = Path(run_dir)
    if (run_dir / RUN_FILE).exists():
        raise CheckpointError(
            f"{str(run_dir)!r} already holds a run; continue it with "
            f"--resume {run_dir} or choose another --out"
        )
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise CheckpointError(
            f"--out {str(run_dir)!r} exists and is not an empty folder; choose a new folder"
        )


def slug(text: str, max_len: int = 40) -> str:
    """A folder-name-safe short form of a model name or spec text."""
    stem = Path(text).stem if text.strip().lower().endswith((".yaml", ".yml")) else text
    out = "".join(c if c.isalnum() or c in "._" else "-" for c in stem.strip().lower())
    out = "-".join(part for part in out.split("-") if part)
    return out[:max_len].strip("-") or "model"


def create_run(run_dir: str | Path, config: TrainConfig, model: nn.Module, train_ds: Any) -> None:
    """Make the run folder and write config.yaml, run.json and model.txt (before training)."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_text = getattr(model, "spec_text", None)
    info = {
        "convlens_run": 1,
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
    atomic_write_text(run_dir / CONFIG_FILE, config_to_yaml(config))
    atomic_write_text(run_dir / MODEL_FILE, (spec_text or config.model) + "\n")
    atomic_write_json(run_dir / RUN_FILE, info)


@dataclass
class Run:
    """A finished (or stopped) training run, loaded for evaluation or prediction.

    Attributes:
        path: the run folder.
        config: the resolved TrainConfig.
        info: run.json as a dict.
        classes, mean, std, input_shape: what the model expects and predicts.
        model: the rebuilt model in eval mode with the chosen weights.
        weights: which file the weights came from.
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


def build_run_model(info: dict[str, Any], model: nn.Module | None = None) -> nn.Module:
    """Rebuild the model of a run from its spec text, registry name or module reference and
    its input shape; `model` is a fresh instance of a user's own module to use instead."""
    spec = model if model is not None else info.get("spec_text") or info["model"]
    try:
        return build(
            spec,
            tuple(info["input_shape"]),
            num_classes=int(info["num_classes"]),
            fits=str(info.get("data", "the data")),
        )
    except ModelError as exc:
        match = MODULE_REF.match(str(spec))
        if model is not None or match is None:
            raise
        cls = match["cls"].rsplit(".", 1)[-1]  # Net, also for f.<locals>.Net
        raise CheckpointError(
            f"this run trained the user's own module {spec} and it cannot be built here "
            f"({exc}); pass a fresh instance: cl.load(path, model={cls}())"
        ) from None


def load_run(path: str | Path, *, weights: str = "best", model: nn.Module | None = None) -> Run:
    """Load a run folder: config, classes, normalisation, and the model with its weights.

    Args:
        path: a folder made by `convlens train`.
        weights: "best" (best test accuracy; falls back to last) or "last".
        model: a fresh instance of the run's own module (a user's class that cannot be
            imported here, e.g. one defined in a notebook); its tensors must match the
            checkpoint's names and shapes.
    """
    if weights not in ("best", "last"):
        raise ConfigError(f"Expected weights 'best' or 'last'. Received: weights={weights!r}")
    run_dir = Path(path)
    info = read_run_info(run_dir)
    config = read_run_config(run_dir)
    name = BEST if weights == "best" and (run_dir / BEST).is_file() else LAST
    verify_checksums(run_dir, (name,))
    model = build_run_model(info, model)
    load_weights(model, run_dir / name)
    model.eval()
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = []
    return Run(
        path=run_dir,
        config=config,
        info=info,
        classes=tuple(info["classes"]),
        mean=tuple(info["mean"]),
        std=tuple(info["std"]),
        input_shape=tuple(info["input_shape"]),
        model=model,
        weights=name,
        metrics=metrics,
    )
