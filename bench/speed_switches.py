"""Each speed switch against the plain float32 path, measured in the same run.

Trains one epoch of a Fashion-MNIST subset per row through convlens's `fit` (the path
`convlens train` takes) and reports images per second of training (evaluation excluded);
rows alternate over `--repeats` rounds and the best round counts, so that other load on the
machine hurts every row alike.

    .venv/bin/python bench/speed_switches.py            # fastcnn and the notebooks' Net
    .venv/bin/python bench/speed_switches.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.loop import fit
from convlens.engine.precision import channels_last_model
from convlens.models.build import build

PLAIN = {"amp": "none", "channels_last": False, "fused_optimizer": False}
ROWS = (
    ("plain float32", {}),
    ("+ channels-last", {"channels_last": True}),
    ("+ fused optimizer", {"fused_optimizer": True}),
    ("+ bfloat16 autocast", {"amp": "bf16"}),
    ("all of them", {"channels_last": True, "fused_optimizer": True, "amp": "bf16"}),
)
MODELS = (("fastcnn", 256, "adamw"), ("keras_mnist", 150, "adam"))


def images_per_second(cfg: TrainConfig, train, test) -> float:
    torch.manual_seed(0)
    model = channels_last_model(build(cfg.model, (1, 28, 28), num_classes=10), cfg.channels_last)
    return fit(model, train, test, cfg, log=None).history[-1]["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images, one round")
    parser.add_argument("--images", type=int, default=15_000, help="training images per row")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    n, repeats = (1_000, 1) if args.quick else (args.images, args.repeats)
    train = datamod.subset(datamod.load_dataset("fashion-mnist", "train"), n)
    test = datamod.subset(datamod.load_dataset("fashion-mnist", "test"), 500)
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n:,} images per row"
    )
    print("| model | switches | images/s | vs plain |")
    print("|---|---|---:|---:|")
    for model, batch, optimizer in MODELS:
        base = TrainConfig(
            model=model, batch_size=batch, optimizer=optimizer, epochs=1, progress=False, **PLAIN
        )
        best = {name: 0.0 for name, _ in ROWS}
        for _ in range(repeats):
            for name, switches in ROWS:
                speed = images_per_second(base.replace(**switches), train, test)
                best[name] = max(best[name], speed)
        for name, _ in ROWS:
            ratio = best[name] / best[ROWS[0][0]]
            print(f"| {model} (batch {batch}) | {name} | {best[name]:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
