"""The TrainConfig flags, generated once from the dataclass's fields for `train`, `lr-find`,
`sweep` and `compare`.

Each field is one flag: `batch_size` -> `--batch-size`, its type from the annotation (a bool
field is `--name/--no-name`), its help from the field's metadata (`convlens.config.setting`),
its default from the command's base settings. A flag that is not given stays None, so
`given(args)` holds only what the user typed: defaults < --config FILE / --recipe NAME <
flags (`convlens.config.resolve_config`). A field added to TrainConfig gets its flag here
without any change. Torch-free: `--help` answers without importing it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

from convlens.config import TrainConfig, recipe_file, recipe_names
from convlens.errors import ConfigError
from convlens.values import tta_views


def _lr(text: str) -> float | str:
    """--lr NUMBER or --lr find."""
    if text == "find":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected a number or find. Received: {text!r}") from None


def _normalize(text: str) -> bool:
    """--normalize standard|none as the TrainConfig bool."""
    if text not in ("standard", "none"):
        raise argparse.ArgumentTypeError(f"Expected standard or none. Received: {text!r}")
    return text == "standard"


class _TtaFlag(argparse.Action):
    """--tta (test-time flip), --tta VIEWS (e.g. flip,shift) and --no-tta, in one flag."""

    invocation = "--tta [VIEWS], --no-tta"

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__([*option_strings, "--no-tta"], dest, nargs="?", **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        if option_string == "--no-tta" and values is not None:
            parser.error(f"--no-tta takes no value. Received: {values!r}")
        given = True if values is None else values  # a bare --tta: test-time flip
        setattr(namespace, self.dest, option_string != "--no-tta" and given)


def _tta(text: str) -> bool | str:
    """--tta VIEWS: auto, true, false or views, checked here so a stray word is a flag error."""
    word = text.strip().lower()
    if word in ("true", "false"):
        return word == "true"
    if word == "auto":
        return word
    try:
        tta_views(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


# Fields whose flag reads other words than their type: --lr find, --normalize standard|none,
# --max-params 1e9 (an int field; TrainConfig takes a whole float).
SPECIAL: dict[str, dict[str, Any]] = {
    "lr": {"type": _lr},
    "normalize": {"type": _normalize, "metavar": "{standard,none}"},
    "max_params": {"type": float, "metavar": "N"},
    "tta": {"action": _TtaFlag, "type": _tta, "metavar": "VIEWS"},
}
TYPES = {"int": int, "float": float, "str": str}


def flag(name: str) -> str:
    """The flag of a TrainConfig field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser,
    *,
    defaults: TrainConfig | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """One flag per TrainConfig field (but `exclude`), in groups, showing `defaults`."""
    defaults = defaults or TrainConfig()
    chosen = [f for f in fields(TrainConfig) if f.name not in set(exclude)]
    parser.set_defaults(config_fields=tuple(f.name for f in chosen))
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in chosen:
        group_name = f.metadata.get("group", "recipe")
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        groups[group_name].add_argument(flag(f.name), **_argument(f, getattr(defaults, f.name)))


def _argument(f: Field, default: Any) -> dict[str, Any]:
    """add_argument's keywords for one field."""
    help_text = f.metadata.get("help", "")  # tests/test_cli_flags.py asks every field for one
    shown = _shown(f.name, default)
    if shown:
        help_text += f" (default: {shown})"
    kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text.replace("%", "%%")}
    kind = str(f.type).split(" | ")[0]
    if f.name in SPECIAL:
        kwargs.update(SPECIAL[f.name])
    elif kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = TYPES.get(kind, str)  # TrainConfig checks what it becomes
        if kind == "int":
            kwargs["metavar"] = "N"
    if "choices" in f.metadata:  # TrainConfig checks the value (and suggests a spelling)
        kwargs["metavar"] = "{" + ",".join(f.metadata["choices"]) + "}"
    if "metavar" in f.metadata:
        kwargs["metavar"] = f.metadata["metavar"]
    return kwargs


def _shown(name: str, value: Any) -> str:
    """A default as the help says it ('' for none)."""
    if value is None or value == "":
        return ""
    if name == "normalize":
        return "standard" if value else "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int) and value >= 1_000_000:
        return f"{value:.0e}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_settings_file(parser: argparse.ArgumentParser, *, instead_of: str = "") -> None:
    """--config FILE.yaml and --recipe NAME (one of them): settings between defaults and flags."""
    base = f" instead of {instead_of}" if instead_of else ""
    parser.add_argument(
        "--config",
        metavar="FILE.yaml",
        help=f"YAML file of settings (flag names with _ instead of -){base}; flags override it",
    )
    parser.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"a recipe shipped with convlens: {', '.join(recipe_names())}{base}; flags "
        "override it",
    )


def settings_file(args: argparse.Namespace, default: str | Path | None = None) -> Path | None:
    """The YAML file of settings: --config FILE or the packaged --recipe NAME (not both), else
    `default`."""
    if args.recipe and args.config:
        raise ConfigError("give --recipe NAME or --config FILE.yaml, not both")
    if args.recipe:
        return recipe_file(args.recipe)
    chosen = args.config or default
    return Path(chosen) if chosen is not None else None


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig flags the user gave (the others are None)."""
    names = args.config_fields
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}
