"""How often the learning-rate finder's suggestion trains as well as the best fixed lr.

For each model and data set: one sweep (`convlens.engine.lr_find`, 100 batches), the
suggestion of every rule (valley, steepest, min/10) read from that same sweep, then short
trainings (AdamW one-cycle, the default recipe otherwise) with each suggestion and with each
lr of a fixed grid. A suggestion "hits" when its test accuracy is within 1 point of the
best of the grid. Everything is measured in this run, on this machine.

    .venv/bin/python bench/lr_find.py            # the full table (about 15 minutes)
    .venv/bin/python bench/lr_find.py --quick    # a smoke run (about a minute)
"""

from __future__ import annotations

import argparse

import torch
from machine import describe

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine.loop import fit
from convlens.engine.lr_find import RULES, lr_find, suggest_lr
from convlens.models.build import build

CASES = (
    ("fastcnn", "fashion-mnist"),
    ("keras_mnist", "fashion-mnist"),
    ("mlp", "fashion-mnist"),
    ("fastcnn", "digits"),
    ("keras_mnist", "digits"),
    ("mlp", "digits"),
)
GRID = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def accuracy(cfg: TrainConfig, train, test) -> float:
    """Final test accuracy of a short training run with `cfg`."""
    torch.manual_seed(cfg.seed)
    model = build(cfg.model, train.input_shape, num_classes=train.num_classes)
    return fit(model, train, test, cfg, log=None).history[-1]["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 cases, small data, 2 grid lrs")
    args = parser.parse_args()
    cases, grid = (CASES[::3], GRID[1:4:2]) if args.quick else (CASES, GRID)
    print(f"{describe(torch.get_num_threads())}, torch {torch.__version__}")
    rows, hits = [], {rule: 0 for rule in RULES}
    for model, data in cases:
        train = datamod.load_dataset(data, "train")
        test = datamod.load_dataset(data, "test")
        big = len(train) > 20_000
        limit = 2_000 if args.quick else (12_000 if big else None)
        if limit:
            train, test = datamod.subset(train, limit), datamod.subset(test, min(limit, 5_000))
        epochs = 1 if args.quick else (2 if big else 8)
        cfg = TrainConfig(model=model, data=data, epochs=epochs, progress=False)
        torch.manual_seed(0)
        net = build(model, train.input_shape, num_classes=train.num_classes)
        found = lr_find(net, train, cfg, steps=30 if args.quick else 100)
        fixed = {lr: accuracy(cfg.replace(lr=lr), train, test) for lr in grid}
        best_lr = max(fixed, key=fixed.__getitem__)
        row = {"case": f"{model} / {data}", "sweep s": found.seconds, "best": (best_lr, fixed)}
        for rule in RULES:
            lr = suggest_lr(found.lrs, found.smoothed, rule)
            acc = accuracy(cfg.replace(lr=lr), train, test)
            hit = acc >= fixed[best_lr] - 0.01
            hits[rule] += hit
            row[rule] = (lr, acc, hit)
        rows.append(row)
        print(f"  {row['case']}: grid {', '.join(f'{k:g}: {v:.2%}' for k, v in fixed.items())}")

    print()
    head = " | ".join(f"{rule} lr, acc" for rule in RULES)
    print(f"| case | sweep s | best fixed lr, acc | {head} |")
    print("|" + "---|" * (3 + len(RULES)))
    for row in rows:
        best_lr, fixed = row["best"]
        cells = [
            f"{row[r][0]:.2g}, {row[r][1]:.2%}{' ok' if row[r][2] else ' MISS'}" for r in RULES
        ]
        print(
            f"| {row['case']} | {row['sweep s']:.1f} | {best_lr:g}, {fixed[best_lr]:.2%} | "
            + " | ".join(cells)
            + " |"
        )
    print()
    for rule in RULES:
        print(f"{rule}: within 1 point of the best fixed lr in {hits[rule]} of {len(rows)} cases")


if __name__ == "__main__":
    main()
