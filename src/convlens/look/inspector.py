"""Look inside a run: one entry point per picture kind, shared by `convlens show`, the report
and notebooks. `Inspector` loads the run's test set and its evaluation once and reuses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convlens import data as datamod
from convlens.engine.evaluate import Evaluation, evaluate_run
from convlens.engine.runs import Run, load_run
from convlens.errors import ConfigError

KINDS = {
    "curves": "training and test loss and accuracy per epoch",
    "filters": "kernels of a conv layer (--layer) in a grid; 3x3 ones beside a classic kernel",
    "evolution": "a layer's filters and their change, epoch by epoch: GIF (+ a strip .png)",
    "features": "feature maps of every conv/pool layer for one image (--index, --split, "
    "--image); --maps all",
    "predictions": "a grid of test images with predicted and true labels, wrong ones in red",
    "confusion": "the confusion matrix on the test set",
    "mistakes": "the most confidently wrong test images",
    "saliency": "input-gradient saliency for one image (--index or --image)",
    "gradcam": "Grad-CAM on a conv layer (--layer, default the last) for one image",
    "integrated-gradients": "Integrated Gradients from a black image for one image "
    "(red: for the class, blue: against)",
    "occlusion": "how much the class score drops when each patch of one image is blacked out",
    "mlp": "an MLP run's first- and second-layer weights as images (--cnn RUN: a CNN's too)",
}
ATTRIBUTIONS = ("saliency", "gradcam", "integrated-gradients", "occlusion")
SPLITS = ("test", "train")


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


@dataclass
class Inspector:
    """A loaded run plus what the pictures need, loaded on first use."""

    run: Run
    _test: Any = field(default=None, repr=False)
    _train: Any = field(default=None, repr=False)
    _eval: Evaluation | None = field(default=None, repr=False)
    trust_code: bool = field(default=False, repr=False)  # for other runs it opens (--cnn)

    @classmethod
    def open(
        cls, path: str | Path, weights: str = "best", *, trust_code: bool = False
    ) -> Inspector:
        """The run in `path` (`trust_code`: see `convlens.engine.runs.load_run`)."""
        return cls(load_run(path, weights=weights, trust_code=trust_code), trust_code=trust_code)

    def test_set(self) -> Any:
        if self._test is None:
            self._test = datamod.load_dataset(
                self.run.info["data"], "test", data_dir=self.run.config.data_dir
            )
        return self._test

    def split_set(self, split: str = "test") -> Any:
        """The run's data set split "test" or "train" (loaded once)."""
        if split not in SPLITS:
            raise ConfigError(f"Expected --split test or train. Received: {split!r}")
        if split == "test":
            return self.test_set()
        if self._train is None:
            self._train = datamod.load_dataset(
                self.run.info["data"], "train", data_dir=self.run.config.data_dir
            )
        return self._train

    def evaluation(self) -> Evaluation:
        if self._eval is None:
            self._eval = evaluate_run(self.run)
        return self._eval

    def one_image(
        self, *, index: int | None = None, image: str | None = None, split: str = "test"
    ) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(normalised input (1, C, H, W), pixels (C, H, W) uint8, a caption); the image is
        `image`, or image `index` of the run's `split` ("test" or "train")."""
        if image is not None:
            from convlens.data.images import load_image
            from convlens.engine.predict import prepare_image

            prepared = prepare_image(
                load_image(image),
                self.run.input_shape,
                self.run.mean,
                data=str(self.run.info.get("data", "")),
            )
            pixels, caption = prepared.pixels, Path(image).name
        else:
            ds = self.split_set(split)
            index = 0 if index is None else index
            if not 0 <= index < len(ds):
                raise ConfigError(
                    f"Expected --index in 0..{len(ds) - 1} ({ds.name} {split}). Received: {index}"
                )
            pixels = datamod.images_at(ds, [index])[0]
            caption = f"{split}[{index}], true: {ds.classes[int(ds.labels[index])]}"
        x = datamod.normalize(pixels[None], self.run.mean, self.run.std)
        return x, pixels, caption

    def picture(
        self,
        kind: str,
        *,
        layer: str | None = None,
        index: int | None = None,
        image: str | None = None,
        n: int = 24,
        seed: int = 0,
        cnn: str | None = None,
        maps: int | str | None = None,
        split: str = "test",
    ) -> Any:
        """The matplotlib Figure of `kind` (for "evolution": a list of GIF frames). For
        features, `maps` ("all" or N per layer) or `layer` draws a grid per layer; `split`
        says which data set images `index` counts in."""
        from convlens.look import activations, attribution, results, weights

        model = self.run.model
        if kind not in KINDS:
            from convlens.errors import suggest

            raise ConfigError(
                f"unknown picture {kind!r}{suggest(kind, KINDS)}; kinds: {', '.join(KINDS)}"
            )
        if kind == "curves":
            return results.draw_curves(self.run.metrics)
        if kind == "filters":
            return weights.draw_filters(model, layer)
        if kind == "evolution":
            return weights.evolution_frames(self.run, layer)
        if kind == "mlp":
            other = load_run(cnn, trust_code=self.trust_code).model if cnn else None
            return weights.draw_mlp_weights(model, self.run.input_shape, cnn=other)
        if kind in ("features", *ATTRIBUTIONS):
            x, pixels, caption = self.one_image(index=index, image=image, split=split)
            if kind == "features" and (maps is not None or layer is not None):
                count = map_count(maps) if maps is not None else None
                return activations.draw_layer_maps(
                    model, x, pixels, maps=count, layer=layer, title=f"Feature maps for {caption}"
                )
            if kind == "features":
                return activations.draw_feature_maps(
                    model, x, pixels, title=f"Feature maps for {caption}"
                )
            black = datamod.normalize(torch.zeros_like(pixels)[None], self.run.mean, self.run.std)
            title = kind
            if kind == "saliency":
                heat, target = attribution.saliency(model, x)
            elif kind == "gradcam":
                heat, target, layer = attribution.gradcam(model, x, layer)
                title = f"gradcam ({layer})"
            elif kind == "integrated-gradients":
                heat, target = attribution.integrated_gradients(model, x, baseline=black)
            else:
                heat, target = attribution.occlusion(model, x, baseline=black)
            return activations.draw_attribution(
                pixels, heat, kind=title, label=f"{self.run.classes[target]}, {caption}"
            )
        ev, ds = self.evaluation(), self.test_set()
        images = _pixels(ds)
        if kind == "confusion":
            return results.draw_confusion(ev)
        if kind == "mistakes":
            return results.draw_mistakes(ev, images, n=min(n, 24))
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(len(ev.targets), size=min(n, len(ev.targets)), replace=False))
        return results.draw_test_predictions(ev, images, chosen)[0]


def _pixels(ds: Any) -> Any:
    """Indexable uint8 images of a split (in memory, or read on demand for a FolderStream)."""
    if isinstance(ds, datamod.FolderStream):

        class Lazy:
            def __getitem__(self, i: int) -> torch.Tensor:
                return ds.load([int(i)])[0]

        return Lazy()
    return ds.images
