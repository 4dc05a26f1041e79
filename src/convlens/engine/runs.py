"""Run folders: atomic writes, safetensors checkpoints, resume state and `load_run`.

A run folder holds:

    config.yaml        the resolved TrainConfig
    run.json           model, data set, classes, mean/std, input shape, seed, versions, git commit
    model.txt          the model as given (registry name or spec text), enough to rebuild it
    metrics.csv/.json  one row per epoch
    model.safetensors  weights after the last finished epoch (or interrupted batch)
    best.safetensors   weights of the epoch with the best test accuracy
    state.pt           optimizer, scheduler, RNG, epoch and batch: tensors and plain data only
    checksums.json     sha256 of the three checkpoint files, checked before loading

Every file is written with `convlens.io.atomic_write_bytes` (temp file in the same folder,
fsync, os.replace), so a crash leaves either the old or the new file, never half of one.
"""
from __future__ import annotations

import csv
import io
import json
import pickle
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlens.config import TrainConfig, load_config_file, merge_config
from convlens.errors import CheckpointError, ConfigError
from convlens.io import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file

__all__ = ["RUN_FILE", "LAST", "BEST", "STATE", "Run", "save_weights", "load_weights", "load_state",
           "save_checkpoint", "verify_checksums", "write_metrics", "check_run_dir", "create_run",
           "read_run_info", "read_run_config", "load_run", "slug", "build_run_model",
           "versions", "git_commit"]

RUN_FILE, CONFIG_FILE, MODEL_FILE = "run.json", "config.yaml", "model.txt"
LAST, BEST, STATE, CHECKSUMS = "model.safetensors", "best.safetensors", "state.pt", "checksums.json"


# ----------------------------------------------------------------------------- weights and state
def _plain_module(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel and torch.compile wrappers."""
    model = getattr(model, "module", model) if type(model).__name__ == \
        "DistributedDataParallel" else model
    return getattr(model, "_orig_mod", model)


def save_weights(path: str | Path, model: nn.Module) -> None:
    """Save the model's state_dict as safetensors, atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu().clone()
               for k, v in _plain_module(model).state_dict().items()}
    atomic_write_bytes(path, save(tensors))


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load safetensors weights into `model`; CheckpointError for a bad file or architecture."""
    from safetensors.torch import load

    path = Path(path)
    try:
        tensors = load(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} is missing") from None
    except Exception:
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or not a safetensors "
                              f"file") from None
    target = _plain_module(model).state_dict()
    missing = [k for k in target if k not in tensors]
    unexpected = sorted(k for k in tensors if k not in target)
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in target.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (checkpoint vs model): " + "; ".join(wrong[:4]))
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:4]))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:4]))
        raise CheckpointError(f"checkpoint {str(path)!r} is from another architecture: "
                              + "; ".join(parts))
    _plain_module(model).load_state_dict(tensors)


def load_state(path: str | Path) -> dict[str, Any]:
    """Load `state.pt` with weights_only=True: tensors and plain data, never arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint state {str(path)!r} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"checkpoint state {str(path)!r} holds objects other than tensors "
                              f"and plain data; refusing to load it") from None
    except Exception:
        raise CheckpointError(f"checkpoint state {str(path)!r} is truncated or corrupt") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"checkpoint state {str(path)!r} is not a convlens training state")
    return state


def save_checkpoint(run_dir: str | Path, model: nn.Module, state: dict[str, Any], *,
                    best: bool = False) -> None:
    """Write the last weights (and best, if `best`), state.pt, then their checksums."""
    run_dir = Path(run_dir)
    save_weights(run_dir / LAST, model)
    if best:
        save_weights(run_dir / BEST, model)
    atomic_save(run_dir / STATE, state)
    sums = {name: sha256_file(run_dir / name) for name in (LAST, BEST, STATE)
            if (run_dir / name).is_file()}
    atomic_write_json(run_dir / CHECKSUMS, sums)


def verify_checksums(run_dir: str | Path, names: tuple[str, ...]) -> None:
    """CheckpointError when a checkpoint file does not match its recorded sha256."""
    run_dir = Path(run_dir)
    try:
        sums = json.loads((run_dir / CHECKSUMS).read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"run folder {str(run_dir)!r} has no readable {CHECKSUMS}; "
                              f"its checkpoints cannot be trusted") from None
    for name in names:
        path = run_dir / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} is missing")
        if sums.get(name) != sha256_file(path):
            raise CheckpointError(f"checkpoint {str(path)!r} does not match its checksum "
                                  f"(tampered, truncated, or written by something else)")


def write_metrics(run_dir: str | Path, history: list[dict[str, Any]]) -> None:
    """metrics.csv and metrics.json, one row per epoch."""
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / "metrics.json", history)
    out = io.StringIO()
    if history:
        writer = csv.DictWriter(out, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", out.getvalue())


# ----------------------------------------------------------------------------- provenance
def versions() -> dict[str, str]:
    """Versions of python and the libraries that decide the numbers."""
    import numpy
    import torchvision

    from convlens import __version__
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__,
            "convlens": __version__}


def git_commit(path: str | Path | None = None) -> str | None:
    """The git commit of the source tree (None outside a git repository)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=5, check=False)
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
        raise CheckpointError(f"{str(run_dir)!r} is not a run folder (no {RUN_FILE}); expected "
                              f"a folder made by `convlens train --out`") from None
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
        raise CheckpointError(f"{str(run_dir)!r} already holds a run; continue it with "
                              f"--resume {run_dir} or choose another --out")
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise CheckpointError(f"--out {str(run_dir)!r} exists and is not an empty folder; "
                              f"choose a new folder")


def slug(text: str, max_len: int = 40) -> str:
    """A folder-name-safe short form of a model name or spec text."""
    stem = Path(text).stem if text.strip().lower().endswith((".yaml", ".yml")) else text
    out = "".join(c if c.isalnum() or c in "._" else "-" for c in stem.strip().lower())
    out = "-".join(part for part in out.split("-") if part)
    return out[:max_len].strip("-") or "model"


def create_run(run_dir: str | Path, config: TrainConfig, model: nn.Module, train_ds: Any) -> None:
    """Make the run folder and write config.yaml, run.json and model.txt (before training)."""
    from convlens.config import config_to_yaml

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
        return (f"run {self.path}: {self.info.get('model')} on {self.info.get('data')}, "
                f"{len(self.metrics)} epochs, best test accuracy {best:.2%}")

    def _repr_html_(self) -> str:
        import html
        rows = "".join(f"<tr><td>{m['epoch']}</td><td>{m['train_loss']:.4f}</td>"
                       f"<td>{m['test_loss']:.4f}</td><td>{m['test_accuracy']:.2%}</td></tr>"
                       for m in self.metrics)
        return (f"<div><b>{html.escape(str(self))}</b><table><tr><th>epoch</th>"
                f"<th>train loss</th><th>test loss</th><th>test acc</th></tr>{rows}</table></div>")


def build_run_model(info: dict[str, Any]) -> nn.Module:
    """Rebuild the model of a run from its spec text (or name) and input shape."""
    from convlens.models.build import build

    spec = info.get("spec_text") or info["model"]
    return build(spec, tuple(info["input_shape"]), num_classes=int(info["num_classes"]),
                 fits=str(info.get("data", "the data")))


def load_run(path: str | Path, *, weights: str = "best") -> Run:
    """Load a run folder: config, classes, normalisation, and the model with its weights.

    Args:
        path: a folder made by `convlens train`.
        weights: "best" (best test accuracy; falls back to last) or "last".
    """
    if weights not in ("best", "last"):
        raise ConfigError(f"Expected weights 'best' or 'last'. Received: weights={weights!r}")
    run_dir = Path(path)
    info = read_run_info(run_dir)
    config = read_run_config(run_dir)
    name = BEST if weights == "best" and (run_dir / BEST).is_file() else LAST
    verify_checksums(run_dir, (name,))
    model = build_run_model(info)
    load_weights(model, run_dir / name)
    model.eval()
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = []
    return Run(path=run_dir, config=config, info=info, classes=tuple(info["classes"]),
               mean=tuple(info["mean"]), std=tuple(info["std"]),
               input_shape=tuple(info["input_shape"]), model=model, weights=name,
               metrics=metrics)
