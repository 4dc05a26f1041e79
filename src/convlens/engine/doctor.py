"""The training doctor: notices common mistakes and says, in one line each, what to do.

Checks (each message names what it saw and a remedy):
- accuracy at chance level after the first epoch;
- inputs that were not normalised (pixel values far outside a few units reach layer 1);
- loss rising or oscillating (learning rate too high), or not moving (too low, dead ReLUs);
- a large gap between train and test accuracy, two epochs running (overfitting);
- a layer whose activations are all zero on a test batch (dead units);
- a run that stopped on an error (NaN loss, full disk, ...) or before its first checkpoint.

`Doctor` is a training callback (on by default in `convlens train`, it prints each finding
once and keeps them in RUN/doctor.json and in the checkpoint, so a resumed run does not
repeat them); `examine(run)` checks a finished run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlens import data as datamod
from convlens import errors
from convlens.engine.callbacks import Callback, TrainState
from convlens.engine.checkpoint import has_checkpoint, plain_module
from convlens.engine.prepare import prepare
from convlens.engine.runs import Run, load_run, read_run_info, resume_hint, start_again
from convlens.engine.saving import read_failure
from convlens.io import atomic_write_json
from convlens.models.hooks import capture_activations

DOCTOR_FILE = "doctor.json"
GAP = 0.10  # train minus test accuracy that counts as overfitting
TEST_BATCH = 256  # test images the model is checked on
RAW_INPUT = 20.0  # |input| above this means pixels were not normalised


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a short code and the one-line message."""

    code: str
    message: str


def check_history(
    history: list[dict[str, Any]], num_classes: int, *, schedule: str | None = None
) -> list[Finding]:
    """Diagnoses from the per-epoch metrics alone (`schedule`: the run's, so a run that uses
    one-cycle is not told to try it)."""
    found: list[Finding] = []
    onecycle = schedule == "onecycle"
    if not history:
        return found
    chance = 1.0 / max(num_classes, 1)
    first = history[0]
    if first["test_accuracy"] <= chance + 0.02 and first["train_accuracy"] <= chance + 0.05:
        found.append(
            Finding(
                "chance",
                (
                    f"accuracy {first['test_accuracy']:.1%} after epoch 1 is chance level for "
                    f"{num_classes} classes: the model learns nothing; check that inputs are "
                    "normalised "
                    f"and labels match images, and try a smaller --lr (or --optimizer adam)"
                ),
            )
        )
    losses = [m["train_loss"] for m in history]
    if len(losses) >= 2 and losses[-1] > losses[0] * 1.05:
        found.append(
            Finding(
                "loss-rising",
                (
                    f"training loss rose from {losses[0]:.3f} to {losses[-1]:.3f}: the learning "
                    f"rate is too high; try --lr {history[0]['lr'] / 10:.2g}"
                    + ("" if onecycle else " or a one-cycle schedule (--schedule onecycle)")
                ),
            )
        )
    elif (
        len(losses) >= 3
        and any(b > a * 1.05 for a, b in zip(losses[1:], losses[2:]))
        and any(b < a for a, b in zip(losses[1:], losses[2:]))
    ):
        found.append(
            Finding(
                "loss-oscillating",
                (
                    "training loss goes up and down between epochs: the learning rate is probably "
                    "too high; try a smaller --lr" + ("" if onecycle else " or --schedule onecycle")
                ),
            )
        )
    if (
        len(losses) >= 2
        and abs(losses[-1] - losses[0]) < 0.01 * max(losses[0], 1e-9)
        and history[-1]["test_accuracy"] <= chance + 0.05
    ):
        found.append(
            Finding(
                "loss-flat",
                (
                    f"training loss has not moved ({losses[0]:.3f} -> {losses[-1]:.3f}): the "
                    "learning "
                    f"rate may be too low or the ReLUs dead; try a larger --lr or batch norm (bn=1)"
                ),
            )
        )
    last = history[-1]
    gap = last["train_accuracy"] - last["test_accuracy"]
    # on the epoch before too: one epoch's dip (one-cycle's peak learning rate) is no trend
    if all(row["train_accuracy"] - row["test_accuracy"] > GAP for row in history[-2:]):
        found.append(
            Finding(
                "overfitting",
                (
                    f"train accuracy {last['train_accuracy']:.1%} is {gap:.0%} above test accuracy "
                    f"{last['test_accuracy']:.1%}: the model overfits; try --augment crop,flip, "
                    f"dropout, --weight-decay, or --early-stopping 2"
                ),
            )
        )
    return found


def check_input(x: torch.Tensor) -> list[Finding]:
    """Diagnoses from one batch as it reaches the first layer."""
    top = float(x.abs().max())
    if top > RAW_INPUT:
        return [
            Finding(
                "not-normalised",
                (
                    f"inputs reach {top:.0f} at the first layer: pixels were not normalised (0-255 "
                    "instead of about -2..2); leave normalisation on (the default; "
                    "--normalize none turns it off), or give the data set its mean and std"
                ),
            )
        ]
    return []


@torch.inference_mode()
def check_dead_layers(model: nn.Module, x: torch.Tensor) -> list[Finding]:
    """Layers (conv/linear blocks with an activation) whose outputs are all zero on `x`."""
    model = plain_module(model)
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU)) and name
    ]
    outputs = capture_activations(model, x, names)
    dead = [name.rsplit(".", 1)[0] for name, out in outputs.items() if not out.any()]
    if dead:
        also = f" (also {', '.join(dead[1:])})" if len(dead) > 1 else ""
        return [
            Finding(
                "dead-units",
                (
                    f"layer {dead[0]} outputs only zeros on a test batch{also}: its ReLUs are "
                    "dead; "
                    f"try a smaller --lr, batch norm (bn=1) or act=leaky_relu"
                ),
            )
        ]
    return []


def input_batch(
    run: Run | datamod.ImageDataset | datamod.FolderStream,
    ds: datamod.ImageDataset | datamod.FolderStream,
) -> torch.Tensor:
    """The model's input (N, C, H, W) for the first TEST_BATCH images of `ds`, prepared the
    one way (`convlens.engine.prepare`) with the statistics of `run` (a run or its data)."""
    return prepare(run, list(range(min(TEST_BATCH, len(ds)))), dataset=ds).x


class Doctor(Callback):
    """Watch a training run; print each finding once and keep them in doctor.json."""

    def __init__(
        self,
        run_dir: str | Path | None,
        test_batch: torch.Tensor,
        num_classes: int,
        log: Callable[[str], None] | None = print,
    ) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self.test_batch, self.num_classes, self.log = test_batch, num_classes, log
        self.findings: dict[str, Finding] = {}
        self._input_checked = False

    @classmethod
    def for_data(
        cls,
        run_dir: str | Path | None,
        test_ds: datamod.ImageDataset | datamod.FolderStream,
        log: Callable[[str], None] | None = print,
    ) -> Doctor:
        """A doctor that checks the model on the first images of `test_ds`."""
        return cls(run_dir, input_batch(test_ds, test_ds), test_ds.num_classes, log=log)

    def on_batch_start(self, state: TrainState, x: torch.Tensor) -> None:
        if not self._input_checked:
            self._input_checked = True
            self._report(check_input(x))

    def on_epoch_end(self, state: TrainState) -> None:
        found = check_history(state.history, self.num_classes, schedule=state.config.schedule)
        found += check_dead_layers(state.model, self.test_batch.to(state.device))
        self._report(found)

    def state_dict(self) -> dict[str, Any]:
        return {
            "input_checked": self._input_checked,
            "findings": [[f.code, f.message] for f in self.findings.values()],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._input_checked = bool(state_dict["input_checked"])
        self.findings = {code: Finding(code, message) for code, message in state_dict["findings"]}

    def _report(self, found: list[Finding]) -> None:
        new = [f for f in found if f.code not in self.findings]
        for f in new:
            self.findings[f.code] = f
            if self.log:
                self.log(f"doctor: {f.message}")
        if new and self.run_dir is not None:
            atomic_write_json(
                self.run_dir / DOCTOR_FILE,
                [{"code": f.code, "message": f.message} for f in self.findings.values()],
            )


def check_failure(run_dir: str | Path) -> list[Finding]:
    """Why a run stopped, from its failure record, whether it has a checkpoint, and what to do
    next, in the words `train` used (convlens's own errors carry their advice)."""
    found, failure = [], read_failure(run_dir)
    started = has_checkpoint(run_dir)
    advised = failure is not None and _ours(str(failure.get("error")))
    if failure is not None:
        kept = (
            "its last checkpoint is kept" if started else "it stopped before its first checkpoint"
        )
        kept += f"; resume with: {resume_hint(run_dir)}" if started and not advised else ""
        found.append(
            Finding(
                "failed",
                f"the run stopped on an error {failure.get('where', '')} "
                f"({failure.get('error', 'error')}: {failure['message']}); {kept}",
            )
        )
    if not started:
        found.append(
            Finding(
                "not-started",
                "the run has no checkpoint (no epoch ended: it failed, or was stopped or "
                "killed in epoch 1)" + ("" if advised else f"; {start_again(run_dir)}"),
            )
        )
    return found


def _ours(error: str) -> bool:
    """Whether a recorded error is one of convlens's own (their messages say what to do)."""
    kind = getattr(errors, error, None)
    return isinstance(kind, type) and issubclass(kind, errors.ConvlensError)


def examine(run_dir: str | Path, *, trust_code: bool = False) -> list[Finding]:
    """Check a run folder: why it stopped, its metrics and its model on a test batch
    (`trust_code`: see `convlens.engine.runs.load_run`)."""
    read_run_info(run_dir)
    found = check_failure(run_dir)
    if not has_checkpoint(run_dir):
        return found
    run = load_run(run_dir, weights="last", trust_code=trust_code)
    found += check_history(run.metrics, len(run.classes), schedule=run.config.schedule)
    try:
        ds = datamod.load_dataset(run.info["data"], "test", data_dir=run.config.data_dir)
        x = input_batch(run, ds)
        found += check_input(x) + check_dead_layers(run.model, x)
    except Exception:  # noqa: BLE001  the metrics alone still say something
        pass
    return found
