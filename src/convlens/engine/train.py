"""Training: `fit` runs `train_one_epoch` and `evaluate` per epoch and keeps the run folder.

Read top to bottom: `train_one_epoch` (one pass, one optimizer step per batch), `evaluate`
(no gradients, big batches), `fit` (epochs, metrics, checkpoints, early stopping, Ctrl-C),
then `train` / `resume`, which load the data, build the model and call `fit`.

Reproducibility: the weights, dropout and each epoch's data order come from the seed (the
epoch's shuffle generator is seeded from (seed, epoch)), and a checkpoint keeps the RNG,
optimizer and scheduler state plus the batch index inside an interrupted epoch. So on CPU a
run stopped anywhere and resumed ends with bitwise the same weights as one run straight through.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convlens import data as datamod
from convlens.engine import runs
from convlens.config import TrainConfig
from convlens.engine.distributed import World, all_sum, init_from_env, resolve_device, shard
from convlens.errors import CheckpointError, ConfigError, TrainingError
from convlens.models.build import build

__all__ = ["Callback", "TrainState", "EvalResult", "FitResult", "TrainingInterrupted",
           "train_one_epoch", "evaluate", "fit", "train", "resume",
           "make_optimizer", "make_scheduler", "epoch_generator"]

Log = Callable[[str], None]


class Callback:
    """Hook into `fit`; override what you need. Set `state.stop = True` to stop after the epoch."""

    def on_batch_start(self, state: TrainState, x: torch.Tensor) -> None:
        """Before each step, with the batch as it reaches the model."""

    def on_batch_end(self, state: TrainState) -> None:
        """After every optimizer step (`state.batch` batches of `state.epoch` are done)."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After an epoch is evaluated and checkpointed (`state.history[-1]` is its row)."""


@dataclass
class TrainState:
    """What callbacks see. `epoch` is 0-based; `batch` counts the batches done in it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    config: TrainConfig
    run_dir: Path | None = None
    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss: float = float("nan")          # last batch
    loss_sum: float = 0.0               # running sums of the current epoch
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    stop: bool = False
    in_step: bool = False               # True while the weights are half updated
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    world: World = field(default_factory=World)
    scaler: Any = None                  # GradScaler for float16 on CUDA (off otherwise)


@dataclass(frozen=True)
class EvalResult:
    """Loss (plain cross-entropy), accuracy in [0, 1], and per-image predictions."""

    loss: float
    accuracy: float
    preds: torch.Tensor     # (N,) int64
    targets: torch.Tensor   # (N,) int64


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


def to_model_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Speed switch: NHWC memory layout for convolutions (same numbers, other strides)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def autocast(amp: str, device_type: str = "cpu") -> Any:  # noqa: D103
    """The autocast context of an `amp` mode (a no-op context for float32)."""
    dtype = amp_dtype(amp, device_type)
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def amp_dtype(amp: str, device_type: str = "cpu") -> torch.dtype | None:
    """bfloat16/float16 for mixed precision, None for plain float32 ("auto": native bf16 only)."""
    if amp == "auto":
        if device_type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        return torch.bfloat16 if device_type == "cpu" and native else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    # drop_last when there is more than one batch: a batch of 1 breaks batch norm
    return n_images // batch_size if n_images >= batch_size else 1


# ----------------------------------------------------------------------------- one epoch
def train_one_epoch(state: TrainState, train_ds: datamod.ImageDataset, *, augment: Any = None,
                    callbacks: Sequence[Callback] = (), stop_requested: Callable[[], bool]
                    = lambda: False) -> None:
    """One pass over `train_ds` from batch `state.batch` on; updates the running sums."""
    cfg, model = state.config, state.model
    model.train()
    n_steps = steps_per_epoch(len(train_ds), cfg.batch_size)
    batches = datamod.iterate_batches(
        train_ds, cfg.batch_size, shuffle=True, generator=epoch_generator(cfg.seed, state.epoch),
        augment=augment, drop_last=n_steps > 1 or len(train_ds) == cfg.batch_size,
        start_batch=state.batch, device=state.device)
    bar = _progress(batches, total=n_steps, initial=state.batch, leave=False, unit="batch",
                    desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                    disable=not cfg.progress or not state.world.main)
    start = time.perf_counter() - state.seconds
    try:
        for x, y in bar:                                  # x (B, C, H, W) float, y (B,) int64
            x, y = shard(x, state.world), shard(y, state.world)  # this rank's part (DDP)
            x = to_model_input(x, cfg.channels_last)
            for cb in callbacks:
                cb.on_batch_start(state, x)
            state.in_step = True
            with autocast(cfg.amp, state.device.type):
                logits = model(x).float()                 # (B, num_classes)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {state.epoch + 1} batch "
                    f"{state.batch + 1} (lr={state.scheduler.get_last_lr()[0]:.3g}); the run "
                    f"stopped and its last good checkpoint is kept; try a smaller --lr")
            state.optimizer.zero_grad(set_to_none=True)
            state.scaler.scale(loss).backward()   # the scaler is a no-op unless fp16 on CUDA
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
            bar.set_postfix({"loss": f"{state.loss_sum / state.seen:.3f}",
                             "acc": f"{state.correct / state.seen:.1%}",
                             "img/s": f"{state.seen / max(state.seconds, 1e-9):,.0f}"})
            for cb in callbacks:
                cb.on_batch_end(state)
            if stop_requested():
                raise KeyboardInterrupt
    finally:
        bar.close()


def _progress(iterable: Any, *, disable: bool, **kwargs: Any) -> Any:
    """A tqdm.auto bar (a widget in notebooks, text in terminals), imported only when shown."""
    if disable:
        return _NoBar(iterable)
    from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


class _NoBar:
    """What the loop needs of a progress bar, doing nothing."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Any:
        return iter(self.iterable)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


@torch.inference_mode()
def evaluate(model: nn.Module, ds: datamod.ImageDataset, batch_size: int = 1024, *,
             channels_last: bool = False, amp: str = "none", device: Any = "cpu",
             tta: bool = False) -> EvalResult:
    """Loss and accuracy of `model` on all of `ds` (eval mode, no gradients); `tta` averages
    the logits of each image and its mirror image (test-time flip)."""
    was_training = model.training
    model.eval()
    loss_sum, preds = 0.0, []
    device = torch.device(device)
    for x, y in datamod.iterate_batches(ds, batch_size, shuffle=False, generator=None,
                                        device=device):
        with autocast(amp, device.type):
            logits = model(to_model_input(x, channels_last)).float()  # (B, num_classes)
            if tta:
                logits = (logits + model(to_model_input(x.flip(3), channels_last)).float()) / 2
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        preds.append(logits.argmax(1))
    model.train(was_training)
    preds_t = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)
    targets = ds.labels[: len(preds_t)].to(preds_t.device)
    n = max(len(targets), 1)
    return EvalResult(loss=loss_sum / n, accuracy=float((preds_t == targets).sum()) / n,
                      preds=preds_t.cpu(), targets=targets.cpu())


# ----------------------------------------------------------------------------- optimizer
def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), Adam or AdamW with the config's lr and weight decay."""
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-batch schedule: one-cycle (warm up to lr, anneal), cosine to 0, or constant."""
    sched = torch.optim.lr_scheduler
    if cfg.schedule == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=max(total_steps, 2),
                                pct_start=0.25, cycle_momentum=False)
    if cfg.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return sched.LambdaLR(optimizer, lambda _: 1.0)


# ----------------------------------------------------------------------------- fit
def fit(model: nn.Module, train_ds: datamod.ImageDataset, test_ds: datamod.ImageDataset,
        config: TrainConfig, *, run_dir: str | Path | None = None,
        callbacks: Iterable[Callback] = (), resume_state: dict[str, Any] | None = None,
        log: Log | None = print) -> FitResult:
    """Train `model` for `config.epochs`, evaluating on `test_ds` after every epoch.

    With `run_dir`, writes metrics, the last/best checkpoints and state.pt there after every
    epoch; Ctrl-C saves a mid-epoch checkpoint and raises TrainingInterrupted.
    """
    cfg, callbacks, log = config, list(callbacks), log or (lambda _: None)
    run_dir = Path(run_dir) if run_dir is not None else None
    world = current_world()
    device = resolve_device(cfg.device, world.local_rank)
    if world.size > 1 and cfg.batch_size % world.size:
        raise ConfigError(f"Expected --batch-size divisible by the {world.size} processes. "
                          f"Received: {cfg.batch_size}")
    model = model.to(device)
    train_ds, test_ds = _to_device(train_ds, device), _to_device(test_ds, device)
    if world.size > 1:   # gradients averaged across ranks after every backward
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg, cfg.epochs * steps_per_epoch(len(train_ds),
                                                                             cfg.batch_size))
    state = TrainState(model, optimizer, scheduler, cfg, run_dir, device=device, world=world)
    state.scaler = torch.amp.GradScaler(
        device.type, enabled=device.type == "cuda" and amp_dtype(cfg.amp, "cuda") == torch.float16)
    if resume_state is not None:
        _restore(state, resume_state)
    augment = datamod.parse_augment(cfg.augment) if _wants_augment(cfg.augment) else None
    writer = _tensorboard(run_dir) if cfg.tensorboard and run_dir else None
    stop_flag = _SigintFlag()
    try:
        with stop_flag:
            while state.epoch < cfg.epochs and not state.stop:
                train_one_epoch(state, train_ds, augment=augment, callbacks=callbacks,
                                stop_requested=stop_flag.is_set)
                result = evaluate(model, test_ds, cfg.eval_batch_size, device=device,
                                  channels_last=cfg.channels_last, amp=cfg.amp, tta=cfg.tta)
                if world.size > 1:   # every rank saw its shard: add the running sums up
                    state.loss_sum, state.correct, state.seen = all_sum(
                        [state.loss_sum, state.correct, state.seen], device)
                row = _epoch_row(state, result)
                improved = result.accuracy > state.best_accuracy
                if improved:
                    state.best_accuracy, state.best_epoch, state.bad_epochs = \
                        result.accuracy, state.epoch + 1, 0
                else:
                    state.bad_epochs += 1
                state.history.append(row)
                state.epoch, state.batch = state.epoch + 1, 0
                state.loss_sum, state.correct, state.seen, state.seconds = 0.0, 0, 0, 0.0
                if cfg.early_stopping and state.bad_epochs >= cfg.early_stopping:
                    state.stop = True
                    log(f"early stopping: no better test accuracy for {state.bad_epochs} epochs "
                        f"(best {state.best_accuracy:.2%} at epoch {state.best_epoch})")
                _save(state, best=improved)
                if writer is not None:
                    for key, value in row.items():
                        if key != "epoch":
                            writer.add_scalar(key, value, row["epoch"])
                    writer.flush()
                log(_summary_line(row, cfg.epochs, improved))
                for cb in callbacks:
                    cb.on_epoch_end(state)
                if stop_flag.is_set():
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        saved = not state.in_step
        if saved:
            _save(state, best=False)
        raise TrainingInterrupted(run_dir, state.epoch, state.batch,
                                  saved and run_dir is not None) from None
    finally:
        if writer is not None:
            writer.close()
    return FitResult(state.history, state.best_accuracy, state.best_epoch,
                     stopped_early=state.stop and state.epoch < cfg.epochs, run_dir=run_dir)


def current_world() -> World:
    from convlens.engine.distributed import current
    return current()


def _to_device(ds: Any, device: torch.device) -> Any:
    """An in-memory data set moved to `device` once (uint8: a quarter of float's bytes)."""
    if device.type == "cpu" or isinstance(ds, datamod.FolderStream):
        return ds
    import dataclasses
    return dataclasses.replace(ds, images=ds.images.to(device), labels=ds.labels.to(device))


def _wants_augment(text: str) -> bool:
    return text.strip().lower() not in ("", "none", "off")


def _epoch_row(state: TrainState, result: EvalResult) -> dict[str, Any]:
    seen = max(state.seen, 1)
    return {"epoch": state.epoch + 1, "train_loss": state.loss_sum / seen,
            "train_accuracy": state.correct / seen, "test_loss": result.loss,
            "test_accuracy": result.accuracy, "lr": state.scheduler.get_last_lr()[0],
            "seconds": state.seconds, "images_per_second": state.seen / max(state.seconds, 1e-9)}


def _summary_line(row: dict[str, Any], epochs: int, best: bool) -> str:
    return (f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} acc "
            f"{row['train_accuracy']:.2%}  test loss {row['test_loss']:.4f} acc "
            f"{row['test_accuracy']:.2%}  lr {row['lr']:.2g}  {row['seconds']:.1f} s  "
            f"{row['images_per_second']:,.0f} img/s" + ("  *best" if best else ""))


def _save(state: TrainState, *, best: bool) -> None:
    """Checkpoint (weights, best weights, state.pt) and metrics, if there is a run folder."""
    if state.run_dir is None:
        return
    checkpoint = {
        "epoch": state.epoch, "batch": state.batch, "step": state.step,
        "optimizer": state.optimizer.state_dict(), "scheduler": state.scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "partial": {"loss_sum": state.loss_sum, "correct": state.correct, "seen": state.seen,
                    "seconds": state.seconds},
        "best_accuracy": state.best_accuracy, "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs, "history": state.history, "stop": state.stop,
    }
    runs.save_checkpoint(state.run_dir, state.model, checkpoint, best=best)
    runs.write_metrics(state.run_dir, state.history)


def _restore(state: TrainState, ckpt: dict[str, Any]) -> None:
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
        state.scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        state.epoch, state.batch, state.step = ckpt["epoch"], ckpt["batch"], ckpt["step"]
        p = ckpt["partial"]
        state.loss_sum, state.correct, state.seen, state.seconds = \
            p["loss_sum"], p["correct"], p["seen"], p["seconds"]
        state.best_accuracy, state.best_epoch = ckpt["best_accuracy"], ckpt["best_epoch"]
        state.bad_epochs, state.history = ckpt["bad_epochs"], list(ckpt["history"])
        state.stop = bool(ckpt.get("stop", False))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint state does not fit this run "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None


def _tensorboard(run_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


class _SigintFlag:
    """First Ctrl-C asks to stop at the next batch boundary; a second one stops at once."""

    def __init__(self) -> None:
        self._set, self._previous = False, None

    def is_set(self) -> bool:
        return self._set

    def _handle(self, signum: int, frame: Any) -> None:
        if self._set:
            raise KeyboardInterrupt
        self._set = True

    def __enter__(self) -> _SigintFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: keep Python's default
            self._previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ----------------------------------------------------------------------------- whole runs
def _prepare(cfg: TrainConfig, log: Log | None = None) -> tuple[Any, Any, nn.Module]:
    """Load both splits and build the model (seeded); every user error happens here."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_ds = datamod.load_dataset(cfg.data, "train", data_dir=cfg.data_dir)
    test_ds = datamod.load_dataset(cfg.data, "test", data_dir=cfg.data_dir)
    if cfg.limit_train:
        train_ds = datamod.subset(train_ds, cfg.limit_train)
    if cfg.limit_test:
        test_ds = datamod.subset(test_ds, cfg.limit_test)
    if _wants_augment(cfg.augment):
        datamod.parse_augment(cfg.augment)  # validate before anything is written
    torch.manual_seed(cfg.seed)
    model = build(cfg.model, train_ds.input_shape, num_classes=train_ds.num_classes,
                  fits=cfg.data)
    if cfg.init_from:
        from convlens.engine.transfer import init_from_run
        init_from_run(model, cfg.init_from, log=log)
    if cfg.freeze:
        from convlens.engine.transfer import freeze_layers
        frozen = freeze_layers(model, cfg.freeze)
        if log:
            log(f"frozen: {', '.join(frozen)}")
    return train_ds, test_ds, model


def _speed_up(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        model = torch.compile(model)
    return model


def train(config: TrainConfig, *, callbacks: Iterable[Callback] = (),
          log: Log | None = print) -> FitResult:
    """Start a run: check data and model, create the run folder, then `fit`.

    Under torchrun every process runs this; only rank 0 writes the run folder and logs."""
    world = init_from_env(config.device)
    train_ds, test_ds, model = _prepare(config, log if world.main else None)
    out = Path(config.out) if config.out else Path("runs") / (
        f"{runs.slug(config.model)}-{config.data}-{time.strftime('%Y%m%d-%H%M%S')}")
    if world.main:
        runs.create_run(out, config, model, train_ds)
    model = _speed_up(model, config)
    if world.main:
        callbacks = [*callbacks, *_filter_history(out, model, config),
                     *_doctor(out, test_ds, config, log)]
    return fit(model, train_ds, test_ds, config, run_dir=out if world.main else None,
               callbacks=callbacks, log=log if world.main else None)


def resume(run_dir: str | Path, *, callbacks: Iterable[Callback] = (), log: Log | None = print,
           progress: bool | None = None) -> FitResult:
    """Continue a run from its last checkpoint (same config, same data order)."""
    run_dir = Path(run_dir)
    runs.read_run_info(run_dir)
    config = runs.read_run_config(run_dir)
    world = init_from_env(config.device)
    if progress is not None:
        config = config.replace(progress=progress)
    runs.verify_checksums(run_dir, (runs.LAST, runs.STATE))
    state = runs.load_state(run_dir / runs.STATE)
    train_ds, test_ds, model = _prepare(config)
    runs.load_weights(model, run_dir / runs.LAST)
    model = _speed_up(model, config)
    if log and state["epoch"] < config.epochs and not state.get("stop"):
        log(f"resuming {run_dir} at epoch {state['epoch'] + 1} batch {state['batch']}")
    if world.main:
        callbacks = [*callbacks, *_filter_history(run_dir, model, config),
                     *_doctor(run_dir, test_ds, config, log)]
    return fit(model, train_ds, test_ds, config, run_dir=run_dir if world.main else None,
               callbacks=callbacks, resume_state=state, log=log if world.main else None)


def _doctor(run_dir: Path, test_ds: Any, config: TrainConfig, log: Log | None
            ) -> list[Callback]:
    """The training doctor (see convlens.doctor), unless config.doctor is off."""
    if not config.doctor:
        return []
    from convlens.engine.doctor import Doctor

    n = min(256, len(test_ds))
    batch = datamod.normalize(datamod.images_at(test_ds, list(range(n))), test_ds.mean,
                              test_ds.std)
    return [Doctor(run_dir, batch, test_ds.num_classes, log=log)]


def _filter_history(run_dir: Path, model: nn.Module, config: TrainConfig) -> list[Callback]:
    """The FilterHistory callback the config asks for (none for record_filters='none')."""
    from convlens.engine.history import FilterHistory, resolve_layers

    layers = resolve_layers(model, config.record_filters)
    return [FilterHistory(run_dir, model, layers)] if layers else []

