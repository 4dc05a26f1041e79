"""Look inside a run: `Inspector` loads the run's data sets and its evaluation once and reuses
them for every picture the table in `convlens.look.kinds` draws (`convlens show`, `run.show`,
the explorer and the report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convlens import data as datamod
from convlens.engine.evaluate import Evaluation, evaluate_run
from convlens.engine.prepare import prepare
from convlens.engine.runs import Run, load_run
from convlens.errors import ConfigError

SPLITS = ("test", "train")


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
        self, *, index: int | None = None, image: Any = None, split: str = "test"
    ) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(model input (1, C, H, W), pixels (C, H, W) uint8, a caption) of `image`
        (anything `convlens.engine.prepare` takes), or of image `index` of the run's `split`."""
        if image is None:
            ds = self.split_set(split)
            image = 0 if index is None else index
            seen = prepare(self.run, image, split=split, dataset=ds)
        else:
            seen = prepare(self.run, image)
        source = seen.decisions[0].source
        caption = Path(source).name if isinstance(image, (str, Path)) else source
        return seen.x, seen.pixels[0], caption

    def test_images(self) -> Any:
        """Indexable uint8 images of the test set (in memory, or read on demand for a
        FolderStream)."""
        ds = self.test_set()
        if isinstance(ds, datamod.FolderStream):

            class Lazy:
                def __getitem__(self, i: int) -> torch.Tensor:
                    return ds.load([int(i)])[0]

            return Lazy()
        return ds.images
