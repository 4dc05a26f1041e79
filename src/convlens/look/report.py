"""The run report: one self-contained HTML page (every image embedded) about a run."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PIL import Image

from convlens.errors import ConvlensError
from convlens.io import atomic_write_text, data_url, figure_bytes, gif_bytes
from convlens.look.inspector import Inspector

SECTIONS = (
    "config",
    "summary",
    "architecture",
    "curves",
    "evaluation",
    "filters",
    "evolution",
    "features",
    "mistakes",
    "gradcam",
)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: .85em; }
img { max-width: 100%; border: 1px solid #eee; } table { border-collapse: collapse; }
td, th { padding: .2em .8em; text-align: right; } th { border-bottom: 1px solid #ccc; }
.note { color: #777; }
"""


def _png(fig: Any) -> str:
    return data_url(figure_bytes(fig, dpi=90))


def _gif(frames: list[Image.Image]) -> str:
    return data_url(gif_bytes(frames), "image/gif")


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def build_report(look: Inspector) -> str:
    """The report page as HTML text."""
    from convlens.look.architecture import draw_architecture
    from convlens.models.summary import summary

    run = look.run
    parts: dict[str, str] = {}
    parts["config"] = "<pre>" + html.escape((run.path / "config.yaml").read_text()) + "</pre>"
    s = summary(run.model, run.input_shape)
    parts["summary"] = "<pre>" + html.escape(str(s)) + "</pre>"
    parts["architecture"] = _img(
        _png(draw_architecture(run.model, run.input_shape)), "architecture"
    )
    parts["curves"] = _img(_png(look.picture("curves")), "curves")
    ev = look.evaluation()
    parts["evaluation"] = (
        "<pre>"
        + html.escape(str(ev))
        + "</pre>"
        + _img(_png(look.picture("confusion")), "confusion matrix")
        + _img(_png(look.picture("predictions", n=18)), "predictions")
    )
    parts["filters"] = _img(_png(look.picture("filters")), "filters")
    parts["evolution"] = _optional(lambda: _img(_gif(look.picture("evolution")), "evolution"))
    parts["features"] = "".join(
        _img(_png(look.picture("features", index=i)), f"features {i}") for i in range(2)
    )
    parts["mistakes"] = _optional(lambda: _img(_png(look.picture("mistakes", n=12)), "mistakes"))
    wrong = ev.top_losses(3)
    parts["gradcam"] = "".join(
        _img(_png(look.picture("gradcam", index=int(i))), f"gradcam {i}")
        for i in (wrong if len(wrong) else [0])
    )
    body = "".join(
        f'<section id="{name}"><h2>{name.capitalize()}</h2>{parts[name]}</section>'
        for name in SECTIONS
    )
    title = f"convlens report: {run.path.name}"
    best = max((m["test_accuracy"] for m in run.metrics), default=float("nan"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(str(run.info.get('model')))} on {html.escape(str(run.info['data']))}"
        f": best test accuracy {best:.2%}, {run.info.get('parameters', 0):,} parameters, "
        f"weights: {run.weights}</p>{body}</body></html>"
    )


def _optional(make) -> str:
    """A section that may not apply to this run says why instead of failing the report."""
    try:
        return make()
    except ConvlensError as exc:
        return f'<p class="note">{html.escape(str(exc))}</p>'


def write_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write `report.html` (default: in the run folder) and return its path."""
    look = Inspector.open(run_dir)
    path = Path(out) if out else look.run.path / "report.html"
    atomic_write_text(path, build_report(look))
    return path
