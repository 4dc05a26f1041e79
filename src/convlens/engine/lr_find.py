"""The learning-rate finder: a short exponential sweep of the learning rate on a copy of the
model (Smith 2015, "Cyclical learning rates"; fastai's `lr_find`, Lightning's `Tuner`).

One optimizer step per batch, the lr growing by the same factor every step from `start_lr` to
`end_lr`; the loss of each step is smoothed (an exponential moving average with bias
correction) and the sweep stops early when that passes `DIVERGE` times its best so far; the
curve the rules read is a centred moving average (no lag). The suggestion comes from a
named rule (`RULES`):

- "min/10" (the default): a tenth of the lr at the smallest smoothed loss;
- "valley": fastai's rule, the lr halfway (in steps) along the longest decreasing run of the
  smoothed loss;
- "steepest": where the smoothed loss falls fastest (per factor of lr), before its minimum.

min/10 is the default because it came closest in `bench/lr_find.py` (within 1 point of the best
fixed lr in 2 of 6 model/data cases; valley and steepest in 0 of 6: both suggest lrs 3-30x
too small for a one-cycle schedule).

`bench/lr_find.py` measures how often each suggestion trains as well as the best lr of a
small sweep; the README has the numbers. The caller's model, the RNG state and the data are
left as they were.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.evaluate import Dataset
from convlens.engine.loop import augmentation, batch_loss, check_setup
from convlens.engine.optim import make_optimizer
from convlens.engine.precision import channels_last_model, to_model_input
from convlens.errors import ConfigError

__all__ = ["LRFindResult", "RULES", "RULE_NAMES", "lr_find", "suggest_lr", "smooth", "centred"]

RULES = ("min/10", "valley", "steepest")
RULE_NAMES = {
    "valley": "valley: halfway along the longest fall of the smoothed loss",
    "steepest": "steepest: where the smoothed loss falls fastest",
    "min/10": "min/10: the lr of the smallest smoothed loss, divided by 10",
}
DIVERGE = 4.0  # stop when the smoothed loss passes this many times its best
BETA = 0.9  # running average that watches for a blow-up (fastai's 0.98 lags too far behind)
HALF_WINDOW = 4  # the curve and the rules use a centred average of 9 steps

Log = Callable[[str], None]


@dataclass(frozen=True)
class LRFindResult:
    """One sweep: lrs and losses per step, the suggestion and the rule that chose it.

    Attributes:
        lrs: the learning rate of each step, growing exponentially.
        losses: the training loss of each step (cross-entropy with the config's smoothing).
        smoothed: `losses` smoothed (a centred moving average of 9 steps).
        suggestion: the suggested learning rate (one of `lrs`).
        rule: the rule that chose it, one of `RULES`; `RULE_NAMES[rule]` says it in words.
        start_lr, end_lr: the sweep's planned range.
        diverged: the sweep stopped early because the loss blew up.
        seconds: how long the sweep took.
        model, data: what was swept (names, for the picture's title).
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    rule: str
    start_lr: float
    end_lr: float
    diverged: bool
    seconds: float
    model: str = ""
    data: str = ""

    @property
    def rule_text(self) -> str:
        """The rule in words."""
        return RULE_NAMES[self.rule]


def check_sweep(start_lr: float, end_lr: float, steps: int, rule: str) -> None:
    """ConfigError naming the bad value of a sweep's settings."""
    for key, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"Expected {key} a finite number > 0. Received: {key}={value!r}")
    if end_lr <= start_lr:
        raise ConfigError(
            f"Expected end_lr > start_lr. Received: start_lr={start_lr:g}, end_lr={end_lr:g}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 5:
        raise ConfigError(f"Expected steps an integer >= 5. Received: steps={steps!r}")
    if rule not in RULES:
        raise ConfigError(f"Expected rule one of {', '.join(RULES)}. Received: rule={rule!r}")


def lr_find(
    model: nn.Module,
    train_ds: Dataset,
    config: TrainConfig,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    rule: str = "min/10",
    log: Log | None = None,
) -> LRFindResult:
    """Sweep the lr over `steps` batches of `train_ds` on a copy of `model`.

    The config gives the optimizer, weight decay, batch size, label smoothing, augmentation,
    precision and device (its lr and schedule are replaced by the sweep). The data is
    cycled when it has fewer batches than `steps`.
    """
    check_sweep(start_lr, end_lr, steps, rule)
    device = check_setup(config)
    net = channels_last_model(copy.deepcopy(model), config.channels_last).to(device)
    net.train()
    optimizer = make_optimizer(net, config.replace(lr=start_lr))
    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    augment = augmentation(config)
    lrs: list[float] = []
    losses: list[float] = []
    diverged = False
    start = time.perf_counter()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the caller's RNG stream stays as it was
        torch.manual_seed(config.seed)
        for step, (x, y) in enumerate(_batches(train_ds, config, augment, device, steps)):
            lr = start_lr * factor**step
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = to_model_input(x, config.channels_last)  # (B, C, H, W)
            _, loss = batch_loss(net, x, y, config, device.type)
            value = loss.item()
            if not math.isfinite(value):
                diverged = True
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lrs.append(lr)
            losses.append(value)
            smoothed = smooth(losses)
            if step >= 5 and smoothed[-1] > DIVERGE * min(smoothed):
                diverged = True
                break
    if len(lrs) < 5:
        raise ConfigError(
            f"the loss blew up after {len(lrs)} steps of the lr sweep from {start_lr:g}; "
            f"use a smaller start_lr"
        )
    smoothed = centred(losses)
    result = LRFindResult(
        lrs,
        losses,
        smoothed,
        suggest_lr(lrs, smoothed, rule),
        rule,
        start_lr,
        end_lr,
        diverged,
        time.perf_counter() - start,
        model=config.model,
        data=config.data,
    )
    if log is not None:
        log(
            f"lr-find: suggested lr {result.suggestion:.3g} ({RULE_NAMES[rule]}); swept "
            f"{lrs[0]:.3g} to {lrs[-1]:.3g} over {len(lrs)} batches in {result.seconds:.1f} s"
            + (" (stopped: the loss blew up)" if diverged else "")
        )
    return result


def _batches(
    ds: Dataset, cfg: TrainConfig, augment: Any, device: torch.device, steps: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` training batches, cycling over the data set with a new order each pass."""
    done, epoch = 0, 0
    while done < steps:
        generator = torch.Generator().manual_seed(cfg.seed * 7919 + epoch)
        for x, y in datamod.iterate_batches(
            ds,
            cfg.batch_size,
            shuffle=True,
            generator=generator,
            augment=augment,
            drop_last=len(ds) >= cfg.batch_size,
            device=device,
        ):
            yield x, y
            done += 1
            if done >= steps:
                return
        epoch += 1


def centred(losses: list[float], half: int = HALF_WINDOW) -> list[float]:
    """Moving average over `half` steps each side (fewer at the ends): no lag, unlike
    the running average, so the suggestion sits where the loss really falls."""
    out = []
    for i in range(len(losses)):
        window = losses[max(0, i - half) : i + half + 1]
        out.append(sum(window) / len(window))
    return out


def smooth(losses: list[float], beta: float = BETA) -> list[float]:
    """Exponential moving average of `losses`, bias-corrected (the first value is exact)."""
    out, avg = [], 0.0
    for i, value in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * value
        out.append(avg / (1 - beta**i))
    return out


def suggest_lr(lrs: list[float], smoothed: list[float], rule: str) -> float:
    """The lr a rule of `RULES` picks from a sweep (always one of `lrs`)."""
    if rule not in RULES:
        raise ConfigError(f"Expected rule one of {', '.join(RULES)}. Received: rule={rule!r}")
    n = len(lrs)
    best = min(range(n), key=smoothed.__getitem__)
    if rule == "min/10":
        target = lrs[best] / 10
        return min(lrs, key=lambda lr: abs(math.log(lr / target)))
    if rule == "steepest":
        if best < 2:
            return lrs[best]
        # slope per step = per constant factor of lr: the steepest fall before the minimum
        slopes = [smoothed[i + 1] - smoothed[i - 1] for i in range(1, best)]
        return lrs[1 + min(range(len(slopes)), key=slopes.__getitem__)]
    # valley (fastai): the longest decreasing run of the smoothed loss, 2/3 of the way down
    run = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if smoothed[i] < smoothed[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[max_end] < run[i]:
                max_end, max_start = i, i - run[i]
    sections = (max_end - max_start) / 3
    return lrs[min(n - 1, max_start + int(sections) + int(sections / 2))]
