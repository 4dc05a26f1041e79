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
from convlens.engine import train as training
from convlens.engine.callbacks import Callback
from convlens.engine.loop import TrainingInterrupted
from convlens.engine.runs import load_run
from convlens.errors import CheckpointError, ConfigError

__all__ = ["train"]


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
    for flag, value in (("resume", resume), ("quiet", quiet)):
        if not isinstance(value, bool):
            raise ConfigError(f"Expected {flag}=True or False. Received: {flag}={value!r}")
    if resume and out is None:
        raise ConfigError("resume=True needs out=RUN_FOLDER, the run to continue")
    if quiet:
        options.setdefault("progress", False)
    # a module's run records its class (the engine writes config.model for it)
    name = model if isinstance(model, str) else None
    settings = {"model": name, "data": data, "out": None if resume or not out else str(out)}
    try:
        result = training.start(
            {k: v for k, v in settings.items() if v is not None} | options,
            resume_from=out if resume else None,
            model=module,
            callbacks=callbacks,
            log=None if quiet else print,
            source="cl.train",
        )
    except TrainingInterrupted as stop:
        run_dir = Path(stop.run_dir) if stop.run_dir is not None else Path(str(out))
        print(training.interrupted_line(stop, run_dir), flush=True)
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
