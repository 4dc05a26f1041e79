"""Checkpoints: the weights, the training state and their checksums, written and read back.

After every epoch (and on Ctrl-C) the `Checkpoint` callback writes into the run folder:

    model.safetensors  weights after the last finished epoch (or interrupted batch)
    best.safetensors   weights of the epoch with the best test accuracy
    state.pt           optimizer, scheduler, RNG, epoch and batch, history and every
                       callback's state_dict: tensors and plain data only
    checksums.json     sha256 of the three files above, checked before loading
    metrics.csv/.json  one row per epoch

Every file is written with `convlens.io.atomic_write_bytes`, so a crash leaves either the old
or the new file, never half of one. `load_state` loads state.pt with weights_only=True.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save
from torch import nn

from convlens.engine.callbacks import Callback, TrainState
from convlens.errors import CheckpointError
from convlens.io import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
)

__all__ = [
    "LAST",
    "BEST",
    "STATE",
    "CHECKSUMS",
    "plain_module",
    "save_weights",
    "load_weights",
    "load_state",
    "save_checkpoint",
    "verify_checksums",
    "write_metrics",
    "training_state",
    "restore_training_state",
    "Checkpoint",
]

LAST, BEST, STATE, CHECKSUMS = "model.safetensors", "best.safetensors", "state.pt", "checksums.json"


# ----------------------------------------------------------------------------- weights
def plain_module(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel and torch.compile wrappers."""
    model = (
        getattr(model, "module", model)
        if type(model).__name__ == "DistributedDataParallel"
        else model
    )
    return getattr(model, "_orig_mod", model)


def save_weights(path: str | Path, model: nn.Module) -> None:
    """Save the model's state_dict as safetensors, atomically."""
    tensors = {
        k: v.detach().contiguous().cpu().clone()
        for k, v in plain_module(model).state_dict().items()
    }
    atomic_write_bytes(path, save(tensors))


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load safetensors weights into `model`; CheckpointError for a bad file or architecture."""
    path = Path(path)
    try:
        tensors = load(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} is missing") from None
    except Exception:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or not a safetensors file"
        ) from None
    target = plain_module(model).state_dict()
    missing = [k for k in target if k not in tensors]
    unexpected = sorted(k for k in tensors if k not in target)
    wrong = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in target.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (checkpoint vs model): " + "; ".join(wrong[:4]))
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:4]))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:4]))
        raise CheckpointError(
            f"checkpoint {str(path)!r} is from another architecture: " + "; ".join(parts)
        )
    plain_module(model).load_state_dict(tensors)


# ----------------------------------------------------------------------------- files
def load_state(path: str | Path) -> dict[str, Any]:
    """Load `state.pt` with weights_only=True: tensors and plain data, never arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint state {str(path)!r} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"checkpoint state {str(path)!r} holds objects other than tensors "
            f"and plain data; refusing to load it"
        ) from None
    except Exception:
        raise CheckpointError(f"checkpoint state {str(path)!r} is truncated or corrupt") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"checkpoint state {str(path)!r} is not a convlens training state")
    return state


def save_checkpoint(
    run_dir: str | Path, model: nn.Module, state: dict[str, Any], *, best: bool = False
) -> None:
    """Write the last weights (and best, if `best`), state.pt, then their checksums."""
    run_dir = Path(run_dir)
    save_weights(run_dir / LAST, model)
    if best:
        save_weights(run_dir / BEST, model)
    atomic_save(run_dir / STATE, state)
    sums = {
        name: sha256_file(run_dir / name)
        for name in (LAST, BEST, STATE)
        if (run_dir / name).is_file()
    }
    atomic_write_json(run_dir / CHECKSUMS, sums)


def verify_checksums(run_dir: str | Path, names: tuple[str, ...]) -> None:
    """CheckpointError when a checkpoint file does not match its recorded sha256."""
    run_dir = Path(run_dir)
    try:
        sums = json.loads((run_dir / CHECKSUMS).read_text())
    except (OSError, ValueError):
        raise CheckpointError(
            f"run folder {str(run_dir)!r} has no readable {CHECKSUMS}; "
            f"its checkpoints cannot be trusted"
        ) from None
    for name in names:
        path = run_dir / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} is missing")
        if sums.get(name) != sha256_file(path):
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not match its checksum "
                f"(tampered, truncated, or written by something else)"
            )


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


# ----------------------------------------------------------------------------- training state
def training_state(state: TrainState) -> dict[str, Any]:
    """What state.pt holds: enough to continue bitwise where training stopped."""
    return {
        "epoch": state.epoch,
        "batch": state.batch,
        "step": state.step,
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "partial": {
            "loss_sum": state.loss_sum,
            "correct": state.correct,
            "seen": state.seen,
            "seconds": state.seconds,
        },
        "best_accuracy": state.best_accuracy,
        "best_epoch": state.best_epoch,
        "history": state.history,
        "stop": state.stop,
        "callbacks": state.callbacks.state_dict(),
    }


def restore_training_state(state: TrainState, ckpt: dict[str, Any]) -> None:
    """Put a `training_state` back (callbacks included); CheckpointError if it does not fit."""
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
        state.scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        state.epoch, state.batch, state.step = ckpt["epoch"], ckpt["batch"], ckpt["step"]
        p = ckpt["partial"]
        state.loss_sum, state.correct, state.seen, state.seconds = (
            p["loss_sum"],
            p["correct"],
            p["seen"],
            p["seconds"],
        )
        state.best_accuracy, state.best_epoch = ckpt["best_accuracy"], ckpt["best_epoch"]
        state.history, state.stop = list(ckpt["history"]), bool(ckpt.get("stop", False))
        state.callbacks.load_state_dict(ckpt.get("callbacks", {}))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"checkpoint state does not fit this run "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        ) from None


class Checkpoint(Callback):
    """Keep the run folder current: after every epoch the last weights (and the best, when the
    test accuracy improved), state.pt, checksums and metrics; on Ctrl-C a checkpoint of the
    exact batch, unless the weights are half updated (then the last one is kept)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def on_epoch_end(self, state: TrainState) -> None:
        self.save(state, best=state.improved)

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt) and not state.in_step:
            self.save(state, best=False)

    def save(self, state: TrainState, *, best: bool) -> None:
        """Write the checkpoint files and the metrics."""
        save_checkpoint(self.run_dir, state.model, training_state(state), best=best)
        write_metrics(self.run_dir, state.history)
