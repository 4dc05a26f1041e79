"""A run that knows its time budget: `plan_budget` times the first batches and the end of an
epoch, then fixes how many optimizer steps fit.

`convlens train --budget 2m` (TrainConfig.budget) trains on a copy of the model for a few
steps (the run's weights, data order and random state stay untouched), times an evaluation
of part of the test set and a checkpoint's writes, and picks the largest step count whose
training plus one epoch end (evaluation and checkpoint) per epoch, the last possibly a part
of one, ends within the budget, less a margin for a busier moment. The learning-rate
schedule runs over exactly those steps; the run's config records them in `steps`, so a
resume or a rerun from its folder trains the same steps without timing again and ends
bitwise the same.

The budget counts the timing, the steps and the evaluations; loading the data and building
the model come before it starts (the CLI prints how long the whole run took).
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convlens import data as datamod
from convlens.config import TrainConfig, parse_budget
from convlens.engine.checkpoint import save_checkpoint, write_metrics
from convlens.engine.distributed import all_sum, current
from convlens.engine.evaluate import Dataset, evaluate_with
from convlens.engine.loop import (
    augmentation,
    batch_loss,
    check_setup,
    ready_model,
    steps_per_epoch,
    to_device,
)
from convlens.engine.optim import make_optimizer
from convlens.engine.precision import to_model_input
from convlens.errors import ConfigError

__all__ = ["BudgetPlan", "plan_budget", "steps_that_fit", "SAFETY"]

SAFETY = 0.9  # of the budget left after the timing: checkpoints, the doctor, a busier moment
WARMUP_STEPS = 2  # first steps allocate and pick kernels: slower than the rest, not timed
TIMED_STEPS = 8  # at most; fewer when they would take over TIMING_SHARE of the budget
TIMING_SHARE = 0.05
# What an epoch's end costs beyond the timed evaluation and files (the loop's callbacks, log
# line, metrics row, a new batch order): measured 20-30 ms on a 2-core Xeon with a toy model
# of 6 steps an epoch, where a 4 s budget planned 187 epochs and took 6 s without it.
EPOCH_OVERHEAD = 0.05
EVAL_IMAGES = 512  # test images of the timed evaluation (a 2m budget on a busy 2-core
# machine spent 21 s timing, most of it two evaluations of 1,024 images with test-time flip)


@dataclass(frozen=True)
class BudgetPlan:
    """The steps a budget allows and what they were derived from (seconds)."""

    budget: float
    steps: int
    step_seconds: float
    epoch_end_seconds: float
    timing_seconds: float
    timed_steps: int

    def describe(self, batches_per_epoch: int) -> str:
        """One line for the log: what was timed and what it decided."""
        epochs = self.steps / batches_per_epoch
        return (
            f"budget {self.budget:g} s: {self.steps:,} steps ({epochs:.2f} epochs) at "
            f"{self.step_seconds * 1000:.0f} ms per step and {self.epoch_end_seconds:.1f} s "
            f"per evaluation and checkpoint (timed on {self.timed_steps} steps in "
            f"{self.timing_seconds:.1f} s)"
        )


def steps_that_fit(seconds: float, step_s: float, eval_s: float, per_epoch: int) -> int:
    """The most steps n with n * step_s + ceil(n / per_epoch) * eval_s <= seconds (0: none)."""

    def cost(n: int) -> float:
        return n * step_s + math.ceil(n / per_epoch) * eval_s

    low, high = 0, max(int(seconds / step_s), 0) + 1  # cost(low) fits, cost(high) does not
    while high - low > 1:  # the cost only grows with n
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid) <= seconds else (low, mid)
    return low


def plan_budget(
    model: nn.Module, train_ds: Dataset, test_ds: Dataset, cfg: TrainConfig
) -> BudgetPlan:
    """Time steps, an evaluation and a checkpoint on a copy of `model` and fix the steps
    `cfg.budget` allows. ConfigError when not even one step and one epoch end fit."""
    budget = parse_budget(cfg.budget)
    start = time.perf_counter()
    device = check_setup(cfg)
    fork: dict[str, Any] = {"device_type": device.type} if device.type != "cpu" else {"devices": []}
    with torch.random.fork_rng(**fork):  # the run's random state is not drawn from
        trial = ready_model(copy.deepcopy(model), cfg, device)
        step_s, timed, optimizer = _time_steps(trial, train_ds, cfg, device, budget * TIMING_SHARE)
        eval_s = (
            _time_evaluation(trial, test_ds, cfg, device)
            + _time_epoch_files(trial, optimizer)
            + EPOCH_OVERHEAD
        )
    timing = time.perf_counter() - start
    world = current()
    if world.size > 1:  # every process must train the same steps: the mean of their timings
        step_s, eval_s, timing = (t / world.size for t in all_sum([step_s, eval_s, timing], device))
    per_epoch = steps_per_epoch(len(train_ds), cfg.batch_size)
    steps = steps_that_fit((budget - timing) * SAFETY, step_s, eval_s, per_epoch)
    if steps < 1:
        need = math.ceil((timing + (step_s + eval_s) / SAFETY) * 1.5)
        raise ConfigError(
            f"budget {cfg.budget} is too short: one step, one evaluation and a checkpoint take "
            f"{step_s + eval_s:.1f} s here (after {timing:.1f} s of timing); give at least "
            f"{need}s or a smaller model, batch or test set"
        )
    return BudgetPlan(budget, steps, step_s, eval_s, timing, timed)


def _time_steps(
    model: nn.Module, train_ds: Dataset, cfg: TrainConfig, device: torch.device, share: float
) -> tuple[float, int, torch.optim.Optimizer]:
    """Seconds per training step (the mean of up to TIMED_STEPS after the warm-up ones),
    how many were timed, and the optimizer (its state is what a checkpoint saves)."""
    model.train()
    optimizer = make_optimizer(model, cfg)
    batches = datamod.iterate_batches(
        to_device(train_ds, device),
        cfg.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(cfg.seed),
        augment=augmentation(cfg),
        drop_last=len(train_ds) >= cfg.batch_size,
        device=device,
    )
    times: list[float] = []
    for i, (x, y) in enumerate(_cycle(batches, train_ds, cfg, device)):
        began = time.perf_counter()
        x = to_model_input(x, cfg.channels_last)
        _, loss = batch_loss(model, x, y, cfg, device.type)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the device
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - began)
        if len(times) >= TIMED_STEPS or (len(times) >= 2 and sum(times) > share):
            break
    return sum(times) / len(times), len(times), optimizer


def _cycle(batches: Any, train_ds: Dataset, cfg: TrainConfig, device: torch.device) -> Any:
    """The batches of `batches`, then again from the start (a data set of a few batches)."""
    while True:
        yield from batches
        batches = datamod.iterate_batches(
            to_device(train_ds, device),
            cfg.batch_size,
            shuffle=False,
            generator=None,
            drop_last=len(train_ds) >= cfg.batch_size,
            device=device,
        )


def _time_evaluation(
    model: nn.Module, test_ds: Dataset, cfg: TrainConfig, device: torch.device
) -> float:
    """Seconds for one evaluation of `test_ds`, from an evaluation of its first (at most)
    EVAL_IMAGES after a warm-up on a few, scaled by the number of images (smaller batches
    than the run's make it an over-estimate, on the safe side)."""
    part = datamod.subset(test_ds, min(len(test_ds), cfg.eval_batch_size, EVAL_IMAGES))
    evaluate_with(model, datamod.subset(test_ds, min(len(test_ds), 32)), cfg, device)
    began = time.perf_counter()
    evaluate_with(model, part, cfg, device)
    return (time.perf_counter() - began) * len(test_ds) / len(part)


def _time_epoch_files(model: nn.Module, optimizer: torch.optim.Optimizer) -> float:
    """Seconds for what an epoch's end writes, timed on the real writers into a scratch
    folder: a checkpoint generation (weights, the optimizer's state, the manifest, their
    fsyncs and the clean-up of the generation before) and the metrics files. The second of
    two generations is timed (the first has nothing to clean up); on a tiny model these
    fixed costs, not the steps, are most of an epoch."""
    state = {"epoch": 1, "batch": 0, "optimizer": optimizer.state_dict(), "history": []}
    row = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0}
    with tempfile.TemporaryDirectory(prefix="convlens-budget-") as folder:
        save_checkpoint(folder, model, state, best=True)
        began = time.perf_counter()
        save_checkpoint(folder, model, {**state, "epoch": 2}, best=True)
        write_metrics(folder, [row, {**row, "epoch": 2}])
        return time.perf_counter() - began
