"""Each speed switch against the plain float32 path, measured in the same run.

Every row trains short bursts (`--steps` batches of a Fashion-MNIST subset, one `fit` epoch,
the path `convlens train` takes) and counts images per second of training (evaluation
excluded). The rows take turns, burst by burst (A, B, C, A, B, C, ...), for `--rounds` rounds
after one warm-up round, and the median burst counts: other load on the machine then hurts
every row alike.

    .venv/bin/python bench/speed_switches.py            # fastcnn and the notebooks' Net
    .venv/bin/python bench/speed_switches.py --model keras_mnist --rounds 15
    .venv/bin/python bench/speed_switches.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from typing import Any

import torch
from machine import describe

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.loop import fit
from convlens.engine.precision import channels_last_model
from convlens.models.build import build

PLAIN = {
    "amp": "none",
    "channels_last": False,
    "fused_optimizer": False,
    "relu_after_pool": False,
}
# (row, start from "plain" float32 or convlens's "defaults", switches changed on top)
ROWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("plain float32", "plain", {}),
    ("+ channels-last", "plain", {"channels_last": True}),
    ("+ fused optimizer", "plain", {"fused_optimizer": True}),
    ("+ ReLU after max-pool", "plain", {"relu_after_pool": True}),
    (
        "float32, all of them",
        "plain",
        {"channels_last": True, "fused_optimizer": True, "relu_after_pool": True},
    ),
    ("+ bfloat16 autocast", "plain", {"amp": "bf16"}),
    ("bfloat16 autocast + channels-last", "plain", {"amp": "bf16", "channels_last": True}),
    ("convlens defaults", "defaults", {}),
    ("defaults without ReLU after max-pool", "defaults", {"relu_after_pool": False}),
    ("defaults without fused optimizer", "defaults", {"fused_optimizer": False}),
)
MODELS = {"fastcnn": (256, "adamw"), "keras_mnist": (150, "adam")}


def burst(cfg: TrainConfig, train: Any, test: Any) -> float:
    """Images per second of one short `fit` epoch of `cfg` on `train`."""
    torch.manual_seed(0)
    model = channels_last_model(build(cfg.model, (1, 28, 28), num_classes=10), cfg.channels_last)
    return fit(model, train, test, cfg, log=None).history[-1]["images_per_second"]


def interleaved(
    configs: Sequence[TrainConfig], train: Any, test: Any, rounds: int
) -> list[list[float]]:
    """Images/s of every config, one burst each per round in turn; round 0 is a warm-up."""
    speeds: list[list[float]] = [[] for _ in configs]
    for r in range(rounds + 1):
        for i, cfg in enumerate(configs):
            speed = burst(cfg, train, test)
            if r:
                speeds[i].append(speed)
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 steps a burst, 2 rounds")
    parser.add_argument("--model", choices=sorted(MODELS), help="one model (default: both)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per burst")
    parser.add_argument("--rounds", type=int, default=9, help="bursts per row")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, rounds = (5, 2) if args.quick else (args.steps, args.rounds)
    full_train = datamod.load_dataset("fashion-mnist", "train")
    test = datamod.subset(datamod.load_dataset("fashion-mnist", "test"), 256)
    print(
        f"{describe(torch.get_num_threads())}, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.2f} at the start; {steps} steps a burst, median of {rounds}"
    )
    print("| model | switches | images/s (median) | min-max | vs plain |")
    print("|---|---|---:|---:|---:|")
    for model in [args.model] if args.model else list(MODELS):
        batch, optimizer = MODELS[model]
        train = datamod.subset(full_train, steps * batch)
        common = dict(model=model, batch_size=batch, optimizer=optimizer, epochs=1)
        common.update(progress=False, doctor=False, record_filters="none")
        base = TrainConfig(**common, **PLAIN)  # type: ignore[arg-type]
        defaults = TrainConfig(**common)  # type: ignore[arg-type]
        configs = [
            (defaults if start == "defaults" else base).replace(**switches)
            for _, start, switches in ROWS
        ]
        speeds = interleaved(configs, train, test, rounds)
        plain = statistics.median(speeds[0])
        for (name, _, _), row in zip(ROWS, speeds):
            mid = statistics.median(row)
            print(
                f"| {model} (batch {batch}, {optimizer}) | {name} | {mid:,.0f} | "
                f"{min(row):,.0f}-{max(row):,.0f} | {mid / plain:.2f}x |"
            )


if __name__ == "__main__":
    main()
