"""What the page offers beside your own image: the run's test images with their true labels,
its most confident mistakes, and the first layer's filters epoch by epoch."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from convlens import data as datamod
from convlens.engine.evaluate import Evaluation, evaluate_run
from convlens.engine.history import read_history
from convlens.engine.prepare import prepare
from convlens.engine.runs import Run
from convlens.errors import ConfigError
from convlens.io import data_url, png_bytes

MISTAKES_FROM = 2000  # test images searched for the most confident mistakes


class TestSet:
    """A run's test split, loaded on first use, and its evaluation (thread-safe)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._ds: Any = None
        self._eval: Evaluation | None = None
        self._lock = threading.Lock()

    def images(self) -> Any:
        """The test split (an ImageDataset or FolderStream), loaded once."""
        with self._lock:
            if self._ds is None:
                name = self.run.info.get("data") or self.run.config.data
                self._ds = datamod.load_dataset(name, "test", data_dir=self.run.config.data_dir)
            return self._ds

    def pixels(self, index: int) -> tuple[torch.Tensor, str]:
        """uint8 pixels (C, H, W) of test image `index` and its true class name."""
        ds = self.images()  # prepare checks the index and reads the image, as for every door
        x = prepare(self.run, [index], dataset=ds, invert="no").pixels[0]  # (C, H, W)
        return x, self.run.classes[int(ds.labels[index])]

    def thumb(self, index: int) -> dict[str, Any]:
        px, label = self.pixels(index)
        a = px.permute(1, 2, 0).numpy()
        return {"index": index, "label": label, "png": data_url(png_bytes(a))}

    def samples(self, n: int, offset: int = 0) -> dict[str, Any]:
        """`n` test images from `offset` on, with their true labels."""
        total = len(self.images())
        if not 1 <= n <= 200 or offset < 0:
            raise ConfigError(f"Expected n in 1..200 and offset >= 0. Received: n={n}, {offset=}")
        return {
            "total": total,
            "images": [self.thumb(k) for k in range(offset, min(total, offset + n))],
        }

    def evaluation(self) -> Evaluation:
        """The model on the first MISTAKES_FROM test images, evaluated once."""
        with self._lock:
            if self._eval is None:
                self._eval = evaluate_run(self.run, limit=MISTAKES_FROM, device="cpu")
            return self._eval

    def _rows(self, ev: Evaluation, picked: np.ndarray, n: int) -> list[dict[str, Any]]:
        """Thumbnails of the `n` images among `picked` the model was surest of (its top
        probability), with what it predicted."""
        sure = ev.probs[picked].max(1)
        rows = []
        for k in picked[np.argsort(-sure, kind="stable")][:n].tolist():
            row = self.thumb(int(k))
            row |= {"predicted": ev.classes[int(ev.preds[k])], "prob": float(ev.probs[k].max())}
            row["true_prob"] = float(ev.probs[k, ev.targets[k]])
            rows.append(row)
        return rows

    def mistakes(self, n: int) -> dict[str, Any]:
        """The `n` most confident wrong predictions among the first MISTAKES_FROM images
        (the highest top probability first)."""
        ev = self.evaluation()
        wrong = np.flatnonzero(ev.preds != ev.targets)
        return {"searched": len(ev.targets), "mistakes": self._rows(ev, wrong, n)}

    def confusion(self) -> dict[str, Any]:
        """The confusion matrix (row: true class, column: predicted) of the first
        MISTAKES_FROM test images, with the accuracy."""
        ev = self.evaluation()
        return {
            "classes": list(ev.classes),
            "matrix": ev.confusion.tolist(),
            "searched": len(ev.targets),
            "accuracy": ev.accuracy,
        }

    def cell(self, true: int, predicted: int, n: int) -> dict[str, Any]:
        """The images of one confusion cell (true class, predicted class), most confident
        first."""
        ev = self.evaluation()
        k = len(ev.classes)
        if not (0 <= true < k and 0 <= predicted < k):
            raise ConfigError(
                f"Expected classes in 0..{k - 1}. Received: true={true}, predicted={predicted}"
            )
        picked = np.flatnonzero((ev.targets == true) & (ev.preds == predicted))
        return {"count": len(picked), "images": self._rows(ev, picked, n)}


def filter_history(run: Run) -> dict[str, Any]:
    """The first recorded layer's kernels after every epoch: {layer, epochs, shape, lim,
    filters: [epoch][out][in][kh][kw]} (layer None when training recorded none)."""
    history = read_history(run.path)
    if not history:
        return {"layer": None, "epochs": [], "filters": []}
    layer = next(iter(history))
    epochs = sorted(history[layer])
    kernels = [history[layer][e].float() for e in epochs]
    lim = max(float(np.abs(k.numpy()).max()) for k in kernels) or 1.0
    return {
        "layer": layer,
        "epochs": epochs,
        "shape": list(kernels[0].shape),
        "lim": lim,
        "filters": [np.round(k.numpy(), 5).tolist() for k in kernels],
    }
