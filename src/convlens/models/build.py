"""The one builder: a spec, a registry name, a user's class or an `nn.Module` in, a model out.

`build` is the only way convlens turns a description into a module; the CLI, training,
run folders (`convlens.engine.runs.load_run` passes the run's spec and input shape), the
sweep and the lessons all call it.

    build("conv 32 3, maxpool 2, dense 10", (1, 28, 28))      # spec text
    build([('c', 64, 3), ('m', 2), ('f', None), ('d', 10)], (3, 32, 32))  # tuple list
    build("net.yaml")                                            # YAML file naming its input
    build("keras_mnist", num_classes=10)                         # registry name
    build("nets.py:Net") / build("mypkg.nets:Net")               # the user's own class

A reference `FILE.py:Class` or `package.module:Class` imports the user's own code (that is
what it asks for) and calls `Class()` with no arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlens.errors import ModelError, SpecError, suggest
from convlens.models import registry
from convlens.models.budget import Budget, allocating, check_budget
from convlens.models.layers import SpecModel, make_module
from convlens.models.spec import (
    ACTIVATION_NAMES,
    ALIASES,
    KINDS,
    SPEC_FILE_SUFFIXES,
    LayerSpec,
    infer_shapes,
    looks_like_path,
    parse,
    read_spec_file,
    resolve,
    to_text,
)
from convlens.models.summary.format import parse_shape

__all__ = ["build", "from_layers", "looks_like_spec", "module_ref", "MODULE_REF"]

# FILE.py:Class or package.module:Class
# (a class inside a function records as `module:func.<locals>.Net`: found only with model=)
MODULE_REF = re.compile(r"^(?P<where>[^\s,:]+\.py|[A-Za-z_][\w.]*):(?P<cls>[A-Za-z_][\w.<>]*)$")


def build(
    model: str | Path | Sequence[Any] | nn.Module,
    input_shape: Sequence[int] | str | None = None,
    *,
    num_classes: int | None = None,
    fits: str | None = None,
    budget: Budget | None = None,
    seed: int | None = None,
    **options: Any,
) -> nn.Module:
    """A model from a registry name, a spec (text, tuple list, YAML file) or a module.

    Args:
        model: e.g. "keras_mnist", "conv 32 3, maxpool 2, dense 10", "net.yaml", or an
            `nn.Module` (returned as it is).
        input_shape: (C, H, W) without batch, or text such as "1x28x28"; default: the
            registry model's own, or the YAML file's `input:`. The model keeps it as its
            `input_shape` attribute (`summary` and `draw` use it).
        num_classes: outputs of registry models (default 10); fills `{num_classes}` in specs.
        fits: the name of a data set the model must take: one forward pass of zeros checks
            that it accepts `input_shape` and gives `num_classes` outputs.
        budget: the parameters and activations a spec may take (`convlens.models.budget`;
            default `Budget()`), checked before anything is allocated.
        seed: seeds the initial weights, so the same call builds the same model (the
            global random state is left as it was); None: torch's current random state.
        **options: keyword options of a hand-written registry model.

    Raises:
        ModelError: an unknown name, bad options, or a model that does not fit `fits`.
        SpecError: a bad spec, or one that does not fit `input_shape`.

    Example:
        >>> model = build("conv 32 3, maxpool 2, dense 10", input_shape="1x28x28")
        >>> model = build("fastcnn", input_shape=(3, 32, 32), num_classes=10)
    """
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build(
                model, input_shape, num_classes=num_classes, fits=fits, budget=budget, **options
            )
    if isinstance(input_shape, str):
        input_shape = parse_shape(input_shape)
    if isinstance(model, nn.Module):
        net = model
    elif isinstance(model, str) and MODULE_REF.match(model.strip()):
        net = _from_import(model.strip(), options)
    elif isinstance(model, str) and model.strip() in registry.names():
        net = _from_registry(model.strip(), input_shape, num_classes, options, budget)
    elif isinstance(model, str) and not looks_like_spec(model):
        name = model.strip()
        raise ModelError(
            f"unknown model {name!r}{suggest(name, registry.names())}; known: "
            f"{', '.join(registry.names())}; or give a spec like 'conv 32 3, "
            f"maxpool 2, flatten, dense 10' or a .yaml spec file"
        )
    else:
        if options:
            raise ModelError(f"a spec takes no options. Received: {_options_text(options)}")
        net = _from_spec(model, input_shape, num_classes, fits, budget)
    if fits is not None:
        if input_shape is None or num_classes is None:
            raise ModelError("build(..., fits=DATA) needs input_shape and num_classes")
        _check_fits(net, model, tuple(input_shape), num_classes, fits)
    return net


def module_ref(model: nn.Module | str) -> str:
    """How a run records a user's module: `FILE.py:Class` with an absolute path, or
    `module:Class` (`__main__:Net` for a class defined in a notebook or script)."""
    if isinstance(model, str):
        match = MODULE_REF.match(model.strip())
        if match and match["where"].endswith(".py"):
            return f"{Path(match['where']).resolve()}:{match['cls']}"
        return model.strip()
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def from_layers(
    layers: Sequence[LayerSpec], input_shape: Sequence[int], budget: Budget | None = None
) -> SpecModel:
    """A SpecModel from validated layers: implicit flattens, shapes, one child per layer;
    ModelError before anything is allocated when it exceeds `budget`."""
    resolved = resolve(layers, input_shape)
    shapes = infer_shapes(resolved, input_shape)
    check_budget(resolved, shapes, input_shape, budget or Budget())
    counts: dict[str, int] = {}
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    in_shape = tuple(input_shape)
    for layer, out_shape in zip(resolved, shapes):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        with allocating(layer):
            modules[f"{layer.kind}{counts[layer.kind]}"] = make_module(layer, in_shape)
        in_shape = out_shape
    return SpecModel(
        modules,
        layers=resolved,
        input_shape=tuple(input_shape),
        shapes=shapes,
        spec_text=to_text(resolved),
    )


def looks_like_spec(text: str) -> bool:
    """True for text that is a spec or a spec file rather than a model name."""
    text = text.strip()
    if not text or text.startswith(("[", "(")) or any(c in text for c in ",\n ="):
        return True
    if text.lower().endswith(SPEC_FILE_SUFFIXES) or _is_file(text):
        return True
    return text.lower() in (*KINDS, *ALIASES, *ACTIVATION_NAMES, "softmax")


def _is_file(text: str) -> bool:
    """Path(text).is_file(), False for text no file can be named by (too long, NUL)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _from_spec(
    spec: Any,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    fits: str | None,
    budget: Budget | None,
) -> SpecModel:
    path_like = isinstance(spec, Path) or (isinstance(spec, str) and looks_like_path(spec))
    declared = read_spec_file(spec).input_shape if path_like else None
    if input_shape is None:
        if declared is None:
            raise SpecError(
                "Expected an input_shape such as (1, 28, 28) for this spec. "
                "Received: input_shape=None"
            )
        input_shape = declared
    elif declared is not None and fits is not None and declared[0] != input_shape[0]:
        c, h, w = input_shape
        raise ModelError(
            f"spec file {str(spec)!r} is built for {declared[0]}-channel input "
            f"({'x'.join(map(str, declared))}); {fits} images are {c}x{h}x{w}; "
            f"change its `input:` or use {declared[0]}-channel data"
        )
    return from_layers(parse(spec, num_classes=num_classes), input_shape, budget)


def _from_registry(
    name: str,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    options: dict[str, Any],
    budget: Budget | None,
) -> nn.Module:
    info = registry.model_info(name)
    n = 10 if num_classes is None else num_classes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ModelError(f"Expected num_classes >= 1. Received: num_classes={num_classes!r}")
    shape = tuple(input_shape) if input_shape is not None else info.default_input
    if len(shape) != 3:
        raise ModelError(
            f"model {name!r} needs input_shape (C, H, W). Received: input_shape={input_shape!r}"
        )
    if info.spec is not None:
        if options:
            raise ModelError(f"model {name!r} takes no options. Received: {_options_text(options)}")
        net: nn.Module = from_layers(parse(info.spec, num_classes=n), shape, budget)
    else:
        factory = registry.factory(name)
        net = factory(in_channels=shape[0], num_classes=n, image_size=shape[1:], **options)
    net.registry_name = name  # type: ignore[assignment]  # shown in summaries and pictures
    net.input_shape = tuple(shape)  # type: ignore[assignment]  # what summaries take by default
    return net


def _from_import(ref: str, options: dict[str, Any]) -> nn.Module:
    """Import `FILE.py:Class` or `package.module:Class` and instantiate the class."""
    match = MODULE_REF.match(ref)
    assert match is not None  # build() checked it
    where, name = match["where"], match["cls"]
    try:
        if where.endswith(".py"):
            path = Path(where).resolve()
            if not path.is_file():
                raise ModelError(f"--model {ref!r}: no such file {str(path)!r}")
            spec = importlib.util.spec_from_file_location(f"convlens_user_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ModelError(f"--model {ref!r}: cannot import {str(path)!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses and pickling look their module up
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ModelError:
        raise
    except Exception as exc:  # the user's own code: any error it raises on import
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"--model {ref!r}: importing {where} failed: {type(exc).__name__}: {first}"
        ) from None
    cls: Any = module
    for part in name.split("."):  # a nested class: Outer.Inner
        cls = getattr(cls, part, None)
    if cls is None:
        classes = [k for k, v in vars(module).items() if isinstance(v, type)]
        raise ModelError(f"--model {ref!r}: {where} has no {name!r}{suggest(name, classes)}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelError(f"--model {ref!r}: {name} is not an nn.Module class")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ModelError(
            f"--model {ref!r}: {name}() must take no arguments to be built by name ({exc})"
        ) from None


def _check_fits(
    net: nn.Module, model: Any, shape: tuple[int, ...], num_classes: int, data: str
) -> None:
    """ModelError unless `net` takes `shape` images and gives `num_classes` outputs."""
    what = model if isinstance(model, str) else type(net).__name__
    c, h, w = shape
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, c, h, w))
    except RuntimeError as exc:
        raise ModelError(
            f"model {what!r} does not take {data} images ({c}x{h}x{w}): "
            f"{str(exc).splitlines()[0][:160]}"
        ) from None
    finally:
        net.train(was_training)
    if out.shape != (2, num_classes):
        raise ModelError(
            f"model {what!r} gives outputs of shape {tuple(out.shape[1:])}; "
            f"{data} needs {num_classes} classes"
        )


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())
