"""The summary as text and HTML: the table, the totals, numbers in units (no torch here)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from convlens.errors import ConfigError


def shape_text(shape: Sequence[int]) -> str:
    """(32, 26, 26) -> "32x26x26" (the `--input` notation)."""
    return "x".join(str(n) for n in shape) if shape else "-"


def parse_shape(text: str) -> tuple[int, ...]:
    """ "1x28x28" -> (1, 28, 28) (the inverse of `shape_text`); ConfigError when it is not one."""
    parts = text.lower().replace(" ", "").split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(
            f"Expected a shape such as '1x28x28' (C x H x W, positive whole numbers). "
            f"Received: input_shape={text!r}"
        )
    return tuple(int(p) for p in parts)


def pair_text(p: tuple[int, int]) -> str:
    """(3, 3) -> "3", (3, 5) -> "3x5"."""
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def si(n: int) -> str:
    """1_234_567 -> "1.23 M"."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def bytes_text(n: int) -> str:
    """2048 -> "2.00 KiB"."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def layer_cell(name: str, kind: str) -> str:
    """ "conv1 (Conv2d+ReLU)", "flatten1 (Flatten) (auto)" """
    auto = kind.endswith(" (auto)")
    return f"{name} ({kind.removesuffix(' (auto)')})" + (" (auto)" if auto else "")


def text_table(title: str, header: list[str], cells: list[list[str]], totals: list[str]) -> str:
    """Title, ruled table (first column left, the others right-aligned) and totals."""
    widths = [max(len(c) for c in col) for col in zip(header, *cells)]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(row[1:], widths[1:]))
        return "  ".join([first, *rest]).rstrip()

    rule_len = sum(widths) + 2 * (len(widths) - 1)
    out = [title, "=" * rule_len, line(header), "-" * rule_len]
    out += [line(c) for c in cells]
    out += ["=" * rule_len, *totals, "=" * rule_len]
    return "\n".join(out)


def html_table(
    name: str, subtitle: str, header: list[str], cells: list[list[str]], totals: list[str]
) -> str:
    """The same table as an HTML fragment (for notebooks)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='text-align:{'left' if i == 0 else 'right'}'><code>{esc(c)}</code></td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in cells
    )
    foot = "<br>".join(esc(t) for t in totals)
    return (
        f"<div><b>{esc(name)}</b> {esc(subtitle)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{foot}</p></div>"
    )
