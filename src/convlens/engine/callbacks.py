"""Callbacks: everything `fit` does besides training and testing is a callback.

`Callback` follows Lightning's contract: `on_fit_start`, `on_epoch_start`, `on_batch_start`,
`on_batch_end`, `on_epoch_end`, `on_fit_end` and `on_exception`, each given the `TrainState`,
plus `state_dict` / `load_state_dict`, whose contents go into the checkpoint (state.pt) and
come back on resume. The callbacks of a fit run in list order (`CallbackList`); fit puts the
built-in ones first (progress bar, early stopping, filter history, TensorBoard, the epoch
line, the doctor, checkpoints), then yours, then `StopOnCtrlC`.

This module holds the contract and the small built-in callbacks; `Checkpoint` lives in
convlens.engine.saving, `FilterHistory` and `Doctor` in their modules.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlens.config import TrainConfig
from convlens.engine.distributed import World
from convlens.errors import ConfigError

__all__ = [
    "TrainState",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "EpochLog",
    "ProgressBar",
    "TensorBoard",
    "StopOnCtrlC",
    "epoch_line",
]

Log = Callable[[str], None]


@dataclass
class TrainState:
    """What callbacks see. `epoch` counts finished epochs; `batch` the batches done in this one."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    config: TrainConfig
    run_dir: Path | None = None
    epoch: int = 0
    batch: int = 0
    step: int = 0
    batches_per_epoch: int = 1
    loss: float = float("nan")  # last batch
    loss_sum: float = 0.0  # running sums of the current epoch
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_epoch: int = 0
    stop: bool = False  # set by a callback: stop after this epoch
    in_step: bool = False  # True while the weights are half updated
    saved_at: tuple[int, int] | None = None  # (epoch, batch) of the checkpoint kept, if any
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    world: World = field(default_factory=World)
    scaler: Any = None  # GradScaler for float16 on CUDA (off otherwise)
    callbacks: CallbackList = field(default_factory=lambda: CallbackList(()))

    @property
    def improved(self) -> bool:
        """True in `on_epoch_end` when the epoch just finished has the best test accuracy."""
        return bool(self.history) and self.best_epoch == self.epoch


class Callback:
    """Hook into `fit`; override what you need.

    Set `state.stop = True` to stop after the epoch; raise KeyboardInterrupt to stop at once
    with a checkpoint, as Ctrl-C does.
    """

    def on_fit_start(self, state: TrainState) -> None:
        """Once before the first epoch; on resume, after the checkpoint has been restored."""

    def on_epoch_start(self, state: TrainState) -> None:
        """Before the epoch's first batch (a resumed epoch starts at batch `state.batch`)."""

    def on_batch_start(self, state: TrainState, x: torch.Tensor) -> None:
        """Before each step, with the batch as it reaches the model."""

    def on_batch_end(self, state: TrainState) -> None:
        """After every optimizer step (`state.batch` batches of this epoch are done)."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After the epoch is evaluated: `state.history[-1]` is its row and `state.epoch`
        counts it. Your callbacks run after the built-in ones, so the epoch is checkpointed."""

    def on_fit_end(self, state: TrainState) -> None:
        """Once after the last epoch (or the early stop); not after an exception."""

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        """When fit stops on an exception (Ctrl-C arrives as KeyboardInterrupt)."""

    @property
    def state_key(self) -> str:
        """The name of this callback's state in the checkpoint."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """What to keep in the checkpoint: tensors and plain data only (state.pt is loaded
        with weights_only=True). Taken whenever a checkpoint is written."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take back what `state_dict` returned, before `on_fit_start` of a resumed run."""


class CallbackList(Callback):
    """Callbacks called in list order, with their states gathered under unique keys."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)
        self.keys: list[str] = []
        for cb in self.callbacks:
            key, n = cb.state_key, 1
            while key in self.keys:  # a second callback of one class: Name#2
                n += 1
                key = f"{cb.state_key}#{n}"
            self.keys.append(key)

    def on_fit_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(state)

    def on_epoch_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(state)

    def on_batch_start(self, state: TrainState, x: torch.Tensor) -> None:
        for cb in self.callbacks:
            cb.on_batch_start(state, x)

    def on_batch_end(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(state)

    def on_epoch_end(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(state)

    def on_fit_end(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(state)

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        """Every callback hears of it (to save, close or restore), even if one of them fails;
        the first failure is raised afterwards."""
        failure: BaseException | None = None
        for cb in self.callbacks:
            try:
                cb.on_exception(state, exc)
            except BaseException as err:  # noqa: BLE001  a second Ctrl-C included
                failure = failure or err
        if failure is not None:
            raise failure

    def state_dict(self) -> dict[str, Any]:
        states = {key: cb.state_dict() for key, cb in zip(self.keys, self.callbacks)}
        return {key: value for key, value in states.items() if value}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key, cb in zip(self.keys, self.callbacks):
            if key in state_dict:
                cb.load_state_dict(state_dict[key])


# ----------------------------------------------------------------------------- built-in
class EarlyStopping(Callback):
    """Stop when the test accuracy has not improved for `patience` epochs."""

    def __init__(self, patience: int, log: Log | None = None) -> None:
        self.patience, self.log, self.bad_epochs = patience, log, 0

    def on_epoch_end(self, state: TrainState) -> None:
        self.bad_epochs = 0 if state.improved else self.bad_epochs + 1
        if self.bad_epochs >= self.patience:
            state.stop = True
            if self.log:
                self.log(
                    f"early stopping: no better test accuracy for {self.bad_epochs} epochs "
                    f"(best {state.best_accuracy:.2%} at epoch {state.best_epoch})"
                )

    def state_dict(self) -> dict[str, Any]:
        return {"bad_epochs": self.bad_epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.bad_epochs = int(state_dict["bad_epochs"])


def epoch_line(row: dict[str, Any], epochs: int, best: bool) -> str:
    """The one-line summary of an epoch's metrics row."""
    return (
        f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} acc "
        f"{row['train_accuracy']:.2%}  test loss {row['test_loss']:.4f} acc "
        f"{row['test_accuracy']:.2%}  lr {row['lr']:.2g}  {row['seconds']:.1f} s  "
        f"{row['images_per_second']:,.0f} img/s" + ("  *best" if best else "")
    )


class EpochLog(Callback):
    """Log one line per epoch: losses, accuracies, lr, time, speed; `*best` marks a new best."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def on_epoch_end(self, state: TrainState) -> None:
        self.log(epoch_line(state.history[-1], state.config.epochs, state.improved))


def _shows_bars() -> bool:
    """True in a Jupyter kernel (a widget) or when stderr is a terminal."""
    return "ipykernel" in sys.modules or sys.stderr.isatty()


class ProgressBar(Callback):
    """A tqdm.auto bar per epoch (a widget in notebooks, text in terminals), closed after the
    epoch's last batch; tqdm is imported only when a bar is shown. Output sent to a file or a
    pipe gets no bar (thousands of redraws would bury the epoch lines), only the lines."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_epoch_start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm  # only runs that show a bar pay for the import

        self.bar = tqdm(
            disable=not _shows_bars(),
            total=state.batches_per_epoch,
            initial=state.batch,
            leave=False,
            unit="batch",
            desc=f"epoch {state.epoch + 1}/{state.config.epochs}",
        )

    def on_batch_end(self, state: TrainState) -> None:
        self.bar.update(1)
        self.bar.set_postfix(
            {
                "loss": f"{state.loss_sum / state.seen:.3f}",
                "acc": f"{state.correct / state.seen:.1%}",
                "img/s": f"{state.seen / max(state.seconds, 1e-9):,.0f}",
            }
        )
        if state.batch >= state.batches_per_epoch:
            self._close()

    def on_epoch_end(self, state: TrainState) -> None:
        self._close()

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TensorBoard(Callback):
    """Every number of each epoch's metrics row as a scalar in RUN/tensorboard."""

    def __init__(self, run_dir: str | Path) -> None:
        self.log_dir = Path(run_dir) / "tensorboard"
        self.writer: Any = None

    @staticmethod
    def check_installed() -> None:
        """ConfigError unless the tensorboard package can be imported (checked before a run)."""
        try:
            import torch.utils.tensorboard  # noqa: F401  (a slow import, only when asked)
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None

    def on_fit_start(self, state: TrainState) -> None:
        from torch.utils.tensorboard import SummaryWriter  # a slow import, only when asked

        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def on_epoch_end(self, state: TrainState) -> None:
        row = state.history[-1]
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def on_fit_end(self, state: TrainState) -> None:
        self._close()

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class StopOnCtrlC(Callback):
    """The first Ctrl-C stops at the next batch or epoch boundary (raising KeyboardInterrupt
    there, so the checkpoint is exact); a second one stops at once. Last in the list, so every
    other callback has seen the batch first."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None  # the SIGINT handler to put back

    def on_fit_start(self, state: TrainState) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: keep Python's default
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_batch_end(self, state: TrainState) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_epoch_end(self, state: TrainState) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_fit_end(self, state: TrainState) -> None:
        self._restore()

    def on_exception(self, state: TrainState, exc: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
