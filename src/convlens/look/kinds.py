"""The picture kinds of a run, as one table: `run.show`, `convlens show` (its choices and its
--help), the explorer's run pictures and the report's sections all read `KINDS`.

Each kind says what it shows (the help line), the function that draws it from an
`Inspector`, whether it draws one image (chosen by `index`/`image`/`split`), whether it
animates (GIF frames beside a still figure) and which models it applies to. `draw` turns a
kind and its options into a `Picture`. Importing this module loads neither torch nor
matplotlib (the CLI's --help reads the table); each drawing function imports what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from convlens.errors import ConfigError, suggest

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

    from convlens.look.inspector import Inspector
    from convlens.look.picture import Picture


@dataclass(frozen=True)
class Ask:
    """What a picture is asked for: the options of `run.show` and `convlens show`."""

    layer: str | None = None  # filters, evolution, gradcam; features: all of its maps
    index: int | None = None  # the data set image of `split` (default 0)
    image: Any = None  # an image instead: anything `run.prepare` takes
    n: int = 24  # images in the grids (predictions, mistakes)
    seed: int = 0  # which test images the predictions grid shows
    cnn: str | None = None  # mlp: a CNN run folder to show beside it
    maps: int | str | None = None  # features: "all" or N maps per layer
    split: str = "test"  # which data set `index` counts in
    channels: str | None = None  # feature-vis: e.g. "0,3,5" or "0-7" (default: up to 8)


Draw = Callable[["Inspector", Ask], "Figure"]


@dataclass(frozen=True)
class Kind:
    """One picture kind: its help line, how it is drawn, and what it needs."""

    help: str
    draw: Draw  # the (still) figure
    frames: Callable[[Inspector, Ask], list[Image.Image]] | None = None  # an animation's frames
    image: bool = False  # draws one image: index, image, split
    model: Literal["any", "cnn", "mlp"] = "any"  # the models it applies to

    @property
    def animates(self) -> bool:
        return self.frames is not None


# ----------------------------------------------------------------------------- drawing
def _curves(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.results import draw_curves

    return draw_curves(look.run.metrics)


def _filters(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.weights import draw_filters

    return draw_filters(look.run.model, ask.layer)


def _evolution_strip(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.weights import draw_evolution_strip

    return draw_evolution_strip(look.run, ask.layer)


def _evolution_frames(look: Inspector, ask: Ask) -> list[Image.Image]:
    from convlens.look.weights import evolution_frames

    return evolution_frames(look.run, ask.layer)


def _mlp(look: Inspector, ask: Ask) -> Figure:
    from convlens.engine.runs import load_run
    from convlens.look.weights import draw_mlp_weights

    other = load_run(ask.cnn, trust_code=look.trust_code).model if ask.cnn else None
    return draw_mlp_weights(look.run.model, look.run.input_shape, cnn=other)


def map_count(maps: int | str | None) -> int | None:
    """`--maps`: "all" (None: every map) or a number >= 1 of maps per layer."""
    if isinstance(maps, str) and maps.strip().lower() == "all":
        return None
    try:
        n = int(maps) if not isinstance(maps, (bool, float)) else 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"Expected --maps all or a number >= 1. Received: {maps!r}")
    return n


def _features(look: Inspector, ask: Ask) -> Figure:
    from convlens.look import activations

    x, pixels, caption = look.one_image(index=ask.index, image=ask.image, split=ask.split)
    title = f"Feature maps for {caption}"
    if ask.maps is None and ask.layer is None:
        return activations.draw_feature_maps(look.run.model, x, pixels, title=title)
    count = map_count(ask.maps) if ask.maps is not None else None
    return activations.draw_layer_maps(
        look.run.model, x, pixels, maps=count, layer=ask.layer, title=title
    )


def parse_channels(channels: str | int | list[int] | tuple[int, ...] | None) -> list[int]:
    """`--channels`: "0,3,5", "0-7" or a list of whole numbers >= 0 (None: 0-7)."""
    if channels is None:
        return list(range(8))
    if isinstance(channels, int) and not isinstance(channels, bool):
        return [channels]
    try:
        if isinstance(channels, str):
            chosen: list[int] = []
            for part in channels.replace(" ", "").split(","):
                lo, _, hi = part.partition("-")
                chosen += list(range(int(lo), int(hi or lo) + 1))
        elif isinstance(channels, (list, tuple)):
            chosen = [int(c) for c in channels if not isinstance(c, bool)]
            if len(chosen) != len(channels):
                chosen = []
        else:
            chosen = []
    except (TypeError, ValueError):
        chosen = []
    if not chosen or min(chosen) < 0 or len(chosen) > 64:
        raise ConfigError(
            f"Expected --channels like 0,3,5 or 0-7 (up to 64, each >= 0). Received: {channels!r}"
        )
    return chosen


def _feature_vis(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.neuron_pictures import draw_feature_vis
    from convlens.look.neurons import feature_vis

    run = look.run
    fv = feature_vis(
        run.model,
        run.input_shape,
        ask.layer,
        parse_channels(ask.channels) if ask.channels is not None else None,
        mean=run.mean,
        std=run.std,
        seed=ask.seed,
    )
    return draw_feature_vis(fv)


def _receptive_field(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.neuron_pictures import draw_receptive_field

    x, pixels, caption = look.one_image(index=ask.index, image=ask.image, split=ask.split)
    return draw_receptive_field(look.run.model, x, pixels, ask.layer)


def _equivariance(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.neuron_pictures import draw_equivariance

    x, pixels, caption = look.one_image(index=ask.index, image=ask.image, split=ask.split)
    return draw_equivariance(look.run.model, x, pixels)


def _attribution(name: str) -> Draw:
    """The drawing function of attribution `name`: a heat map over one image."""

    def draw(look: Inspector, ask: Ask) -> Figure:
        import torch

        from convlens.engine.prepare import prepare
        from convlens.look import activations, attribution

        model = look.run.model
        x, pixels, caption = look.one_image(index=ask.index, image=ask.image, split=ask.split)
        black = prepare(look.run, torch.zeros_like(pixels)).x  # a black image's input
        title = name
        if name == "saliency":
            heat, target = attribution.saliency(model, x)
        elif name == "gradcam":
            heat, target, layer = attribution.gradcam(model, x, ask.layer)
            title = f"gradcam ({layer})"
        elif name == "integrated-gradients":
            heat, target = attribution.integrated_gradients(model, x, baseline=black)
        else:
            heat, target = attribution.occlusion(model, x, baseline=black)
        label = f"{look.run.classes[target]}, {caption}"
        return activations.draw_attribution(pixels, heat, kind=title, label=label)

    return draw


def _predictions(look: Inspector, ask: Ask) -> Figure:
    import numpy as np

    from convlens.look.results import draw_test_predictions

    ev = look.evaluation()
    rng = np.random.default_rng(ask.seed)
    chosen = sorted(rng.choice(len(ev.targets), size=min(ask.n, len(ev.targets)), replace=False))
    return draw_test_predictions(ev, look.test_images(), chosen)[0]


def _confusion(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.results import draw_confusion

    return draw_confusion(look.evaluation())


def _mistakes(look: Inspector, ask: Ask) -> Figure:
    from convlens.look.results import draw_mistakes

    return draw_mistakes(look.evaluation(), look.test_images(), n=min(ask.n, 24))


# ----------------------------------------------------------------------------- the table
KINDS: dict[str, Kind] = {
    "curves": Kind("training and test loss and accuracy per epoch", _curves),
    "filters": Kind(
        "kernels of a conv layer (--layer) in a grid; 3x3 ones beside a classic kernel",
        _filters,
        model="cnn",
    ),
    "evolution": Kind(
        "a layer's filters and their change, epoch by epoch: GIF (+ a strip .png)",
        _evolution_strip,
        frames=_evolution_frames,
        model="cnn",
    ),
    "features": Kind(
        "feature maps of every conv/pool layer for one image (--index, --split, --image); "
        "--maps all",
        _features,
        image=True,
        model="cnn",
    ),
    "predictions": Kind(
        "a grid of test images with predicted and true labels, wrong ones in red", _predictions
    ),
    "confusion": Kind("the confusion matrix on the test set", _confusion),
    "mistakes": Kind("the most confidently wrong test images", _mistakes),
    "saliency": Kind(
        "input-gradient saliency for one image (--index or --image)",
        _attribution("saliency"),
        image=True,
    ),
    "gradcam": Kind(
        "Grad-CAM on a conv layer (--layer, default the last) for one image",
        _attribution("gradcam"),
        image=True,
        model="cnn",
    ),
    "integrated-gradients": Kind(
        "Integrated Gradients from a black image for one image (red: for the class, blue: against)",
        _attribution("integrated-gradients"),
        image=True,
    ),
    "occlusion": Kind(
        "how much the class score drops when each patch of one image is blacked out",
        _attribution("occlusion"),
        image=True,
    ),
    "feature-vis": Kind(
        "images optimised to excite channels (--channels 0-7) of a layer (--layer, default "
        "the last conv)",
        _feature_vis,
        model="cnn",
    ),
    "receptive-field": Kind(
        "the region of one image a unit of --layer sees (summary), beside its input gradient",
        _receptive_field,
        image=True,
        model="cnn",
    ),
    "equivariance": Kind(
        "shift one image 4 px: conv maps move along, the class probabilities barely change",
        _equivariance,
        image=True,
        model="cnn",
    ),
    "mlp": Kind(
        "an MLP run's first- and second-layer weights as images (--cnn RUN: a CNN's too)",
        _mlp,
        model="mlp",
    ),
}


def kind_of(name: str) -> Kind:
    """The table's entry for `name`; an unknown name is a one-line ConfigError."""
    if name not in KINDS:
        raise ConfigError(
            f"unknown picture {name!r}{suggest(str(name), KINDS)}; kinds: {', '.join(KINDS)}"
        )
    return KINDS[name]


def kinds_help() -> str:
    """The table as `convlens show --help` lists it: one kind a line, name and help."""
    width = max(map(len, KINDS))
    return "\n".join(f"  {name:<{width}} {kind.help}" for name, kind in KINDS.items())


def draw(look: Inspector, kind: str, ask: Ask | None = None) -> Picture:
    """Picture `kind` of the run `look` holds, as `ask` asks for it; an animation carries its
    frames beside the still figure (`Picture.frames`).

    Example:
        >>> draw(Inspector.open("runs/demo"), "features", Ask(index=3)).savefig("f.png")
    """
    from convlens.look.picture import Picture

    entry, ask = kind_of(kind), ask or Ask()
    if isinstance(ask.n, bool) or not isinstance(ask.n, int) or ask.n < 1:
        raise ConfigError(f"Expected --n >= 1. Received: {ask.n!r}")
    frames = entry.frames(look, ask) if entry.frames is not None else None
    return Picture(entry.draw(look, ask), name=kind, frames=frames)
