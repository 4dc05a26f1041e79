"""The training loop: `train_one_epoch` (one pass, one optimizer step per batch) and `fit`
(epochs: train, evaluate, hand over to the callbacks).

Reproducibility: the weights, dropout and each epoch's data order come from the seed (the
epoch's shuffle generator is seeded from (seed, epoch)), and a checkpoint keeps the RNG,
optimizer and scheduler state plus the batch index inside an interrupted epoch. So on CPU a
run stopped anywhere and resumed ends with bitwise the same weights as one run straight through.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.auto import resolve
from convlens.engine.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    EpochLog,
    ProgressBar,
    StopOnCtrlC,
    TensorBoard,
    TrainState,
)
from convlens.engine.distributed import all_sum, current, resolve_device, shard
from convlens.engine.doctor import Doctor
from convlens.engine.evaluate import Dataset, EvalResult, evaluate_with
from convlens.engine.history import FilterHistory, resolve_layers
from convlens.engine.memory import keep_freed_memory
from convlens.engine.optim import make_optimizer, make_scheduler
from convlens.engine.precision import amp_dtype, autocast, to_model_input
from convlens.engine.saving import Checkpoint, restore_training_state
from convlens.errors import ConfigError, TrainingError
from convlens.io import shown_path
from convlens.models.budget import memory_detail, out_of_memory
from convlens.models.layers import SpecModel

__all__ = [
    "FitResult",
    "TrainingInterrupted",
    "fit",
    "train_one_epoch",
    "epoch_generator",
    "steps_per_epoch",
    "augmentation",
    "standard_callbacks",
    "check_setup",
    "ready_model",
    "to_device",
    "total_steps",
    "with_steps",
]

Log = Callable[[str], None]


@dataclass(frozen=True)
class FitResult:
    history: list[dict[str, Any]]
    best_accuracy: float
    best_epoch: int
    stopped_early: bool
    run_dir: Path | None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `fit`; a checkpoint was saved when `saved` is True."""

    def __init__(self, run_dir: Path | None, epoch: int, batch: int, saved: bool) -> None:
        super().__init__(f"interrupted at epoch {epoch + 1} batch {batch}")
        self.run_dir, self.epoch, self.batch, self.saved = run_dir, epoch, batch, saved


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffle/augmentation generator of one epoch, from (seed, epoch) alone."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches only (a last batch of 1 breaks batch norm); one partial batch when the
    data set is smaller than a batch. `train_one_epoch` iterates exactly this many."""
    return n_images // batch_size if n_images >= batch_size else 1


def augmentation(cfg: TrainConfig) -> Any:
    """The parsed `cfg.augment` ("auto" resolved; None for none); ConfigError for a bad one."""
    augment = resolve(cfg).augment
    text = augment.strip().lower()
    return None if text in ("", "none", "off") else datamod.parse_augment(augment)


# ----------------------------------------------------------------------------- one epoch
def train_one_epoch(
    state: TrainState, train_ds: Dataset, callbacks: Callback | None = None, *, augment: Any = None
) -> None:
    """One pass over `train_ds` from batch `state.batch` on; updates the running sums."""
    cfg, model, callbacks = state.config, state.model, callbacks or Callback()
    model.train()
    batches = datamod.iterate_batches(
        train_ds,
        cfg.batch_size,
        shuffle=True,
        generator=epoch_generator(cfg.seed, state.epoch),
        augment=augment,
        drop_last=len(train_ds) >= cfg.batch_size,  # as many batches as steps_per_epoch
        start_batch=state.batch,
        device=state.device,
    )
    start = time.perf_counter() - state.seconds
    for x, y in batches:  # x (B, C, H, W) float, y (B,) int64
        if cfg.steps is not None and state.step >= cfg.steps:
            break  # a run of `steps` ends inside its last epoch
        x, y = shard(x, state.world), shard(y, state.world)  # this rank's part (DDP)
        x = to_model_input(x, cfg.channels_last)
        callbacks.on_batch_start(state, x)
        state.in_step = True
        logits, loss = batch_loss(model, x, y, cfg, state.device.type)
        if not torch.isfinite(loss):
            raise TrainingError(_diverged(state, loss.item()))
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()  # the scaler is a no-op unless fp16 on CUDA
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        state.batch += 1
        state.step += 1
        state.in_step = False

        state.loss = loss.item()
        state.loss_sum += state.loss * len(y)
        state.correct += int((logits.argmax(1) == y).sum())
        state.seen += len(y)
        state.seconds = time.perf_counter() - start
        callbacks.on_batch_end(state)


def batch_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, device_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 logits (B, num_classes) and the training loss of one batch, under the
    config's precision (the one place a training step computes its loss)."""
    with autocast(cfg.amp, device_type):
        logits = model(x).float()
    return logits, F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)


def _diverged(state: TrainState, loss: float) -> str:
    """The message of a NaN or infinite loss; it speaks of a checkpoint only if one exists."""
    where = (
        f"loss became {loss} at epoch {state.epoch + 1} batch {state.batch + 1} "
        f"(lr={state.scheduler.get_last_lr()[0]:.3g}); the run stopped"
    )
    if state.saved_at is not None:
        return (
            f"{where} and its last good checkpoint is kept; try a smaller --lr in a new run "
            f"folder (--resume keeps this run's settings)"
        )
    if state.run_dir is None:
        return f"{where}; try a smaller --lr"
    return (
        f"{where} before its first checkpoint, so {shown_path(state.run_dir)} holds none; "
        f"remove that folder and train again with a smaller --lr"
    )


# ----------------------------------------------------------------------------- fit
def fit(
    model: nn.Module,
    train_ds: Dataset,
    test_ds: Dataset,
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    resume_state: dict[str, Any] | None = None,
    log: Log | None = print,
) -> FitResult:
    """Train `model` for `config.epochs` (or `config.steps`), evaluating on `test_ds` after
    every epoch.

    The callbacks are the ones the config asks for (`standard_callbacks`: with `run_dir`,
    a checkpoint of metrics, last/best weights and state.pt after every epoch), then
    `callbacks`, then `StopOnCtrlC`: Ctrl-C saves a checkpoint at the next batch boundary and
    raises TrainingInterrupted. `resume_state` is a state.pt to continue from.
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    config = resolve(config)  # augment and tta "auto" -> what they mean for this data set
    config = with_steps(config, len(train_ds))  # the epochs `steps` take, if given
    state, train_ds, test_ds = _start(model, train_ds, test_ds, config, run_dir)
    hooks = CallbackList([*standard_callbacks(state, test_ds, log), *callbacks, StopOnCtrlC()])
    state.callbacks = hooks
    if resume_state is not None:
        restore_training_state(state, resume_state)
    augment = augmentation(config)
    try:
        hooks.on_fit_start(state)
        while state.epoch < config.epochs and not state.stop:
            hooks.on_epoch_start(state)
            train_one_epoch(state, train_ds, hooks, augment=augment)
            result = evaluate_with(state.model, test_ds, config, state.device)
            _finish_epoch(state, result)
            hooks.on_epoch_end(state)
        hooks.on_fit_end(state)
    except BaseException as exc:
        hooks.on_exception(state, exc)  # the Checkpoint saves on Ctrl-C unless mid-step
        if isinstance(exc, KeyboardInterrupt):
            raise TrainingInterrupted(
                run_dir, state.epoch, state.batch, saved=run_dir is not None and not state.in_step
            ) from None
        if out_of_memory(exc):
            raise TrainingError(
                f"out of memory at epoch {state.epoch + 1} batch {state.batch + 1} with "
                f"--batch-size {config.batch_size} ({memory_detail(exc)}); lower --batch-size "
                f"or use a smaller model"
            ) from exc
        raise
    return FitResult(
        state.history,
        state.best_accuracy,
        state.best_epoch,
        stopped_early=state.stop and state.epoch < config.epochs,
        run_dir=run_dir,
    )


def standard_callbacks(state: TrainState, test_ds: Dataset, log: Log | None) -> list[Callback]:
    """The built-in callbacks a config asks for, in the order they run. Those that write
    files come only with a run folder (only rank 0 has one); the Checkpoint comes after the
    callbacks whose state it keeps."""
    cfg, run_dir = state.config, state.run_dir
    out: list[Callback] = []
    if cfg.progress and state.world.main:
        out.append(ProgressBar())
    if cfg.early_stopping:
        out.append(EarlyStopping(cfg.early_stopping, log))
    if run_dir is not None:
        layers = resolve_layers(state.model, cfg.record_filters)
        out += [FilterHistory(run_dir, layers)] if layers else []
        out += [TensorBoard(run_dir)] if cfg.tensorboard else []
    if log is not None:
        out.append(EpochLog(log))
    if run_dir is not None:
        out += [Doctor.for_data(run_dir, test_ds, log)] if cfg.doctor else []
        out.append(Checkpoint(run_dir))
    return out


def _start(
    model: nn.Module, train_ds: Any, test_ds: Any, cfg: TrainConfig, run_dir: Path | None
) -> tuple[TrainState, Any, Any]:
    """The TrainState of a new fit: model and data on the device, optimizer, schedule."""
    world = current()
    device = check_setup(cfg)
    if cfg.keep_freed_memory:
        keep_freed_memory()
    model = ready_model(model, cfg, device)
    train_ds, test_ds = to_device(train_ds, device), to_device(test_ds, device)
    if world.size > 1:  # gradients averaged across ranks after every backward
        model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = make_optimizer(model, cfg)
    n_steps = steps_per_epoch(len(train_ds), cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, total_steps(cfg, len(train_ds)))
    scaler = torch.amp.GradScaler(
        device.type, enabled=device.type == "cuda" and amp_dtype(cfg.amp, "cuda") == torch.float16
    )
    state = TrainState(
        model,
        optimizer,
        scheduler,
        cfg,
        run_dir,
        batches_per_epoch=n_steps,
        device=device,
        world=world,
        scaler=scaler,
    )
    return state, train_ds, test_ds


def ready_model(model: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """`model` on `device` with the config's ReLU-after-pool switch set."""
    model = model.to(device)
    for module in model.modules():  # the model itself, or inside a torch.compile wrapper
        if isinstance(module, SpecModel):
            module.relu_after_pool = cfg.relu_after_pool
    return model


def total_steps(cfg: TrainConfig, n_images: int) -> int:
    """Optimizer steps of the whole run: `cfg.steps`, else `cfg.epochs` full passes."""
    if cfg.steps is not None:
        return cfg.steps
    return cfg.epochs * steps_per_epoch(n_images, cfg.batch_size)


def with_steps(cfg: TrainConfig, n_images: int) -> TrainConfig:
    """`cfg` with `epochs` the passes its `steps` take (the last may be part of one)."""
    if cfg.steps is None:
        return cfg
    return cfg.replace(epochs=math.ceil(cfg.steps / steps_per_epoch(n_images, cfg.batch_size)))


def check_setup(cfg: TrainConfig) -> torch.device:
    """The device to train on; ConfigError when the device is missing or the batch does not
    split over the processes (checked before a run folder is made)."""
    world = current()
    device = resolve_device(cfg.device, world.local_rank)
    if world.size > 1 and cfg.batch_size % world.size:
        raise ConfigError(
            f"Expected --batch-size divisible by the {world.size} processes. "
            f"Received: {cfg.batch_size}"
        )
    return device


def to_device(ds: Any, device: torch.device) -> Any:
    """An in-memory data set moved to `device` once (uint8: a quarter of float's bytes)."""
    if device.type == "cpu" or isinstance(ds, datamod.FolderStream):
        return ds
    return dataclasses.replace(ds, images=ds.images.to(device), labels=ds.labels.to(device))


def _finish_epoch(state: TrainState, result: EvalResult) -> None:
    """Add the epoch's row to the history, note a new best, reset the running sums."""
    if state.world.size > 1:  # every rank saw its shard: add the running sums up
        loss_sum, correct, seen = all_sum([state.loss_sum, state.correct, state.seen], state.device)
        state.loss_sum, state.correct, state.seen = loss_sum, int(correct), int(seen)
    seen = max(state.seen, 1)
    state.history.append(
        {
            "epoch": state.epoch + 1,
            "train_loss": state.loss_sum / seen,
            "train_accuracy": state.correct / seen,
            "test_loss": result.loss,
            "test_accuracy": result.accuracy,
            "lr": state.scheduler.get_last_lr()[0],
            "seconds": state.seconds,
            "images_per_second": state.seen / max(state.seconds, 1e-9),
        }
    )
    if result.accuracy > state.best_accuracy:
        state.best_accuracy, state.best_epoch = result.accuracy, state.epoch + 1
    state.epoch, state.batch = state.epoch + 1, 0
    state.loss_sum, state.correct, state.seen, state.seconds = 0.0, 0, 0, 0.0
