"""Result lists of the front door: `History` (one dict per epoch) and `Predictions` (one
`Prediction` per image); both are plain lists that also draw and display themselves."""

from __future__ import annotations

import html
from typing import Any

from convlens.engine.predict import Prediction
from convlens.look.picture import Picture
from convlens.look.results import draw_curves, draw_predictions

__all__ = ["History", "Predictions"]

COLUMNS = (
    ("epoch", "epoch", "{}"),
    ("train_loss", "train loss", "{:.4f}"),
    ("train_accuracy", "train acc", "{:.2%}"),
    ("test_loss", "test loss", "{:.4f}"),
    ("test_accuracy", "test acc", "{:.2%}"),
    ("lr", "lr", "{:.2g}"),
    ("seconds", "s", "{:.1f}"),
)


class History(list[dict[str, Any]]):
    """Per-epoch metrics, one dict per finished epoch (epoch, train_loss, train_accuracy,
    test_loss, test_accuracy, lr, seconds, images_per_second).

    Example:
        >>> run.history[-1]["test_accuracy"]
        >>> run.history.plot()              # loss and accuracy curves
    """

    def plot(self) -> Picture:
        """Loss and accuracy per epoch, train and test."""
        return Picture(draw_curves(self), name="curves")

    @property
    def best(self) -> dict[str, Any] | None:
        """The epoch with the best test accuracy (None before the first epoch)."""
        return max(self, key=lambda m: m["test_accuracy"]) if self else None

    def __repr__(self) -> str:
        best = self.best
        if best is None:
            return "History(no finished epoch yet)"
        last = self[-1]
        return (
            f"History({len(self)} epochs; last: test accuracy {last['test_accuracy']:.2%}, "
            f"test loss {last['test_loss']:.4f}; best: {best['test_accuracy']:.2%} at epoch "
            f"{best['epoch']})"
        )

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{label}</th>" for _, label, _ in COLUMNS)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{fmt.format(m[key]) if key in m else ''}</td>" for key, _, fmt in COLUMNS
            )
            + "</tr>"
            for m in self
        )
        return (
            f"<div><b>{html.escape(repr(self))}</b><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )


class Predictions(list[Prediction]):
    """Predictions, one per image: each has `.label`, `.probs`, `.logits`, `.image` (as the
    model saw it) and `.top(k)`.

    Example:
        >>> preds = run.predict(["shoe.jpg", "bag.png"])
        >>> [p.label for p in preds]
        >>> preds.plot()                     # each image with its top-5 probabilities
    """

    def plot(self, *, top_k: int = 5) -> Picture:
        """Each image as the model saw it, beside its `top_k` probabilities."""
        return Picture(draw_predictions(self, top_k=top_k), name="predictions")

    def __repr__(self) -> str:
        return "\n".join(p.line() for p in self) if self else "Predictions(none)"

    def _repr_html_(self) -> str:
        return "".join(p._repr_html_() + "<div style='clear: both'></div>" for p in self)
