"""The run report: one self-contained HTML page (every image embedded) about a run."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from convlens.errors import ConvlensError
from convlens.io import atomic_write_text, data_url, figure_bytes, gif_bytes
from convlens.look.inspector import Inspector
from convlens.look.kinds import KINDS, Ask

# The sections of a CNN's report, in order: the results first (headline numbers, curves,
# confusion matrix, mistakes), then the model and what it learned, the configuration last.
# A model without conv layers (an MLP) gets MLP_SECTIONS: its first-layer weights as images
# instead of the picture kinds only a CNN has (the table's `model="cnn"`: filters,
# evolution, feature maps and Grad-CAM).
SECTIONS = (
    "results",
    "curves",
    "evaluation",
    "mistakes",
    "predictions",
    "architecture",
    "summary",
    "filters",
    "evolution",
    "features",
    "saliency",
    "gradcam",
    "integrated-gradients",
    "occlusion",
    "config",
)
CONV_ONLY = tuple(name for name, kind in KINDS.items() if kind.model == "cnn")
_FIRST = SECTIONS.index("filters")
MLP_SECTIONS = tuple(
    name for name in (*SECTIONS[:_FIRST], "mlp", *SECTIONS[_FIRST:]) if name not in CONV_ONLY
)
TITLES = {
    "results": "Results",
    "evaluation": "Confusion matrix",
    "predictions": "Predictions",
    "config": "Configuration",
    "mlp": "MLP weights",
    "saliency": "Saliency",
    "gradcam": "Grad-CAM",
    "integrated-gradients": "Integrated Gradients",
    "occlusion": "Occlusion",
}
# One line under each section's title: what it shows and how to read it.
NOTES = {
    "results": "the numbers that matter, from the best epoch's weights",
    "curves": "loss and accuracy per epoch; a test curve that turns up while the train curve "
    "falls is overfitting",
    "evaluation": "rows: the true class, columns: the predicted one; everything off the "
    "diagonal is a mistake. Below: precision, recall and F1 per class",
    "mistakes": "the test images the model got wrong with the most confidence",
    "predictions": "the first test images; above each, the predicted class and its "
    "probability (red: wrong, with the true class)",
    "architecture": "the layers and the shape of what flows between them",
    "summary": "every layer with its output shape and parameter count",
    "filters": "the first conv layer's kernels (blue: negative, red: positive weights)",
    "evolution": "the first layer's kernels epoch by epoch",
    "features": "what each conv and pooling layer makes of one test image",
    "mlp": "the first dense layer's weights, one image per unit",
    "config": "the resolved training configuration (config.yaml): everything to run it again",
}
ATTRIBUTION_NOTES = {
    "saliency": "how much each pixel's gradient moves the predicted class score",
    "gradcam": "where the last conv layer's maps weigh most for the predicted class",
    "integrated-gradients": "each pixel's share of the class score, from a black image "
    "(red: for the class, blue: against)",
    "occlusion": "how much the class score drops when each patch is blacked out",
}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: .85em; }
img { max-width: 100%; border: 1px solid #eee; } table { border-collapse: collapse; }
td, th { padding: .2em .8em; text-align: right; } th { border-bottom: 1px solid #ccc; }
.note { color: #777; margin-top: -.4em; }
.headline { display: flex; gap: 2.5em; flex-wrap: wrap; margin: .5em 0; }
.headline div { font-size: .85em; color: #555; }
.headline b { display: block; font-size: 1.9em; color: #2f6db5; }
nav.toc { columns: 3; font-size: .9em; background: #f6f8fa; padding: .6em 1.2em; }
nav.toc a { display: block; color: #2f6db5; text-decoration: none; }
table.classes td:first-child, table.classes th:first-child { text-align: left; }
details summary { cursor: pointer; color: #2f6db5; }
"""


def _png(fig: Any) -> str:
    return data_url(figure_bytes(fig, dpi=90))


def _gif(frames: list[Image.Image]) -> str:
    return data_url(gif_bytes(frames), "image/gif")


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _picture(look: Inspector, kind: str, alt: str | None = None, **options: Any) -> str:
    """A picture kind of the table as an <img>: an animation as its GIF, else its figure."""
    entry, ask = KINDS[kind], Ask(**options)
    if entry.frames is not None:
        return _img(_gif(entry.frames(look, ask)), alt or kind)
    return _img(_png(entry.draw(look, ask)), alt or kind)


def model_name(info: dict[str, Any]) -> str:
    """What the run calls its model: the registry name, spec text or module it trained."""
    return str(info.get("model") or info.get("spec_text") or "model")


def sections_of(look: Inspector) -> tuple[str, ...]:
    """The sections that apply to this run's model."""
    from convlens.models.hooks import conv_layers

    return SECTIONS if conv_layers(look.run.model) else MLP_SECTIONS


def build_report(look: Inspector) -> str:
    """The report page as HTML text."""
    from convlens.look.architecture import draw_architecture
    from convlens.models.summary import summary

    run = look.run
    sections = sections_of(look)
    parts: dict[str, str] = {}
    ev = look.evaluation()
    parts["results"] = _headline(run, ev)
    config = html.escape((run.path / "config.yaml").read_text())
    parts["config"] = f"<details><summary>show config.yaml</summary><pre>{config}</pre></details>"
    s = replace(summary(run.model, run.input_shape), model_name=model_name(run.info))
    parts["summary"] = "<pre>" + html.escape(str(s)) + "</pre>"
    parts["architecture"] = _img(
        _png(draw_architecture(run.model, run.input_shape)), "architecture"
    )
    parts["curves"] = _picture(look, "curves")
    parts["evaluation"] = _picture(look, "confusion", "confusion matrix") + _per_class(ev)
    parts["predictions"] = _picture(look, "predictions", n=18)
    if "filters" in sections:
        parts["filters"] = _picture(look, "filters")
        parts["evolution"] = _optional(lambda: _picture(look, "evolution"))
        parts["features"] = "".join(
            _picture(look, "features", f"features {i}", index=i) for i in range(2)
        )
    if "mlp" in sections:
        parts["mlp"] = _optional(lambda: _picture(look, "mlp", "MLP weights"))
    parts["mistakes"] = _optional(lambda: _picture(look, "mistakes", n=12))
    wrong = [int(i) for i in ev.top_losses(3)]
    which = "the most confident mistakes" if wrong else "the first test image (no mistakes)"
    wrong = wrong or [0]
    for kind in ATTRIBUTION_NOTES:
        if kind in sections:
            parts[kind] = f'<p class="note">{ATTRIBUTION_NOTES[kind]}; for {which}</p>'
            parts[kind] += "".join(
                _picture(look, kind, f"{kind} test[{i}]", index=i) for i in wrong
            )
    title_of = {name: TITLES.get(name, name.capitalize()) for name in sections}
    toc = "".join(f'<a href="#{name}">{title_of[name]}</a>' for name in sections)
    body = f'<nav class="toc">{toc}</nav>' + "".join(
        f'<section id="{name}"><h2>{title_of[name]}</h2>'
        + (f'<p class="note">{html.escape(NOTES[name])}</p>' if name in NOTES else "")
        + f"{parts[name]}</section>"
        for name in sections
    )
    title = f"convlens report: {run.path.name}"
    best = max((m["test_accuracy"] for m in run.metrics), default=float("nan"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(model_name(run.info))} on {html.escape(str(run.info['data']))}"
        f": best test accuracy {best:.2%}, {run.info.get('parameters', 0):,} parameters, "
        f"weights: {run.weights}</p>{body}</body></html>"
    )


def _headline(run: Any, ev: Any) -> str:
    """The results in large numbers: test accuracy and loss of the weights the report
    uses, the best epoch, epochs and parameters."""
    metrics = run.metrics
    best = max(metrics, key=lambda m: m["test_accuracy"], default=None)
    cells = [
        ("test accuracy, evaluated now", f"{ev.accuracy:.2%}"),
        ("test loss", f"{ev.loss:.3f}"),
        ("best epoch", f"{best['epoch']} of {len(metrics)}" if best else "-"),
        ("parameters", f"{run.info.get('parameters', 0):,}"),
        ("test images", f"{len(ev.targets):,}"),
    ]
    numbers = "".join(f"<div><b>{v}</b>{html.escape(k)}</div>" for k, v in cells)
    confused = ", ".join(f"{t} as {p} ({n})" for t, p, n in ev.most_confused(3))
    line = f"<p>Most confused: {html.escape(confused)}.</p>" if confused else ""
    return f'<div class="headline">{numbers}</div>{line}'


def _per_class(ev: Any) -> str:
    """Precision, recall and F1 of each class as a table."""
    rows = "".join(
        f"<tr><td>{html.escape(str(r['class']))}</td><td>{r['precision']:.1%}</td>"
        f"<td>{r['recall']:.1%}</td><td>{r['f1']:.1%}</td><td>{r['support']}</td></tr>"
        for r in ev.per_class()
    )
    head = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>"
    return f'<table class="classes">{head}{rows}</table>'


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
