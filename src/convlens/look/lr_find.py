"""The learning-rate finder's picture: loss against lr (log scale), the suggestion marked and
the rule that chose it named."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from convlens.engine.lr_find import LRFindResult

__all__ = ["draw_lr_find"]

SUGGESTED = "#c62828"


def draw_lr_find(result: LRFindResult) -> Figure:
    """The sweep's loss per step (faint) and smoothed, with the suggested lr marked."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.plot(result.lrs, result.losses, color="#90a4ae", lw=0.8, alpha=0.7, label="loss per batch")
    ax.plot(result.lrs, result.smoothed, color="#1565c0", lw=2, label="smoothed loss")
    i = result.lrs.index(result.suggestion)
    ax.axvline(result.suggestion, color=SUGGESTED, ls="--", lw=1)
    ax.plot([result.suggestion], [result.smoothed[i]], "o", color=SUGGESTED, markersize=8)
    ax.annotate(
        f"suggested lr {result.suggestion:.2g}",
        (result.suggestion, result.smoothed[i]),
        textcoords="offset points",
        xytext=(8, 10),
        color=SUGGESTED,
        fontsize=9,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5},
        zorder=5,  # above the curves it would cross
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    # the first steps and a blow-up would squash the useful part: clip the y range
    low = min(min(result.smoothed), min(result.losses))
    high = max(result.smoothed[: max(1, len(result.smoothed) // 10)] + [low * 1.5])
    ax.set_ylim(low - 0.05 * (high - low), high + 0.15 * (high - low))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower left", fontsize=8)
    stopped = ", stopped when the loss blew up" if result.diverged else ""
    model = result.model if len(result.model) <= 40 else result.model[:37] + "..."
    name = f"{model} on {result.data}: " if model else ""
    ax.set_title(
        f"Learning-rate finder: {name}{len(result.lrs)} batches{stopped}\nrule: {result.rule_text}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
