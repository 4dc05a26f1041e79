"""Reading YAML that anyone may have written: the one loader of convlens's YAML files.

`--config` files, a run's config.yaml and spec files all come through `read_yaml`. A few
hundred bytes of YAML can name a billion values through aliases (`&a [*a, *a, ...]` nested a
few times), so the document is composed into its node graph first (aliases stay shared,
cheap) and measured there: its size in bytes, its nodes as the aliases would expand them,
its depth, and its aliases; only a document within all four limits is turned into Python
values. Anything else is refused in one line naming the file and the limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convlens.errors import ConvlensError

__all__ = ["MAX_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_ALIASES", "read_yaml", "load_yaml"]

MAX_BYTES = 1_000_000  # a config or a spec file is a few kB
MAX_NODES = 100_000  # values once every alias is expanded
MAX_DEPTH = 100  # nested lists and mappings
MAX_ALIASES = 1_000  # `*name` references


def read_yaml(path: str | Path, *, what: str, error: type[ConvlensError]) -> Any:
    """The YAML document in `path` as Python values, within the limits above.

    `what` names the file in messages (e.g. "config file 'x.yaml'"); `error` is the
    exception type raised for a file that is unreadable, not UTF-8, not YAML or too big.
    FileNotFoundError passes through (each caller says it in its own words).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise error(f"{what} is larger than {MAX_BYTES // 1000} kB; refusing to read it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
            f"save it as UTF-8"
        ) from None
    return load_yaml(text, what=what, error=error)


def load_yaml(text: str, *, what: str, error: type[ConvlensError]) -> Any:
    """YAML text as Python values (safe types only), refused before it is built when it
    would expand past MAX_NODES values, MAX_DEPTH levels or MAX_ALIASES aliases."""
    import yaml

    if len(text) > MAX_BYTES:
        raise error(f"{what} is larger than {MAX_BYTES // 1000} kB; refusing to read it")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, what, error)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or "").strip()
        raise error(
            f"{what}{where} is not valid YAML" + (f" ({problem[:120]})" if problem else "")
        ) from None
    except ConvlensError:  # ours (ConfigError and SpecError are ValueErrors too)
        raise
    except RecursionError:
        raise error(f"{what} nests deeper than {MAX_DEPTH} levels; refusing it") from None
    except ValueError as exc:  # a value YAML parses but Python refuses (a 5000-digit number)
        raise error(f"{what} holds a value that cannot be read ({str(exc)[:100]})") from None
    finally:
        loader.dispose()


def _measure(root: Any, what: str, error: type[ConvlensError]) -> None:
    """Raise `error` when the node graph under `root` expands past the limits."""
    import yaml

    expanded: dict[int, int] = {}  # id(node) -> values under it, aliases expanded
    seen: set[int] = set()
    aliases = 0
    # iterative depth-first walk: (node, depth, children done?)
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    on_path: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        children = _children(node, yaml)
        if done:
            on_path.discard(key)
            total = 1 + sum(expanded[id(c)] for c in children)
            expanded[key] = total
            if total > MAX_NODES:
                raise error(
                    f"{what} expands to more than {MAX_NODES:,} values (through its "
                    f"aliases); refusing it"
                )
            continue
        if depth > MAX_DEPTH:
            raise error(f"{what} nests deeper than {MAX_DEPTH} levels; refusing it")
        if key in on_path:
            raise error(f"{what} holds an alias that contains itself; refusing it")
        if key in seen:  # a node reached again: an alias
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(f"{what} uses more than {MAX_ALIASES:,} aliases; refusing it")
            if key in expanded:
                continue
        seen.add(key)
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children)


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
