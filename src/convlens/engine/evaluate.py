"""Evaluation: the one loop that tests a model, and what it says about a trained run.

`evaluate` runs a model over a data set without gradients, in the precision (amp), memory
layout (channels_last), test-time flips (tta) and device of a TrainConfig. Training calls it
after every epoch, and `evaluate_run` calls it with the run's own config, so `convlens eval`
reports the accuracy the run recorded for the epoch of its weights.

`evaluate_run(run)` keeps, for every image, the probabilities; everything else (confusion
matrix, per-class numbers, most confused pairs, top losses) is arithmetic on those, so the
look-inside pictures reuse one `Evaluation` instead of running the model again.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.auto import resolve
from convlens.engine.distributed import resolve_device
from convlens.engine.memory import keep_freed_memory
from convlens.engine.precision import autocast, channels_last_model, to_model_input
from convlens.engine.runs import Run, load_run, read_run_info
from convlens.errors import ConfigError, DataError, ModelError
from convlens.io import atomic_write_json, atomic_write_text
from convlens.values import tta_views

__all__ = [
    "EvalResult",
    "evaluate",
    "evaluate_with",
    "tta_images",
    "Evaluation",
    "evaluate_run",
    "check_compatible",
    "save_evaluation",
]

Dataset = datamod.ImageDataset | datamod.FolderStream


@dataclass(frozen=True)
class EvalResult:
    """Loss (plain cross-entropy), accuracy in [0, 1], and per-image predictions."""

    loss: float
    accuracy: float
    preds: torch.Tensor  # (N,) int64
    targets: torch.Tensor  # (N,) int64
    logits: torch.Tensor | None = None  # (N, num_classes) float32, when asked for


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    ds: Dataset,
    batch_size: int = 1024,
    *,
    channels_last: bool = False,
    amp: str = "none",
    device: Any = "cpu",
    tta: bool | str = False,
    keep_logits: bool = False,
) -> EvalResult:
    """Loss and accuracy of `model` (already on `device`) on all of `ds`, in eval mode.

    `tta` averages the logits of each image's test-time views (`tta_images`): true or "flip"
    with its mirror image, "shift" or "flip,shift" also moved one pixel each way;
    `keep_logits` also returns every image's logits (on the CPU).
    """
    views = tta_views(tta)
    fill = -torch.tensor(ds.mean) / torch.tensor(ds.std)  # a black pixel, normalised
    was_training = model.training
    model.eval()
    loss_sum, preds, kept = 0.0, [], []
    device = torch.device(device)
    for x, y in datamod.iterate_batches(
        ds, batch_size, shuffle=False, generator=None, device=device
    ):
        with autocast(amp, device.type):
            shown = tta_images(x, views, fill.to(x.device))
            logits = sum(model(to_model_input(v, channels_last)).float() for v in shown)
            logits = logits / len(shown)  # (B, num_classes)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        preds.append(logits.argmax(1))
        if keep_logits:
            kept.append(logits.cpu())
    model.train(was_training)
    preds_t = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)
    targets = ds.labels[: len(preds_t)].to(preds_t.device)
    n = max(len(targets), 1)
    return EvalResult(
        loss=loss_sum / n,
        accuracy=float((preds_t == targets).sum()) / n,
        preds=preds_t.cpu(),
        targets=targets.cpu(),
        logits=torch.cat(kept) if kept else None,
    )


def tta_images(x: torch.Tensor, views: tuple[str, ...], fill: torch.Tensor) -> list[torch.Tensor]:
    """The batch `x` (B, C, H, W, normalised) as `evaluate` shows it for `views` (see
    `convlens.values.tta_views`): itself, its mirror image ("flip"), and each of those moved
    one pixel up, down, left and right ("shift"), the uncovered edge `fill` (C,) (black, as
    the training crops pad)."""
    shown = [x, x.flip(3)] if "flip" in views else [x]
    if "shift" in views:
        shown += [_shifted(v, dy, dx, fill) for v in shown for dy, dx in SHIFTS]
    return shown


SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (rows, columns) a "shift" view moves the image


def _shifted(x: torch.Tensor, dy: int, dx: int, fill: torch.Tensor) -> torch.Tensor:
    """`x` moved `dy` rows down and `dx` columns right, the uncovered edge `fill` (C,)."""
    h, w = x.shape[-2:]
    out = fill.to(x.dtype).view(1, -1, 1, 1).expand_as(x).clone()
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def evaluate_with(
    model: nn.Module,
    ds: Dataset,
    config: TrainConfig,
    device: torch.device,
    *,
    batch_size: int | None = None,
    keep_logits: bool = False,
) -> EvalResult:
    """`evaluate` the way `config` tests after every epoch: its amp, channels_last, tta and
    eval batch size (training and `evaluate_run` both come through here)."""
    if config.keep_freed_memory:
        keep_freed_memory()
    return evaluate(
        model,
        ds,
        batch_size or config.eval_batch_size,
        device=device,
        channels_last=config.channels_last,
        amp=config.amp,
        tta=resolve(config).tta,
        keep_logits=keep_logits,
    )


@dataclass(frozen=True)
class Evaluation:
    """The result of evaluating a run on one split.

    Attributes:
        data: data set name; split: "test" or "train".
        classes: class names, index = label.
        probs: (N, K) float32 softmax probabilities.
        targets: (N,) true labels.
        loss: mean cross-entropy; accuracy: fraction correct.
    """

    data: str
    split: str
    classes: tuple[str, ...]
    probs: np.ndarray
    targets: np.ndarray
    loss: float

    @property
    def preds(self) -> np.ndarray:
        """(N,) predicted labels."""
        return self.probs.argmax(1)

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.targets).mean()) if len(self.targets) else 0.0

    @property
    def confusion(self) -> np.ndarray:
        """(K, K) counts: row = true class, column = predicted class."""
        k = len(self.classes)
        return np.bincount(self.targets * k + self.preds, minlength=k * k).reshape(k, k)

    def per_class(self) -> list[dict[str, float | int | str]]:
        """Precision, recall and F1 of each class, with its support (images in the split)."""
        cm = self.confusion
        rows: list[dict[str, float | int | str]] = []
        for i, name in enumerate(self.classes):
            tp, predicted, support = int(cm[i, i]), int(cm[:, i].sum()), int(cm[i].sum())
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append(
                {
                    "class": name,
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "support": support,
                }
            )
        return rows

    def most_confused(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The `k` largest off-diagonal cells: (true class, predicted class, count)."""
        cm = self.confusion.copy()
        np.fill_diagonal(cm, 0)
        order = np.argsort(cm, axis=None)[::-1][:k]
        pairs = [np.unravel_index(i, cm.shape) for i in order]
        return [(self.classes[t], self.classes[p], int(cm[t, p])) for t, p in pairs if cm[t, p]]

    def top_losses(self, k: int = 16) -> np.ndarray:
        """Indices of the `k` most confidently wrong images (highest loss first)."""
        p_true = self.probs[np.arange(len(self.targets)), self.targets]
        wrong = np.flatnonzero(self.preds != self.targets)
        return wrong[np.argsort(p_true[wrong], kind="stable")][:k]

    def to_dict(self) -> dict:
        return {
            "data": self.data,
            "split": self.split,
            "images": int(len(self.targets)),
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class": self.per_class(),
            "most_confused": [list(p) for p in self.most_confused()],
            "confusion": self.confusion.tolist(),
            "classes": list(self.classes),
        }

    def __repr__(self) -> str:
        return (
            f"Evaluation({self.data} {self.split}: {len(self.targets):,} images, accuracy "
            f"{self.accuracy:.2%}, loss {self.loss:.4f})"
        )

    def __str__(self) -> str:
        width = max(12, *(len(c) for c in self.classes))
        lines = [
            f"{self.data} {self.split}: {len(self.targets):,} images, accuracy "
            f"{self.accuracy:.2%}, loss {self.loss:.4f}",
            "",
            f"{'class':<{width}}  precision  recall     f1  support",
        ]
        for row in self.per_class():
            lines.append(
                f"{row['class']:<{width}}  {row['precision']:9.2%}  {row['recall']:6.2%}"
                f"  {row['f1']:5.3f}  {row['support']:7,}"
            )
        pairs = self.most_confused()
        if pairs:
            lines += ["", "most confused (true -> predicted: images)"]
            lines += [f"  {t} -> {p}: {n}" for t, p, n in pairs]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(str(r['class']))}</td><td>{r['precision']:.2%}</td>"
            f"<td>{r['recall']:.2%}</td><td>{r['f1']:.3f}</td><td>{r['support']:,}</td></tr>"
            for r in self.per_class()
        )
        return (
            f"<div><b>{esc(self.data)} {esc(self.split)}</b>: accuracy "
            f"<b>{self.accuracy:.2%}</b>, loss {self.loss:.4f}<table><tr><th>class</th>"
            f"<th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{rows}"
            f"</table></div>"
        )


def check_compatible(run: Run, ds: Dataset) -> None:
    """ModelError unless `ds` has the run's image shape and number of classes."""
    if tuple(ds.input_shape) != tuple(run.input_shape):
        shape = "x".join(map(str, ds.input_shape))
        want = "x".join(map(str, run.input_shape))
        raise ModelError(
            f"run {str(run.path)!r} expects {want} images; {ds.name} images are {shape}"
        )
    if ds.num_classes != len(run.classes):
        raise ModelError(
            f"run {str(run.path)!r} predicts {len(run.classes)} classes; "
            f"{ds.name} has {ds.num_classes}"
        )


def evaluate_run(
    run: Run | str | Path,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    batch_size: int | None = None,
    limit: int | None = None,
    device: str | None = None,
) -> Evaluation:
    """Evaluate a run on a split of its own data set (or of `data`), the way it was tested
    while training: its normalisation, amp, channels_last and tta.

    Args:
        run: a loaded `Run` or a run folder.
        data: data set name; default: the one the run was trained on.
        batch_size: default: the run's eval_batch_size.
        limit: evaluate only the first `limit` images (quick looks and tests).
        device: default: the run's own device setting where this machine has that device,
            else the best one here ("auto").
    """
    if not isinstance(run, Run):
        run = load_run(run)
    name = data or run.info.get("data") or run.config.data
    ds: Dataset = datamod.load_dataset(name, split, data_dir=data_dir or run.config.data_dir)
    check_compatible(run, ds)
    if limit is not None:
        ds = datamod.subset(ds, limit)
    if len(ds) == 0:
        raise DataError(f"{name} {split} has no images to evaluate")
    # The model saw images normalised with its own training statistics: use those.
    ds = dataclasses.replace(ds, mean=tuple(run.mean), std=tuple(run.std))
    cfg = run.config
    where = _device(device, cfg.device)
    # a copy: the run's model keeps its device and memory layout
    model = channels_last_model(copy.deepcopy(run.model).to(where), cfg.channels_last)
    result = evaluate_with(model, ds, cfg, where, batch_size=batch_size, keep_logits=True)
    assert result.logits is not None
    return Evaluation(
        data=name,
        split=split,
        classes=tuple(run.classes),
        probs=result.logits.softmax(1).numpy(),
        targets=result.targets.numpy().astype(np.int64),
        loss=result.loss,
    )


def _device(name: str | None, run_device: str) -> torch.device:
    if name is not None:
        return resolve_device(name)
    try:
        return resolve_device(run_device)
    except ConfigError:  # trained on a device this machine does not have
        return resolve_device("auto")


def save_evaluation(
    ev: Evaluation, run_dir: str | Path, folder: str | Path | None = None
) -> list[Path]:
    """Write eval JSON and the confusion matrix as CSV into the run folder, or into `folder`
    (e.g. when the run folder is read-only), atomically.

    Files are `eval.json` / `confusion.csv` for the run's own test split, otherwise
    `eval-<data>-<split>.json` / `confusion-<data>-<split>.csv`.
    """
    run_dir = Path(run_dir)
    where = Path(folder) if folder is not None else run_dir
    where.mkdir(parents=True, exist_ok=True)
    own = ev.split == "test" and _run_data(run_dir) == ev.data
    tag = "" if own else f"-{ev.data.replace(':', '_').replace('/', '_')}-{ev.split}"
    json_path, csv_path = where / f"eval{tag}.json", where / f"confusion{tag}.csv"
    atomic_write_json(json_path, ev.to_dict())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["true \\ predicted", *ev.classes])
    for name, row in zip(ev.classes, ev.confusion.tolist()):
        writer.writerow([name, *row])
    atomic_write_text(csv_path, buf.getvalue())
    return [json_path, csv_path]


def _run_data(run_dir: Path) -> str | None:
    return read_run_info(run_dir).get("data")
