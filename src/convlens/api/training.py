"""`train`: a whole training run from a notebook or a script, returning its `Run`.

Ctrl-C (in Jupyter: interrupt the kernel) stops after the current batch, saves a checkpoint
and returns the run as it is; `train(..., out=RUN, resume=True)` continues it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import nn

from convlens.api.run import Run
from convlens.config import FIELD_NAMES, TrainConfig, merge_config
from convlens.engine import train as training
from convlens.engine.callbacks import Callback
from convlens.engine.loop import TrainingInterrupted
from convlens.engine.runs import RUN_FILE, load_run, read_run_config, read_run_info
from convlens.errors import CheckpointError, ConfigError

__all__ = ["train"]

# Options that may change when a run is resumed (they do not change the numbers).
RESUME_OPTIONS = ("progress",)


def train(
    model: str | nn.Module | None = None,
    data: str | None = None,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    callbacks: Iterable[Callback] = (),
    quiet: bool = False,
    **options: Any,
) -> Run:
    """Train a model on a data set; everything lands in a run folder. Returns the `Run`.

    Args:
        model: a registry name ("fastcnn", see `cl.list_models()`), spec text ("conv 32 3,
            maxpool 2, dense 10"), a YAML spec file, or any nn.Module (e.g. a class you
            wrote); default "fastcnn".
        data: a data set name, e.g. "fashion-mnist" (the default), "digits" (offline).
        out: the run folder (default: runs/<model>-<data>-<time>). A folder that holds a
            run is refused; continue it with resume=True.
        resume: continue the run in `out` from its last checkpoint, with its saved
            settings (a `model`, `data` or option given must match them).
        callbacks: `convlens.engine.callbacks.Callback`s to run with the built-in ones
            (hooks on_fit_start, on_epoch_start, on_batch_end, on_epoch_end, on_fit_end).
        quiet: print nothing while training: no epoch lines, no doctor notes and (unless
            progress=True is given) no progress bar; `run.history` keeps every number.
        **options: any TrainConfig field: epochs, batch_size, lr (or "find": run `lr_find`
            first and train with its suggestion), optimizer, schedule,
            augment, seed, limit_train, limit_test, device, progress, ... (see
            `help(convlens.config.TrainConfig)`).

    Ctrl-C (interrupt the kernel) stops after the current batch, saves a checkpoint and
    returns the run so far; calling again with `resume=True` continues it.

    Example:
        >>> run = cl.train("keras_mnist", data="digits", epochs=3)
        >>> run = cl.train(Net(), data="digits", epochs=1, out="runs/mine")
        >>> run = cl.train(Net(), data="digits", epochs=1, out="runs/mine", resume=True)
    """
    module = model if isinstance(model, nn.Module) else None
    if model is not None and module is None and not isinstance(model, str):
        raise ConfigError(
            f"Expected model: a registry name, spec text or an nn.Module. "
            f"Received: {type(model).__name__}"
        )
    find = options.get("lr") == "find"  # the learning-rate finder picks it (engine.lr_find)
    if find:
        if resume:
            raise ConfigError("lr='find' starts a run; resume=True continues one with its lr")
        options = {k: v for k, v in options.items() if k != "lr"}
    for flag, value in (("resume", resume), ("quiet", quiet)):
        if not isinstance(value, bool):
            raise ConfigError(f"Expected {flag}=True or False. Received: {flag}={value!r}")
    log = None if quiet else print
    if quiet:
        options.setdefault("progress", False)
    if resume:
        if out is None:
            raise ConfigError("resume=True needs out=RUN_FOLDER, the run to continue")
        _check_resume(Path(out), model, data, options)
    else:
        # a module's run records its class (the engine writes config.model for it)
        name = model if isinstance(model, str) else None
        given = {"model": name, "data": data, "out": str(out) if out else None}
        config = merge_config(TrainConfig(), {**given, **options}, source="cl.train")
        if out is not None and (Path(out) / RUN_FILE).exists():
            raise CheckpointError(
                f"{str(out)!r} already holds a run; continue it with "
                f"cl.train(..., out={str(out)!r}, resume=True) or choose another out"
            )
    try:
        if resume:
            progress = options.get("progress")
            result = training.resume(
                str(out), progress=progress, model=module, callbacks=callbacks, log=log
            )
        else:
            result = training.train(
                config, model=module, callbacks=callbacks, log=log, lr="find" if find else None
            )
    except TrainingInterrupted as stop:
        run_dir = Path(stop.run_dir) if stop.run_dir is not None else Path(str(out))
        where = (
            f"epoch {stop.epoch + 1} batch {stop.batch}" if stop.batch else f"epoch {stop.epoch}"
        )
        saved = "checkpoint saved" if stop.saved else "the last checkpoint is kept"
        print(
            f"training interrupted at {where}; {saved}; continue with "
            f"cl.train(..., out={str(run_dir)!r}, resume=True)",
            flush=True,
        )
        try:
            return Run(load_run(run_dir, model=_fresh(module)))
        except CheckpointError:
            raise stop from None  # stopped before its first checkpoint: nothing to load
    run_dir = Path(result.run_dir) if result.run_dir is not None else Path(str(out))
    return Run(load_run(run_dir, model=_fresh(module)))


def _fresh(module: nn.Module | None) -> nn.Module | None:
    """A copy of the user's module for the loaded run to fill with the best weights (the
    user's own object keeps the weights training left in it)."""
    return copy.deepcopy(module) if module is not None else None


def _check_resume(
    run_dir: Path, model: str | nn.Module | None, data: str | None, options: dict[str, Any]
) -> None:
    """ConfigError unless what is given matches the saved config of the run to continue."""
    read_run_info(run_dir)  # one line when it is not a run folder
    unknown = [k for k in options if k not in FIELD_NAMES]
    if unknown:
        merge_config(TrainConfig(), {unknown[0]: None}, source="cl.train")  # names the key
    saved = read_run_config(run_dir)
    given: dict[str, Any] = {k: v for k, v in options.items() if k not in RESUME_OPTIONS}
    if isinstance(model, str):
        given["model"] = model
    if data is not None:
        given["data"] = data
    for key, value in given.items():
        if getattr(saved, key) != value:
            raise ConfigError(
                f"resume=True continues {str(run_dir)!r} with its saved settings; "
                f"{key}={value!r} differs from its {key}={getattr(saved, key)!r}"
            )
