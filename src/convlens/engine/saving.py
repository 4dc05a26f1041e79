"""Saving a run while it trains: the `Checkpoint` callback, the training state it keeps, and
the record of a failure.

`Checkpoint` saves a checkpoint (see convlens.engine.checkpoint) after every epoch and on
Ctrl-C, and the metrics after it. When training stops on an error (a NaN loss, a full disk,
no memory) it writes `failure.json` into the run folder: what went wrong, where, and which
checkpoint is kept, so `convlens doctor RUN` can say it later; a new attempt removes it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from convlens.engine.callbacks import Callback, TrainState
from convlens.engine.checkpoint import read_manifest, save_checkpoint, write_metrics
from convlens.engine.hints import resume_hint
from convlens.errors import CheckpointError
from convlens.io import atomic_write_json

__all__ = [
    "FAILURE_FILE",
    "training_state",
    "restore_training_state",
    "Checkpoint",
    "record_failure",
    "read_failure",
]

FAILURE_FILE = "failure.json"


def training_state(state: TrainState) -> dict[str, Any]:
    """What the state file holds: enough to continue bitwise where training stopped."""
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
    state.saved_at = (state.epoch, state.batch)


class Checkpoint(Callback):
    """Keep the run folder current: after every epoch a checkpoint (last weights, best when
    the test accuracy improved, training state) and the metrics; on Ctrl-C a checkpoint of
    the exact batch, unless the weights are half updated (then the last one is kept); on an
    error, failure.json."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def on_fit_start(self, state: TrainState) -> None:
        (self.run_dir / FAILURE_FILE).unlink(missing_ok=True)  # this attempt starts afresh

    def on_epoch_end(self, state: TrainState) -> None:
        self.save(state, best=state.improved)

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        if not isinstance(exc, KeyboardInterrupt):
            record_failure(self.run_dir, state, exc)
        elif not state.in_step:
            self.save(state, best=False)

    def save(self, state: TrainState, *, best: bool) -> None:
        """Write a checkpoint and the metrics; CheckpointError (one line) when the OS refuses."""
        try:
            save_checkpoint(self.run_dir, state.model, training_state(state), best=best)
            state.saved_at = (state.epoch, state.batch)
            write_metrics(self.run_dir, state.history)
        except OSError as exc:
            kept = (
                f"the checkpoint of epoch {state.saved_at[0]} batch {state.saved_at[1]} is kept"
                if state.saved_at
                else "no checkpoint was saved yet"
            )
            raise CheckpointError(
                f"cannot save the checkpoint in {str(self.run_dir)!r}: "
                f"{exc.strerror or exc}; {kept}; free some space (or make the folder "
                f"writable) and continue with: {resume_hint(self.run_dir)}"
            ) from None


def record_failure(run_dir: Path, state: TrainState, exc: BaseException) -> None:
    """Write failure.json: the error, where it happened, and the checkpoint that is kept."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    try:
        manifest = read_manifest(run_dir)
        atomic_write_json(
            run_dir / FAILURE_FILE,
            {
                "error": type(exc).__name__,
                "message": message[:500],
                "where": _where(state),
                "checkpoint": None if manifest is None else [manifest.epoch, manifest.batch],
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    except (OSError, CheckpointError):  # a full disk cannot take the record either
        pass


def _where(state: TrainState) -> str:
    """Where training was when it stopped, in words."""
    if state.in_step:
        return f"in epoch {state.epoch + 1} batch {state.batch + 1}"
    if state.batch:
        return f"in epoch {state.epoch + 1} after batch {state.batch}"
    return f"after epoch {state.epoch}" if state.epoch else "before the first batch"


def read_failure(run_dir: str | Path) -> dict[str, Any] | None:
    """failure.json of a run folder (None when the last attempt did not fail)."""
    try:
        record = json.loads((Path(run_dir) / FAILURE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "message" in record else None
