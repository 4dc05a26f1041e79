"""Whole runs: `train(config)` starts one in its own folder, `resume(run_dir)` continues one;
`start(settings)` is what both doors (`convlens train`, `cl.train`) call: it resolves the
settings (lr "find" included) or checks a resume against the saved run, then calls one of them.

Both load the data, build the model (seeded) and hand over to `convlens.engine.loop.fit`,
whose callbacks keep the run folder (see convlens.engine.saving). Every setting is checked
before the run folder is made; the folder is then created and locked for the whole run
(`convlens.engine.runs.run_lock`), so a second training into it is refused. A run folder
without a checkpoint (stopped in its first epoch) has not started: `resume` starts it. Under
torchrun every process runs them; only rank 0 writes the run folder, locks it and logs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlens import data as datamod
from convlens.config import TrainConfig, merge_config, resolve_config
from convlens.engine.auto import resolve
from convlens.engine.callbacks import Callback, TensorBoard
from convlens.engine.checkpoint import (
    apply_weights,
    has_checkpoint,
    load_state,
    read_checkpoint,
    read_manifest,
)
from convlens.engine.distributed import init_from_env
from convlens.engine.evaluate import Dataset
from convlens.engine.history import resolve_layers
from convlens.engine.loop import (
    FitResult,
    TrainingInterrupted,
    augmentation,
    check_setup,
    fit,
    steps_per_epoch,
    with_steps,
)
from convlens.engine.lr_find import LRFindResult, lr_find
from convlens.engine.precision import channels_last_model
from convlens.engine.rebuild import check_trusted
from convlens.engine.runs import (
    check_run_dir,
    create_run,
    read_run_config,
    read_run_info,
    resume_hint,
    run_lock,
    slug,
    start_again,
)
from convlens.engine.threads import keeps_threads
from convlens.engine.timebudget import plan_budget
from convlens.engine.transfer import freeze_layers, init_from_run
from convlens.errors import ConfigError
from convlens.io import shown_path
from convlens.models.budget import Budget
from convlens.models.build import MODULE_REF, build, module_ref

# Callback, FitResult and TrainingInterrupted are what a caller of train/resume needs.
__all__ = [
    "start",
    "train",
    "resume",
    "find_lr",
    "interrupted_line",
    "Callback",
    "FitResult",
    "TrainingInterrupted",
]

Log = Callable[[str], None]

# Settings that may change when a run is resumed (they do not change the numbers).
RESUME_KEEPS = ("progress",)


def start(
    settings: Mapping[str, Any],
    *,
    file: str | Path | None = None,
    resume_from: str | Path | None = None,
    model: nn.Module | None = None,
    callbacks: Iterable[Callback] = (),
    log: Log | None = print,
    trust_code: bool = False,
    source: str = "settings",
) -> FitResult:
    """Start a run from `settings` (TrainConfig fields: defaults < `file` < settings; lr
    "find" runs the learning-rate finder first), or continue the run in `resume_from`, whose
    saved settings the given ones must match (`trust_code`: see `resume`). Every door calls
    this, so each says the same words; `source` names the door in an error about a key
    ("flags", "cl.train")."""
    settings = dict(settings)
    find = settings.get("lr") == "find"
    if resume_from is not None:
        if find:
            raise ConfigError("lr=find starts a run; a resumed run keeps its saved lr")
        if file is not None:
            raise ConfigError(
                f"a resumed run keeps its saved settings; the settings file {str(file)!r} "
                "does not go with it"
            )
        check_resume(resume_from, settings, source=source)
        result = resume(
            resume_from,
            progress=settings.get("progress"),
            model=model,
            callbacks=callbacks,
            log=log,
            trust_code=trust_code,
        )
    else:
        if find:
            del settings["lr"]
        config = resolve_config(file, settings, source=source)
        lr = "find" if find else None
        result = train(config, model=model, callbacks=callbacks, log=log, lr=lr)
    if log and result.run_dir is not None:
        log(finished_line(result))
    return result


def finished_line(result: FitResult) -> str:
    """How the run did and where its folder is, in one line (both doors print it last)."""
    best = (
        f"best test accuracy {result.best_accuracy:.2%} at epoch {result.best_epoch}; "
        if result.best_epoch
        else ""
    )
    folder = shown_path(result.run_dir) if result.run_dir is not None else None
    return f"{best}run folder: {folder}"


def check_resume(run_dir: str | Path, settings: Mapping[str, Any], *, source: str) -> None:
    """ConfigError unless the settings given match the saved ones of the run to continue
    (RESUME_KEEPS may differ; "auto" matches what it became)."""
    read_run_info(run_dir)  # one line when it is not a run folder
    saved = read_run_config(run_dir)
    merge_config(saved, settings, source=source)  # an unknown key or a bad value, named
    for key, value in settings.items():
        if value is None or key in RESUME_KEEPS:
            continue
        if key == "out":
            same = Path(value).absolute() == Path(run_dir).absolute()
        else:
            same = getattr(resolve(merge_config(saved, {key: value})), key) == getattr(saved, key)
        if not same:
            was = run_dir if key == "out" else getattr(saved, key)
            raise ConfigError(
                f"resume continues {str(run_dir)!r} with its saved settings; "
                f"{key}={value!r} differs from its {key}={was!r}"
            )


def interrupted_line(stop: TrainingInterrupted, run_dir: str | Path | None) -> str:
    """What Ctrl-C left and how to go on, in one line (both doors print it)."""
    if run_dir is None:  # a torchrun rank that writes no run folder
        return "interrupted"
    if stop.saved:
        where = (
            f"epoch {stop.epoch + 1} batch {stop.batch}"
            if stop.batch
            else f"the end of epoch {stop.epoch}"
        )
        return f"interrupted; checkpoint saved at {where}; resume with: {resume_hint(run_dir)}"
    if not has_checkpoint(run_dir):
        return (
            "interrupted in the middle of a step, before the first checkpoint; "
            f"{start_again(run_dir)}"
        )
    return (
        "interrupted in the middle of a step; the last checkpoint is kept; resume with: "
        f"{resume_hint(run_dir)}"
    )


@keeps_threads
def train(
    config: TrainConfig,
    *,
    model: nn.Module | None = None,
    callbacks: Iterable[Callback] = (),
    log: Log | None = print,
    lr: str | None = None,
) -> FitResult:
    """Start a run: check data and model, create the run folder, then `fit`.

    `config.budget` (without `steps`): time the first steps (`convlens.engine.timebudget`)
    and train the steps that fit; the run's config records them in `steps`.

    `lr="find"`: run the learning-rate finder (`convlens.engine.lr_find`) on a copy of the
    model first and train with its suggestion (the run's config records the lr found).

    `model`: a user's own module to train (as it is: its weights are not re-initialised);
    the run records its class as `config.model` (`module:Class`), so `load_run` rebuilds it
    where that class can be imported, and otherwise takes a fresh instance (`model=`).
    Without it the model is built from `config.model` (spec, registry name, `FILE.py:Class`).
    """
    if model is not None:
        config = config.replace(model=module_ref(model))
    elif MODULE_REF.match(config.model.strip()):
        config = config.replace(model=module_ref(config.model))  # absolute path recorded
    world = init_from_env(config.device)
    out = (
        Path(config.out)
        if config.out
        else Path("runs")
        / f"{slug(_short_name(config.model))}-{config.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if world.main:
        check_run_dir(out)  # before the data is loaded; again under the lock
    if lr not in (None, "find"):
        raise ConfigError(f"Expected lr='find' or a number. Received: lr={lr!r}")
    train_ds, test_ds, model = _prepare(config, log if world.main else None, model)
    config = resolve(config)  # the run records what "auto" augment and tta mean here
    _warn_compile(config, log if world.main else None)
    _warn_one_step(config, len(train_ds), log if world.main else None)
    if lr == "find":
        found = lr_find(_speed_up(model, config, compile=False), train_ds, config)
        config = config.replace(lr=found.suggestion)
        if log and world.main:
            log(
                f"lr-find: training with lr {found.suggestion:.3g} ({found.rule_text}; swept "
                f"{found.lrs[0]:.3g} to {found.lrs[-1]:.3g} over {len(found.lrs)} batches in "
                f"{found.seconds:.1f} s)"
            )
    began = time.perf_counter()
    if config.budget is not None and config.steps is None:
        plan = plan_budget(_speed_up(model, config, compile=False), train_ds, test_ds, config)
        config = config.replace(steps=plan.steps)
        if log and world.main:
            log(plan.describe(steps_per_epoch(len(train_ds), config.batch_size)))
    config = with_steps(config, len(train_ds))  # the run records the epochs its steps take
    with run_lock(out, create=True) if world.main else nullcontext():
        if world.main:
            create_run(out, config, model, train_ds)
        result = fit(
            _speed_up(model, config),
            train_ds,
            test_ds,
            config,
            run_dir=out if world.main else None,
            callbacks=callbacks,
            log=log if world.main else None,
        )
    if config.budget is not None and log and world.main:
        reached = result.history[-1]["test_accuracy"] if result.history else float("nan")
        log(
            f"budget {config.budget}: test accuracy {reached:.2%} after {config.steps:,} steps; "
            f"timing, training and evaluations took {time.perf_counter() - began:.0f} s"
        )
    return result


@keeps_threads
def resume(
    run_dir: str | Path,
    *,
    model: nn.Module | None = None,
    callbacks: Iterable[Callback] = (),
    log: Log | None = print,
    progress: bool | None = None,
    trust_code: bool = False,
) -> FitResult:
    """Continue a run from its last checkpoint (same config, same data order), or start a
    run that has none yet; `model`: a fresh instance of a user's own module whose class
    cannot be imported here; `trust_code`: import the module the run names to build it
    (see `convlens.engine.rebuild.check_trusted`)."""
    run_dir = Path(run_dir)
    read_run_info(run_dir)
    config = read_run_config(run_dir)
    if model is None:
        check_trusted(run_dir, config.model, trust_code=trust_code)
    world = init_from_env(config.device)
    if progress is not None:
        config = config.replace(progress=progress)
    with run_lock(run_dir) if world.main else nullcontext():
        state = None
        if read_manifest(run_dir) is not None:
            _, data, paths = read_checkpoint(run_dir, ("last", "state"))
            state = load_state(paths["state"], data["state"])
        train_ds, test_ds, model = _prepare(config, given=model, fresh=state is None)
        if state is not None:
            apply_weights(model, data["last"], paths["last"])
        _warn_compile(config, log if world.main else None)
        if log and state is None:
            log(f"starting {run_dir} (it has no checkpoint yet)")
        elif log and state is not None and state["epoch"] < config.epochs and not state.get("stop"):
            log(f"resuming {run_dir} at epoch {state['epoch'] + 1} batch {state['batch']}")
        elif log and state is not None:
            log(f"{run_dir} has already finished ({state['epoch']} epochs); nothing to train")
        return fit(
            _speed_up(model, config),
            train_ds,
            test_ds,
            config,
            run_dir=run_dir if world.main else None,
            callbacks=callbacks,
            resume_state=state,
            log=log if world.main else None,
        )


def _prepare(
    cfg: TrainConfig, log: Log | None = None, given: nn.Module | None = None, fresh: bool = True
) -> tuple[Dataset, Dataset, nn.Module]:
    """Load both splits and build the model (seeded), or check the `given` one; `fresh`: a
    new start (else the checkpoint's weights follow, so --init-from is not read). Every
    user error happens here, before the run folder exists."""
    check_setup(cfg)  # the device, and the batch over the processes
    if cfg.tensorboard:
        TensorBoard.check_installed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_ds: Dataset = datamod.load_dataset(cfg.data, "train", data_dir=cfg.data_dir)
    test_ds: Dataset = datamod.load_dataset(cfg.data, "test", data_dir=cfg.data_dir)
    if cfg.limit_train:
        train_ds = datamod.subset(train_ds, cfg.limit_train)
    if cfg.limit_test:
        test_ds = datamod.subset(test_ds, cfg.limit_test)
    if not cfg.normalize:  # run.json records these, so eval and predict feed the same
        train_ds, test_ds = _raw_pixels(train_ds), _raw_pixels(test_ds)
    augmentation(cfg)  # validate before anything is written
    torch.manual_seed(cfg.seed)
    model = build(
        cfg.model if given is None else given,
        train_ds.input_shape,
        num_classes=train_ds.num_classes,
        fits=cfg.data,
        budget=Budget(cfg.max_params, cfg.max_activation_mb, batch=cfg.batch_size),
    )
    resolve_layers(model, cfg.record_filters)
    if cfg.init_from and fresh:
        init_from_run(model, cfg.init_from, log=log)
    if cfg.freeze:
        frozen = freeze_layers(model, cfg.freeze)
        if log:
            log(f"frozen: {', '.join(frozen)}")
    return train_ds, test_ds, model


@keeps_threads
def find_lr(config: TrainConfig, *, model: nn.Module | None = None, **sweep: Any) -> LRFindResult:
    """The learning-rate finder on the config's data and model (built and seeded as `train`
    would); `sweep`: start_lr, end_lr, steps, rule of `convlens.engine.lr_find.lr_find`."""
    if model is not None:
        config = config.replace(model=module_ref(model))
    train_ds, _, built = _prepare(config, given=model)
    return lr_find(_speed_up(built, config, compile=False), train_ds, config, **sweep)


def _warn_compile(cfg: TrainConfig, log: Log | None) -> None:
    """One warning line: torch.compile makes training slower on CPU (measured, see config)."""
    if cfg.compile and log and check_setup(cfg).type == "cpu":
        log(
            "warning: --compile is slower on CPU (a fastcnn step took 2x as long on 2 cores, "
            "plus a slow start); drop --compile unless you measured it faster here"
        )


def _warn_one_step(cfg: TrainConfig, n_images: int, log: Log | None) -> None:
    """One warning line when a batch holds the whole training set: an epoch is one step (a
    4-class image folder trained that way, 3 epochs = 3 steps, stayed near chance)."""
    if log and cfg.steps is None and cfg.batch_size >= n_images:
        smaller = 1 << max(0, (n_images // 8).bit_length() - 1)  # about 8 steps per epoch
        log(
            f"warning: --batch-size {cfg.batch_size} holds all {n_images:,} training images: "
            f"one step per epoch, {cfg.epochs} in all; try --batch-size {smaller}"
        )


def _raw_pixels(ds: Dataset) -> Dataset:
    """`ds` normalised with mean 0 and std 1/255: the model sees the 0-255 pixel values."""
    channels = len(ds.mean)
    return dataclasses.replace(ds, mean=(0.0,) * channels, std=(1 / 255,) * channels)


def _short_name(model: str) -> str:
    """The class name of a module reference, else the model text itself."""
    match = MODULE_REF.match(model.strip())
    return match["cls"] if match else model


def _speed_up(model: nn.Module, cfg: TrainConfig, *, compile: bool = True) -> nn.Module:
    model = channels_last_model(model, cfg.channels_last)
    if compile and cfg.compile:
        return torch.compile(model)  # type: ignore[return-value]
    return model
