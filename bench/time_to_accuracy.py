"""Time to accuracy on Fashion-MNIST: the notebook-004 loop versus convlens, in one run.

Rows (all measured in this run, on this machine):

1. baseline: notebook 004's plain PyTorch loop: its `Net`, torchvision's FashionMNIST with
   `ToTensor` and a `DataLoader` (batch 150, shuffled), Adam at its default lr, 5 epochs.
2. the same `Net` (`pytorch_net`) trained by convlens with the same optimizer, batch and
   epochs: in-memory uint8 tensors, no DataLoader, channels-last.
3. the default recipe (`convlens train` with no flags) and named recipes (`--recipes`,
   default `best,lean,tflop25`), each over `--seeds` seeds: seconds and training TFLOP to 91%,
   93% and 94% test accuracy, and the spread over the seeds.
4. the default recipe under a time budget (`--budgets`, default 1m and 2m): the accuracy it
   reached and how long its timing, training and evaluations took.

Training time excludes the evaluation after each epoch (both loops evaluate the same way).
Training compute is the model's mult-adds per image (`convlens summary`) x 6 (forward, and
two products backward, 2 FLOP each) x the training images seen; evaluation is not counted.
It does not depend on the processor, so recipes compare on it on a busy machine too.

    .venv/bin/python bench/time_to_accuracy.py            # the full table (about 1.5 hours quiet)
    .venv/bin/python bench/time_to_accuracy.py --seeds 1  # one seed per recipe
    .venv/bin/python bench/time_to_accuracy.py --quick    # a smoke run on 3,000 images
    .venv/bin/python bench/time_to_accuracy.py --only budget --budgets 1m,2m
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from machine import describe

from convlens import data as datamod
from convlens.config import TrainConfig, load_config_file, merge_config, recipe_file
from convlens.engine.loop import fit
from convlens.engine.runs import read_run_config
from convlens.engine.train import train as train_run
from convlens.errors import ConfigError
from convlens.models.build import build
from convlens.models.summary import summary

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
GOALS = (0.91, 0.93, 0.94)
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class NotebookNet(torch.nn.Module):
    """Notebook 004's `Net`, as written there (separate, not in-place ReLU modules)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=0)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=0)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3, padding=0)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(576, 64)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        x = self.dropout(self.relu4(self.fc1(self.flatten(x))))
        return self.fc2(x)


Rows = list[tuple[float, float, int, float]]  # per epoch: seconds so far, test accuracy,
# training images per epoch, training TFLOP so far


def train_tflop(model: torch.nn.Module, images: int) -> float:
    """Training TFLOP of `images` training images: mult-adds per image x 6."""
    return summary(model, (1, 28, 28)).total_mult_adds * 6 * images / 1e12


def baseline(epochs: int, limit: int | None, log) -> Rows:
    """Notebook 004's loop; returns a row per epoch (see `Rows`)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    root = Path(tempfile.mkdtemp(prefix="fmnist-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:  # torchvision reads the unpacked files of its raw/ folder
        (raw / name.removesuffix(".gz")).write_bytes(
            gzip.decompress((DEBIAN_DIR / name).read_bytes())
        )
    tf = transforms.Compose([transforms.ToTensor()])
    train = datasets.FashionMNIST(str(root), train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(str(root), train=False, download=False, transform=tf)
    if limit:
        train, test = Subset(train, range(limit)), Subset(test, range(min(limit, 10000)))
    train_loader = DataLoader(train, batch_size=150, shuffle=True)
    test_loader = DataLoader(test, batch_size=150, shuffle=False)
    torch.manual_seed(0)
    model = NotebookNet()
    per_image = train_tflop(model, 1)
    optimizer = torch.optim.Adam(model.parameters())
    rows, seconds = [], 0.0
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += int((model(x).argmax(1) == y).sum())
        rows.append(
            (seconds, correct / len(test), len(train), per_image * len(train) * (epoch + 1))
        )
        log(f"  baseline epoch {epoch + 1}: {seconds:.1f} s, test {correct / len(test):.2%}")
    shutil.rmtree(root, ignore_errors=True)
    return rows


def convlens_run(cfg: TrainConfig, limit: int | None, log) -> Rows:
    """Train with convlens's `fit`; returns a row per epoch (see `Rows`)."""
    train = datamod.load_dataset(cfg.data, "train")
    test = datamod.load_dataset(cfg.data, "test")
    if limit:
        train = dataclasses.replace(train, images=train.images[:limit], labels=train.labels[:limit])
        test = dataclasses.replace(test, images=test.images[:limit], labels=test.labels[:limit])
    if cfg.threads:  # as `convlens train` does (a recipe may name its threads)
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = build(cfg.model, (1, 28, 28), num_classes=10)
    per_image = train_tflop(model, 1)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    result = fit(model, train, test, cfg, log=lambda line: log("  " + line))
    rows, seconds, images = [], 0.0, 0
    for row in result.history:
        seconds += row["seconds"]
        images += round(row["images_per_second"] * row["seconds"])  # a last part epoch
        rows.append((seconds, row["test_accuracy"], len(train), per_image * images))
    return rows


def budget_run(cfg: TrainConfig, budget: str, limit: int | None, log) -> tuple[float, float, int]:
    """`convlens train --budget`: (seconds its timing, training and evaluations took, final
    test accuracy, steps)."""
    out = Path(tempfile.mkdtemp(prefix="budget-")) / "run"
    cfg = cfg.replace(budget=budget, out=str(out), record_filters="none")
    if limit:
        cfg = cfg.replace(limit_train=limit, limit_test=min(limit, 10000))
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        log("  " + line)

    try:
        result = train_run(cfg, log=keep)
    except ConfigError as exc:  # too short for this machine: the row says so
        log(f"  {exc}")
        return float("nan"), float("nan"), 0
    took = next(float(x.split(" took ")[1].split()[0]) for x in lines if " took " in x)
    steps = read_run_config(out).steps or 0
    shutil.rmtree(out.parent, ignore_errors=True)
    return took, result.history[-1]["test_accuracy"], steps


def time_to(rows: Rows, target: float) -> str:
    for seconds, acc, _, tflop in rows:
        if acc >= target:
            return f"{seconds:.0f} s {tflop:.1f} TF"
    return "not reached"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 images, 1 epoch each")
    parser.add_argument(
        "--recipe-epochs",
        type=int,
        default=None,
        help="epochs of the default recipe (default: its own)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default: 3)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds from this one on (default: 0)"
    )
    parser.add_argument(
        "--recipes",
        default="best,lean,tflop25",
        help="named recipes beside the default (default: best,lean,tflop25)",
    )
    parser.add_argument(
        "--budgets", default="1m,2m", help="time budgets of the default recipe (default: 1m,2m)"
    )
    parser.add_argument(
        "--only",
        help="only these rows, comma-separated: default, a recipe name, budget (no notebook "
        "baseline)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds = min(args.seeds, 1)
    if not DEBIAN_DIR.is_dir():
        raise SystemExit(f"needs the Debian package dataset-fashion-mnist ({DEBIAN_DIR})")
    limit, epochs = (3000, 1) if args.quick else (None, 5)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} CPUs")
    log = print
    only = set(args.only.split(",")) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or name in only

    base: Rows | None = None
    ours: Rows | None = None
    if not only:
        print("notebook 004 baseline (DataLoader + ToTensor, Adam, batch 150):")
        base = baseline(epochs, limit, log)
    same = TrainConfig(
        model="pytorch_net",
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        schedule="constant",
        label_smoothing=0.0,
        augment="none",
        batch_size=150,
        epochs=epochs,
        progress=False,
    )
    if not only:
        print("the same Net through convlens:")
        ours = convlens_run(same, limit, log)
    defaults = TrainConfig(progress=False)
    recipes = [("default recipe", defaults)] if wanted("default") else []
    for name in [r for r in args.recipes.split(",") if r and wanted(r)]:
        recipe = merge_config(defaults, load_config_file(recipe_file(name)))
        recipes.append((f"--recipe {name}", recipe))
    runs: list[tuple[str, Rows]] = []
    for name, recipe in recipes:
        if args.recipe_epochs or args.quick:
            recipe = recipe.replace(epochs=args.recipe_epochs or 1, steps=None)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            print(
                f"{name} ({recipe.model}, {recipe.optimizer} lr {recipe.lr:g}, "
                f"{recipe.schedule}, batch {recipe.batch_size}, {recipe.epochs} epochs, "
                f"seed {seed}):"
            )
            runs.append(
                (f"{name}, seed {seed}", convlens_run(recipe.replace(seed=seed), limit, log))
            )
    budgets: list[tuple[str, int, float, float, int]] = []
    if wanted("budget"):
        for budget in [b for b in args.budgets.split(",") if b]:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                print(f"default recipe, --budget {budget}, seed {seed}:")
                took, acc, steps = budget_run(defaults.replace(seed=seed), budget, limit, log)
                budgets.append((budget, seed, took, acc, steps))

    def ips(rows):
        return rows[-1][2] * len(rows) / rows[-1][0]

    def ratio(rows):
        return f"{ips(rows) / ips(base):.2f}x" if base else "-"

    table = [(name, rows, ratio(rows)) for name, rows in runs]
    if base and ours:
        table[:0] = [
            ("notebook 004 loop (baseline)", base, "1.00x"),
            ("same Net, convlens", ours, ratio(ours)),
        ]
    print()
    print(f"{describe(torch.get_num_threads())}, torch {torch.__version__}")
    if table:
        goals = " | ".join(f"to {g:.0%}" for g in GOALS)
        print(
            f"| {'run':<34} | epochs | train s | train TFLOP | images/s | vs baseline | "
            f"test acc | {goals} |"
        )
        print(
            f"|{'-' * 36}|--------|---------|------------:|----------|-------------|----------|"
            + "---|" * 3
        )
        for name, rows, ratio in table:
            reached = " | ".join(f"{time_to(rows, g):>6}" for g in GOALS)
            print(
                f"| {name:<34} | {len(rows):>6} | {rows[-1][0]:>7.0f} | {rows[-1][3]:>11.1f} | "
                f"{ips(rows):>8,.0f} | {ratio:>11} | {rows[-1][1]:>8.2%} | {reached} |"
            )
    for name, _ in recipes:  # the spread over the seeds: a goal met on one lucky seed is not met
        mine = [rows for label, rows in runs if label.startswith(name + ",")]
        for goal in GOALS:
            hits = [next(((t, f) for t, acc, _, f in rows if acc >= goal), None) for rows in mine]
            got = [h for h in hits if h is not None]
            spread = (
                f"{min(t for t, _ in got):.0f}-{max(t for t, _ in got):.0f} s, "
                f"{min(f for _, f in got):.1f}-{max(f for _, f in got):.1f} TFLOP"
                if got
                else "-"
            )
            print(f"{name}: {goal:.0%} reached by {len(got)} of {len(mine)} seeds ({spread})")
    if budgets:
        print()
        print("| default recipe | seed | steps | timing + training + evaluations | test acc |")
        print("|---|---:|---:|---:|---:|")
        for budget, seed, took, acc, steps in budgets:
            if not steps:
                print(f"| --budget {budget} | {seed} | too short here | | |")
                continue
            print(f"| --budget {budget} | {seed} | {steps:,} | {took:.0f} s | {acc:.2%} |")


if __name__ == "__main__":
    main()
