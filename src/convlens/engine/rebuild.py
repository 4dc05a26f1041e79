"""Rebuild a run's model from what its folder says (spec text, registry name or a module
reference), importing a run's own code only when the user trusts it.

A run folder is data: opening one never imports a module or file it names unless the user
opts in (`trust_code=True`, `--trust-code`) or passes a fresh instance of the model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from torch import nn

from convlens.config import TrainConfig
from convlens.errors import CheckpointError, ModelError
from convlens.models import registry
from convlens.models.budget import Budget
from convlens.models.build import MODULE_REF, build

__all__ = ["build_run_model", "check_trusted", "code_to_import"]


def code_to_import(model: str) -> str | None:
    """The file or module that building `model` (a run's model text) would import; None
    when it needs no new code: a spec, a registry name, or a `module:Class` whose module
    this process has already imported (a notebook's or script's own class)."""
    match = MODULE_REF.match(model.strip())
    if match is None:
        return None
    where = match["where"]
    if not where.endswith(".py") and where in sys.modules:
        return None
    return where


def check_trusted(run_dir: str | Path, model: str, *, trust_code: bool) -> None:
    """CheckpointError unless opening the run in `run_dir`, whose model is `model`, imports
    no code, or the user trusts its code (`trust_code`)."""
    code = code_to_import(model)
    if code is None or trust_code:
        return
    match = MODULE_REF.match(model.strip())
    assert match is not None  # code_to_import found one
    what = f"the file {code!r}" if code.endswith(".py") else f"the module {code!r}"
    cls = match["cls"].rsplit(".", 1)[-1]
    raise CheckpointError(
        f"run folder {str(run_dir)!r} names code: its model {model.strip()[:200]!r} would "
        f"import {what[:260]}; a run folder is data and opening one imports no code unless "
        f"you trust it: pass a fresh instance, cl.load(path, model={cls[:60]}()), or opt in "
        f"with trust_code=True (CLI: --trust-code)"
    )


def build_run_model(
    info: dict[str, Any],
    model: nn.Module | None = None,
    config: TrainConfig | None = None,
    *,
    run_dir: str | Path = "the run",
    trust_code: bool = False,
) -> nn.Module:
    """Rebuild the model of a run from its spec text, registry name or module reference and
    its input shape (within the parameter budget of the run's `config`); `model` is a fresh
    instance of a user's own module to use instead. A module reference is imported only
    when `trust_code` (see `check_trusted`)."""
    spec = model if model is not None else info.get("spec_text") or info["model"]
    if model is None:
        check_trusted(run_dir, str(spec), trust_code=trust_code)
    cfg = config or TrainConfig()
    try:
        net = build(
            spec,
            tuple(info["input_shape"]),
            num_classes=int(info["num_classes"]),
            fits=str(info.get("data", "the data")),
            budget=Budget(cfg.max_params, cfg.max_activation_mb),
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
    if model is None and str(info.get("model")) in registry.names():
        net.registry_name = info["model"]  # built from its spec: keep the name it has
    return net
