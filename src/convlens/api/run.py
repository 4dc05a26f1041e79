"""The front door's `Run`: a trained run folder with its model, and everything to do with it
(evaluate, predict, show, report, explore); `load` opens one."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from torch import nn

from convlens.api.explore import ExplorerServer, in_notebook, interactive
from convlens.api.results import History, Predictions
from convlens.config import TrainConfig
from convlens.engine.evaluate import Evaluation, evaluate_run
from convlens.engine.predict import predict
from convlens.engine.prepare import ModelInput, prepare
from convlens.engine.runs import Run as EngineRun
from convlens.engine.runs import load_run
from convlens.io import atomic_write_text, shown_path
from convlens.look.inspector import Inspector
from convlens.look.kinds import Ask, draw, parse_channels
from convlens.look.picture import Picture
from convlens.look.report import build_report
from convlens.models.build import MODULE_REF
from convlens.models.summary import ModelSummary, summary

__all__ = ["Run", "load"]


class Run:
    """A training run: its folder, its model (with the best weights), its history, and what
    to do with it. `cl.train` and `cl.load` return one.

    Attributes:
        path: the run folder.
        model: the trained nn.Module, in eval mode.
        classes: class names, index = label.
        input_shape: (C, H, W) the model takes.
        config: the TrainConfig it was trained with.
        history: per-epoch metrics (a list of dicts; `.plot()` draws them).
        engine_run: the library's `convlens.engine.runs.Run`.

    Example:
        >>> run = cl.load("runs/demo")
        >>> run.evaluate().accuracy
        >>> run.show("filters")
    """

    def __init__(self, engine_run: EngineRun) -> None:
        self.engine_run = engine_run
        self._look = Inspector(engine_run)
        self._server: ExplorerServer | None = None

    # ------------------------------------------------------------------------- what it is
    @property
    def path(self) -> Path:
        return self.engine_run.path

    @property
    def model(self) -> nn.Module:
        return self.engine_run.model

    @property
    def classes(self) -> tuple[str, ...]:
        return self.engine_run.classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.engine_run.input_shape

    @property
    def config(self) -> TrainConfig:
        return self.engine_run.config

    @property
    def info(self) -> dict[str, Any]:
        """run.json: model, data set, classes, normalisation, versions."""
        return self.engine_run.info

    @property
    def history(self) -> History:
        """Per-epoch metrics: one dict per finished epoch; `.plot()` draws the curves."""
        return History(self.engine_run.metrics)

    def summary(self) -> ModelSummary:
        """The model's summary table on the run's input shape.

        Example:
            >>> print(run.summary())
        """
        return summary(self.model, self.input_shape)

    # ------------------------------------------------------------------------- what it does
    def evaluate(
        self, split: str = "test", *, data: str | None = None, limit: int | None = None
    ) -> Evaluation:
        """Evaluate on a split of its own data set (or of `data`) the way it was tested while
        training. The result has `.accuracy`, `.confusion`, `.most_confused(k)`,
        `.top_losses(k)` and `.per_class()`, and shows as tables in Jupyter.

        Example:
            >>> ev = run.evaluate()
            >>> ev.accuracy, ev.most_confused(5)
        """
        if split == "test" and data is None and limit is None:
            return self._look.evaluation()  # computed once, shared with run.show
        return evaluate_run(self.engine_run, data=data, split=split, limit=limit)

    def prepare(self, image: Any, *, invert: str | bool = "auto") -> ModelInput:
        """Images exactly as the model sees them, and what was done to each: the one way
        from an image to the model's input, which `predict`, `show`, `cl.feature_maps`, the
        explorer and the doctor all take.

        In short: a tensor or array in the model's layout and input shape (C, H, W) is used
        as it is (uint8 pixels such as `ds[3][0]` only normalised, floats taken as already
        normalised); anything else is converted. The rule in full: `convlens.engine.prepare`
        (the README's "What the model sees").

        Args:
            image: an image, a batch (N, C, H, W), a list of images, or test-set indices.
            invert: "auto" (invert dark-on-light drawings for light-on-dark data such as
                MNIST), "yes" or "no".

        Returns:
            `.x` float32 (N, C, H, W), the model's input; `.pixels` uint8 (N, C, H, W);
            `.decisions`, per image: source, as_is, inverted, cropped, resized_from,
            normalised, note.

        Example:
            >>> seen = run.prepare("my_shoe.jpg")
            >>> run.model(seen.x).argmax(1), seen.decisions[0]
        """
        return prepare(self.engine_run, image, invert=invert)

    def predict(self, images: Any, *, invert: str | bool = "auto") -> Predictions:
        """Predict the class of one image or a list of them, each prepared by `run.prepare`
        (a test image gives the same numbers by index, as `ds[i][0]` or as a PNG file).

        Args:
            images: an image (file path, bytes, PIL image, numpy array or tensor of pixels),
                a batch (N, C, H, W), a list of images, or test-set indices (ints) of the
                run's own data set.
            invert: "auto" (invert dark-on-light drawings for light-on-dark data such as
                MNIST), "yes" or "no".

        Returns:
            A list of predictions, one per image: `.label`, `.probs`, `.logits`, `.image`
            (uint8 (C, H, W), the image as the model saw it), `.prepared` (what was done).

        Example:
            >>> preds = run.predict("my_shoe.jpg")
            >>> preds[0].label, preds[0].probs.max()
        """
        return Predictions(predict(self.engine_run, images, invert=invert))

    def show(
        self,
        kind: str,
        *,
        layer: str | None = None,
        index: int | None = None,
        image: Any = None,
        n: int = 24,
        seed: int = 0,
        cnn: str | Path | None = None,
        maps: int | str | None = None,
        split: str = "test",
        channels: str | int | list[int] | None = None,
    ) -> Picture:
        """One picture of the run (what `convlens show KIND RUN` draws).

        Args:
            kind: one of curves, filters, evolution, features, predictions, confusion,
                mistakes, saliency, gradcam, integrated-gradients, occlusion, feature-vis,
                receptive-field, equivariance, mlp (the
                table `convlens.look.kinds.KINDS`, as `convlens show --help` lists it);
                evolution animates: `.frames` beside the still strip.
            layer: a conv layer for filters, evolution and gradcam (default: the first; the
                last for gradcam); for features, draw only this layer's maps, all of them.
            index: the image for features and the attributions (default 0), counted in
                `split`.
            image: an image instead of a test image: anything `run.prepare` takes.
            n: images in the grids (predictions, mistakes).
            seed: which test images the predictions grid shows.
            cnn: for mlp, a CNN run folder to show beside it.
            maps: for features, "all" or a number of maps per layer, each layer a grid
                (default: the first eight of each layer in one row).
            split: "test" (default) or "train": which data set `index` counts in.
            channels: for feature-vis, the channels of `layer` to excite: a list, "0,3,5"
                or "0-7" (default: the first eight, or all if fewer).

        Example:
            >>> run.show("features", index=3)
            >>> run.show("features", maps="all", index=5, split="train")
            >>> run.show("gradcam", image="my_shoe.jpg").savefig("gradcam.png")
            >>> run.show("feature-vis", layer="conv2", channels=[0, 5, 7])
        """
        if channels is not None and not isinstance(channels, str):
            channels = ",".join(str(c) for c in parse_channels(channels))
        ask = Ask(
            layer=layer,
            index=index,
            image=image,
            n=n,
            seed=seed,
            cnn=str(cnn) if cnn is not None else None,
            maps=maps,
            split=split,
            channels=channels,
        )
        return draw(self._look, kind, ask)

    def report(self, *, out: str | Path | None = None) -> Path:
        """Write the run report, one self-contained HTML page (default: RUN/report.html),
        and return its path.

        Example:
            >>> run.report()            # PosixPath('runs/demo/report.html')
        """
        path = Path(out) if out is not None else self.path / "report.html"
        atomic_write_text(path, build_report(self._look))
        return path

    def explore(self, *, port: int = 0, block: bool | None = None) -> ExplorerServer:
        """Start the explorer (draw or upload an image, watch the model think) on a local
        server at 127.0.0.1 in a background thread.

        In Jupyter the returned server shows the page inline; elsewhere the address is
        printed. `block` (default: only in a plain script) serves until Ctrl-C.

        Args:
            port: the port (default 0: a free one).
            block: wait until Ctrl-C, then stop.

        Example:
            >>> server = run.explore()     # the page, inline
            >>> server.stop()
        """
        if self._server is None or not self._server.running or (port and port != self._server.port):
            if self._server is not None:
                self._server.stop()
            self._server = ExplorerServer(self.engine_run, port=port)
        if not in_notebook():
            print(f"convlens explorer: {self._server.url}  (.stop() or Ctrl-C ends it)", flush=True)
        if block if block is not None else not interactive():
            self._server.wait()
        return self._server

    # ------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        best = History(self.engine_run.metrics).best
        acc = f", best test accuracy {best['test_accuracy']:.2%}" if best else ""
        return (
            f"Run({shown_path(self.path)!r}: {_model_label(self.info)} on {self.info.get('data')}, "
            f"{len(self.engine_run.metrics)} epochs{acc}, weights {self.engine_run.weights})"
        )

    def _repr_html_(self) -> str:
        return f"<div><b>{html.escape(repr(self))}</b>{self.history._repr_html_()}</div>"


def _model_label(info: dict[str, Any]) -> str:
    """The model as the run names it: registry name, spec text, or `module:Class` (the spec
    text of a spec-built module handed to `cl.train`)."""
    model, spec = str(info.get("model")), info.get("spec_text")
    return str(spec) if spec and MODULE_REF.match(model) else model


def load(
    path: str | Path,
    model: nn.Module | None = None,
    *,
    weights: str = "best",
    trust_code: bool = False,
) -> Run:
    """Open a run folder made by `cl.train` or `convlens train`.

    Args:
        path: the run folder.
        model: for a run of your own nn.Module class, a fresh instance to fill with the
            run's weights (a mismatched one is refused, naming the first tensor that
            differs); for spec and registry models leave it out.
        weights: "best" (best test accuracy) or "last".
        trust_code: a run of `FILE.py:Class` or `module:Class` rebuilds its model by
            importing that code; opening a run never does unless you say so here (or
            pass `model=`). Only for runs whose code you trust.

    Example:
        >>> run = cl.load("runs/demo")
        >>> run = cl.load("runs/mine", model=Net())
    """
    return Run(load_run(path, weights=weights, model=model, trust_code=trust_code))
