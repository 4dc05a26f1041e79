"""(Not named profile.py: that would hide the standard library's `profile` module.)

Where a training step's time goes: torch.profiler over a few steps of `convlens train`'s
own step (the default path: bfloat16 autocast where native, channels-last, fused optimizer,
ReLU after max-pool), top ops by self CPU time.

    .venv/bin/python bench/profile_step.py                              # fastcnn, the default
    .venv/bin/python bench/profile_step.py --model keras_mnist --batch-size 150 --optimizer adam
    .venv/bin/python bench/profile_step.py --amp none --no-relu-after-pool --threads 1
    .venv/bin/python bench/profile_step.py --quick                      # a smoke run
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from machine import describe
from torch.profiler import ProfilerActivity, profile

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.optim import make_optimizer
from convlens.engine.precision import autocast, channels_last_model, to_model_input
from convlens.models.build import build
from convlens.models.layers import SpecModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fastcnn")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--optimizer", default="adamw")
    parser.add_argument("--amp", default="auto")
    on = argparse.BooleanOptionalAction
    parser.add_argument("--channels-last", action=on, default=True)
    parser.add_argument("--fused-optimizer", action=on, default=True)
    parser.add_argument("--relu-after-pool", action=on, default=True)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 steps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        model=args.model,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        amp=args.amp,
        channels_last=args.channels_last,
        fused_optimizer=args.fused_optimizer,
        relu_after_pool=args.relu_after_pool,
    )
    steps = 3 if args.quick else args.steps
    train = datamod.load_dataset("fashion-mnist", "train")
    batches = datamod.iterate_batches(
        train, cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    data = [next(batches) for _ in range(steps + 2)]
    torch.manual_seed(0)
    model = channels_last_model(build(cfg.model, (1, 28, 28), num_classes=10), cfg.channels_last)
    if isinstance(model, SpecModel):  # as `fit` does
        model.relu_after_pool = cfg.relu_after_pool
    optimizer = make_optimizer(model, cfg)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        x = to_model_input(x, cfg.channels_last)  # (B, 1, 28, 28)
        with autocast(cfg.amp):
            logits = model(x).float()  # (B, 10)
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for x, y in data[:2]:  # warm-up: oneDNN picks its kernels on the first calls
        step(x, y)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for x, y in data[2:]:
            step(x, y)
        seconds = time.perf_counter() - start
    print(f"{describe(torch.get_num_threads())}, torch {torch.__version__}")
    print(
        f"{cfg.model}, batch {cfg.batch_size}, {cfg.optimizer}, amp {cfg.amp}, channels-last "
        f"{cfg.channels_last}, fused optimizer {cfg.fused_optimizer}, ReLU after max-pool "
        f"{cfg.relu_after_pool}: {steps} steps, "
        f"{1000 * seconds / steps:.1f} ms a step under the profiler, "
        f"{steps * cfg.batch_size / seconds:,.0f} img/s"
    )
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    print("| op | self CPU ms per step | share |\n|---|---:|---:|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        ms = e.self_cpu_time_total / 1000 / steps
        print(f"| {e.key} | {ms:.2f} | {e.self_cpu_time_total / total:.1%} |")


if __name__ == "__main__":
    main()
