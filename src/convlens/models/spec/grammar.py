"""Parsing a spec: text, tuple lists and YAML files in, validated `LayerSpec` lists out;
and back to canonical text (`to_text`). See `convlens.models.spec` for the grammar."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from convlens.errors import SpecError, suggest
from convlens.models.spec.layer import (
    ACTIVATION_NAMES,
    ALIASES,
    EXAMPLE,
    KINDS,
    OPTION_ALIASES,
    OPTIONS,
    POSITIONAL,
    SPEC_FILE_SUFFIXES,
    LayerSpec,
    SpecFile,
    check_input_shape,
    quote_source,
)
from convlens.yamlfile import read_yaml


def parse(spec: Any, *, num_classes: int | None = None) -> list[LayerSpec]:
    """Parse any spelling of a spec into a validated list of LayerSpec (no shapes needed).

    Args:
        spec: text, a path to a .yaml/.yml file, a tuple list (or its text), a list of layer
            strings, or a list of LayerSpec (returned as a list).
        num_classes: fills `{num_classes}` placeholders in the text.

    Raises:
        SpecError: unknown word, missing or bad number, bad option, empty spec, ...
    """
    if isinstance(spec, Path) or (isinstance(spec, str) and looks_like_path(spec)):
        return read_spec_file(spec, num_classes=num_classes).layers
    if isinstance(spec, str):
        text = spec.strip()
        if num_classes is not None:
            text = text.replace("{num_classes}", str(num_classes))
        if text.startswith(("[", "(")):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
                why = (
                    "only literal values are allowed"
                    if isinstance(exc, ValueError)
                    else _first_line(exc)
                )
                raise SpecError(
                    f"cannot read the layer list {_short(text)}: {why} "
                    f"(expected a Python list of tuples like [('c', 32, 3), "
                    f"('m', 2), ('f', None), ('d', 10)])"
                ) from None
            if (
                isinstance(value, tuple)
                and value
                and all(isinstance(x, (tuple, list)) for x in value)
            ):
                value = list(value)  # a tuple of tuples
            return parse(value if isinstance(value, list) else [value], num_classes=num_classes)
        return _parse_items(_split(text), num_classes)
    if isinstance(spec, Sequence):
        if all(isinstance(x, LayerSpec) for x in spec) and spec:  # number hand-made ones
            return [x if x.position else replace(x, position=i + 1) for i, x in enumerate(spec)]
        return _parse_items(list(spec), num_classes)
    raise SpecError(
        f"Expected a spec as text, a YAML file path or a list of layers. "
        f"Received: {type(spec).__name__}"
    )


def read_spec_file(path: str | Path, *, num_classes: int | None = None) -> SpecFile:
    """Read a YAML spec file: a list of layers, or a mapping with `layers:` and `input:`."""
    path = Path(path)
    try:
        data = read_yaml(path, what=f"spec file '{path}'", error=SpecError)
    except FileNotFoundError:
        raise SpecError(f"spec file not found: '{path}'") from None
    shape = None
    if isinstance(data, Mapping):
        unknown = [k for k in data if k not in ("layers", "input")]
        if unknown:
            raise SpecError(
                f"spec file '{path}': unknown key {str(unknown[0])!r}"
                f"{suggest(str(unknown[0]), ['layers', 'input'])}; "
                f"allowed: layers, input"
            )
        if data.get("input") is not None:
            shape = _file_input_shape(data["input"], path)
        data = data.get("layers")
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        raise SpecError(
            f"spec file '{path}': expected a list of layers or a mapping with "
            f"'layers:'. Received: {type(data).__name__}"
        )
    try:
        return SpecFile(parse(data, num_classes=num_classes), shape)
    except SpecError as exc:
        raise SpecError(f"spec file '{path}': {exc}") from None


def _parse_items(items: list[Any], num_classes: int | None) -> list[LayerSpec]:
    texts: list[tuple[str, str]] = []  # (text to parse, source shown in messages)
    for item in items:
        if isinstance(item, str):
            texts += [(s, s) for s in _split(item)]
        elif isinstance(item, (tuple, list)):
            texts.append((_tuple_text(item), repr(tuple(item))))
        elif isinstance(item, Mapping) and len(item) == 1:  # YAML `- dense: 10`
            key, value = next(iter(item.items()))
            texts.append((f"{key} {'' if value is None else value}".strip(), f"{key}: {value}"))
        else:
            raise SpecError(
                f"layer {len(texts) + 1}: expected text like 'conv 32 3' or a tuple "
                f"like ('c', 32, 3). Received: {item!r}"
            )
    if not texts:
        raise SpecError(f"empty spec: no layers found; write e.g. {EXAMPLE}")
    layers = [
        _parse_layer(text, source, i + 1, num_classes) for i, (text, source) in enumerate(texts)
    ]
    dense = [i for i, layer in enumerate(layers) if layer.kind == "dense"]
    layers = [
        replace(layer, act=("none" if i == dense[-1] else "relu"))
        if layer.kind == "dense" and layer.act == ""
        else layer
        for i, layer in enumerate(layers)
    ]
    if layers[-1].kind == "flatten":
        raise SpecError(
            f"{layers[-1].where()}: nothing after flatten; end with an output layer "
            f"such as 'dense 10', or remove the flatten"
        )
    return layers


def _split(text: str) -> list[str]:
    """Layer texts of a spec text: split at commas and new lines, `#` comments dropped."""
    parts = (s.strip() for line in text.splitlines() for s in line.split("#")[0].split(","))
    return [s for s in parts if s]


def _tuple_text(item: Sequence[Any]) -> str:
    """Notebook 001 tuple -> layer text: ('c', 64, 3) -> 'conv 64 3 pad=same'."""
    words = [str(x) for x in item if x is not None]
    head = words[0].lower() if words else ""
    short = {"c": "conv", "m": "maxpool", "f": "flatten", "d": "dense"}
    if head in short:
        words[0] = short[head]
        if head == "c":
            words.append("pad=same")
    return " ".join(words)


def _parse_layer(text: str, source: str, pos: int, num_classes: int | None) -> LayerSpec:
    where = f"layer {pos} {quote_source(source)}"
    if "{num_classes}" in text:
        if num_classes is None:
            raise SpecError(
                f"{where}: '{{num_classes}}' needs a value; pass num_classes or write a number"
            )
        text = text.replace("{num_classes}", str(num_classes))
    words = text.split()
    head = words[0].lower()
    if "=" in head and head.split("=")[0] in ("act", "activation"):  # `act=gelu` on its own
        words = ["act", head.split("=", 1)[1]] + words[1:]
        head = "act"
    kind = ALIASES.get(head, head)
    if kind in ACTIVATION_NAMES and kind != "none":
        words, kind = ["act", kind] + words[1:], "act"
    if kind not in KINDS:
        hint = suggest(head, [*KINDS, *ALIASES, *ACTIVATION_NAMES[1:]])
        if head == "softmax":
            hint = " (the last dense gives logits; the loss applies softmax)"
        raise SpecError(
            f"{where}: unknown layer {head!r}{hint}; known: {', '.join(KINDS[:-1])}, "
            f"and activations {', '.join(ACTIVATION_NAMES[1:])}"
        )
    positional = [w for w in words[1:] if "=" not in w]
    options = [w for w in words[1:] if "=" in w]
    spec_names = POSITIONAL.get(kind, ())
    usage = " ".join([kind, *(n.upper() for n, _ in spec_names)])
    if len(positional) < len(spec_names):
        missing = spec_names[len(positional)][0]
        raise SpecError(
            f"{where}: missing the {missing} number; write '{usage}'"
            + (f" e.g. '{_EXAMPLES[kind]}'" if kind in _EXAMPLES else "")
        )
    if len(positional) > len(spec_names):
        extra = positional[len(spec_names)]
        raise SpecError(
            f"{where}: unexpected {extra!r}; {kind} takes '{usage}'"
            + (
                f" and options {', '.join(o + '=' for o in OPTIONS[kind])}"
                if kind in OPTIONS
                else ""
            )
        )
    values: dict[str, Any] = {}
    for (name, typ), word in zip(spec_names, positional):
        values[name] = _number(word, name, typ, where) if typ is not str else word.lower()
    for word in options:
        key, _, value = word.partition("=")
        key = OPTION_ALIASES.get(key.lower(), key.lower())
        allowed = OPTIONS.get(kind, ())
        if key not in allowed:
            takes = (
                f"{kind} takes {', '.join(o + '=' for o in allowed)}"
                if allowed
                else f"{kind} takes no options"
            )
            raise SpecError(
                f"{where}: unknown option {key + '='!r}{suggest(key, allowed)}; {takes}"
            )
        values[key] = _option(key, value, where)
    return _make_layer(kind, values, where, pos, source)


_EXAMPLES = {
    "conv": "conv 32 3",
    "dense": "dense 10",
    "res": "res 64",
    "maxpool": "maxpool 2",
    "avgpool": "avgpool 2",
    "dropout": "dropout 0.5",
    "act": "act gelu",
}


def _make_layer(kind: str, v: dict[str, Any], where: str, pos: int, source: str) -> LayerSpec:
    # dense keeps "" (= default) until _parse_items knows which dense is the last one
    act = v.get("act", v.get("function", {"conv": "relu", "dense": ""}.get(kind, "none")))
    if kind == "act" and act not in ACTIVATION_NAMES[1:]:
        raise SpecError(
            f"{where}: bad activation {act!r}{suggest(act, ACTIVATION_NAMES[1:])}; "
            f"expected one of {', '.join(ACTIVATION_NAMES[1:])}"
        )
    if kind == "dropout" and not 0 <= v["rate"] < 1:
        raise SpecError(f"{where}: dropout rate must be in [0, 1). Received: rate={v['rate']!r}")
    kernel: int | None = v.get("kernel")
    pooled = kind in ("maxpool", "avgpool") and kernel is not None
    stride = int(v.get("stride", kernel if pooled else 1) or 1)
    padding = v.get("pad", 0)
    if kind in ("maxpool", "avgpool") and padding == "same":
        raise SpecError(f"{where}: pools take pad=valid or a whole number, not pad=same")
    if (
        kernel is not None
        and isinstance(padding, int)
        and kind in ("maxpool", "avgpool")
        and padding > kernel // 2
    ):
        raise SpecError(
            f"{where}: pad must be at most half the kernel ({kernel // 2}). Received: pad={padding}"
        )
    return LayerSpec(
        kind=kind,
        size=v.get("channels", v.get("units")),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=v.get("dil", 1),
        act=act,
        bn=bool(v.get("bn", False)),
        p=v.get("rate"),
        position=pos,
        source=source,
    )


def _number(word: str, name: str, typ: type, where: str) -> int | float:
    try:
        value = typ(word)
    except ValueError:
        kind = "whole number" if typ is int else "number"
        raise SpecError(f"{where}: {name} must be a {kind}. Received: {name}={word!r}") from None
    if typ is int and value <= 0:
        raise SpecError(
            f"{where}: {name} must be a positive whole number. Received: {name}={value}"
        )
    return value


def _option(key: str, value: str, where: str) -> Any:
    value = value.lower()
    if key == "act":
        if value not in ACTIVATION_NAMES:
            raise SpecError(
                f"{where}: bad act={value!r}{suggest(value, ACTIVATION_NAMES)}; "
                f"expected one of {', '.join(ACTIVATION_NAMES)}"
            )
        return value
    if key == "bn":
        if value not in ("0", "1", "true", "false", "yes", "no"):
            raise SpecError(f"{where}: bad bn={value!r}; expected bn=1 or bn=0")
        return value in ("1", "true", "yes")
    if key == "pad":
        if value in ("valid", "same"):
            return 0 if value == "valid" else "same"
        if not value.isdigit():
            raise SpecError(
                f"{where}: bad pad={value!r}; expected valid, same or a whole number >= 0"
            )
        return int(value)
    return _number(value, key, int, where)  # stride, dil


def to_text(layers: Sequence[LayerSpec] | Any) -> str:
    """Canonical one-line text of a spec (implicit flattens left out); parses back equal."""
    layers = [x for x in parse(layers) if not x.implicit]
    dense = [i for i, x in enumerate(layers) if x.kind == "dense"]
    return ", ".join(
        x.text(last_dense=bool(dense) and i == dense[-1]) for i, x in enumerate(layers)
    )


def looks_like_path(text: str) -> bool:
    """True for text naming a YAML spec file."""
    text = text.strip()
    return "\n" not in text and "," not in text and text.lower().endswith(SPEC_FILE_SUFFIXES)


def _file_input_shape(value: Any, path: Path) -> tuple[int, ...]:
    parts = str(value).lower().split("x") if isinstance(value, (str, int)) else value
    try:
        return check_input_shape([int(str(x).strip()) for x in parts])
    except (SpecError, ValueError, TypeError):
        raise SpecError(
            f"spec file '{path}': bad input {value!r}; expected CxHxW like 1x28x28"
        ) from None


def _short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return re.sub(r"\s+", " ", lines[0]) if lines else type(exc).__name__
