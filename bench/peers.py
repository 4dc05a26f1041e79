"""The notebooks' network trained by the tools people would pick instead, and by convlens.

The network of notebooks 000/004 (`keras_mnist`: three valid 3x3 convs 32-64-64, two max-pools,
dense 64, 93,322 parameters), Fashion-MNIST, batch 150, Adam (lr 1e-3), 2 epochs, written the
way a user of each tool would: Keras 3 `model.fit` on arrays (TensorFlow backend), a
Lightning `Trainer` with a `DataLoader`, a fastai `Learner`; then convlens in float32 and with
its defaults (bfloat16 autocast where native, channels-last; each row's share of the limit is
of the precision it ran in). Each run is a subprocess (the
peers in the venv `make bench-peers` makes, convlens in this one), `--repeats` times, in one
run; the table gives images/s of training (evaluation excluded), test accuracy, peak resident
memory, achieved GFLOP/s and how they compare with the machine's limit, measured here by a
large float32 and bfloat16 matmul.

    make bench-peers                                          # creates bench/.peers-venv first
    .venv/bin/python bench/peers.py --peers-python bench/.peers-venv/bin/python
    .venv/bin/python bench/peers.py --quick                   # 3,000 images, 1 epoch
    .venv/bin/python bench/peers.py --only convlens           # no peers venv needed
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe

DATA = Path("/usr/share/datasets/fashion-mnist")
# MACs of one image's forward pass: conv1 26*26*32*9, conv2 11*11*64*32*9, conv3 3*3*64*64*9,
# dense 576*64 + 64*10; a training step is about 3x the forward (forward, two backward
# products), 2 FLOP per MAC: 16.8 MFLOP per image.
MACS = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 32 * 9 + 3 * 3 * 64 * 64 * 9 + 576 * 64 + 64 * 10
TRAIN_FLOP = 6 * MACS
TOOLS = ("keras", "lightning", "fastai", "convlens-float32", "convlens-defaults")


def load(split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels of a Fashion-MNIST split (Debian's files)."""
    prefix = "train" if split == "train" else "t10k"
    raw = gzip.decompress((DATA / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    raw = gzip.decompress((DATA / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
    labels = np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)
    return images[:limit], labels[:limit]


# ----------------------------------------------------------------------------- the workers
def run_keras(epochs: int, limit: int | None) -> tuple[float, float, str]:
    import keras
    from keras import layers

    (x, y), (xt, yt) = load("train", limit), load("test", limit)
    x, xt = (x[..., None] / 255.0).astype("float32"), (xt[..., None] / 255.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=150, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, float(model.evaluate(xt, yt, batch_size=1000, verbose=0)[1]), "float32"


def torch_net():  # the same network in PyTorch (notebook 004's Net without its dropout)
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def tensors(limit: int | None):
    import torch

    (x, y), (xt, yt) = load("train", limit), load("test", limit)

    def as_float(a):
        return torch.from_numpy(a[:, None].astype("float32") / 255.0)

    return as_float(x), torch.from_numpy(y), as_float(xt), torch.from_numpy(yt)


def accuracy(model, xt, yt) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(xt).argmax(1) == yt).float().mean())


def run_lightning(epochs: int, limit: int | None) -> tuple[float, float, str]:
    import lightning as L
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    x, y, xt, yt = tensors(limit)

    class Net(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            images, labels = batch
            return F.cross_entropy(self(images), labels)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    L.seed_everything(0, verbose=False)
    model = Net()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(TensorDataset(x, y), batch_size=150, shuffle=True)
    start = time.perf_counter()
    trainer.fit(model, loader)
    seconds = time.perf_counter() - start
    return seconds, accuracy(model, xt, yt), "float32"


def run_fastai(epochs: int, limit: int | None) -> tuple[float, float, str]:
    import fastai.callback.progress  # noqa: F401  (adds Learner.no_bar, as `fastai.vision.all` does)
    import torch
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.optimizer import Adam
    from torch.utils.data import TensorDataset

    x, y, xt, yt = tensors(limit)
    torch.manual_seed(0)
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(xt, yt), bs=150, device="cpu")
    learn = Learner(dls, torch_net(), loss_func=CrossEntropyLossFlat(), opt_func=Adam)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit(epochs, lr=1e-3)  # fastai validates after each epoch: counted, as users see it
    seconds = time.perf_counter() - start
    return seconds, accuracy(learn.model, xt, yt), "float32"


def run_convlens(epochs: int, limit: int | None, defaults: bool) -> tuple[float, float, str]:
    """convlens's `fit`; the precision it ran in: "auto" is float32 where the processor has
    no native bfloat16 (`convlens.engine.precision.amp_dtype`)."""
    import torch

    from convlens import data as datamod
    from convlens.config import TrainConfig
    from convlens.engine.loop import fit
    from convlens.engine.precision import amp_dtype, channels_last_model
    from convlens.models.build import build

    cfg = TrainConfig(
        model="keras_mnist",
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        schedule="constant",
        label_smoothing=0.0,
        augment="none",
        batch_size=150,
        epochs=epochs,
        progress=False,
        amp="auto" if defaults else "none",
    )
    train, test = (
        datamod.load_dataset("fashion-mnist", "train"),
        datamod.load_dataset("fashion-mnist", "test"),
    )
    if limit:
        train, test = datamod.subset(train, limit), datamod.subset(test, limit)
    torch.manual_seed(0)
    model = channels_last_model(build(cfg.model, (1, 28, 28), num_classes=10), cfg.channels_last)
    history = fit(model, train, test, cfg, log=None).history
    precision = "bfloat16" if amp_dtype(cfg.amp) is torch.bfloat16 else "float32"
    return sum(h["seconds"] for h in history), history[-1]["test_accuracy"], precision


def worker(tool: str, epochs: int, limit: int | None) -> None:
    """Train with one tool and print one JSON line."""
    runners = {
        "keras": lambda: run_keras(epochs, limit),
        "lightning": lambda: run_lightning(epochs, limit),
        "fastai": lambda: run_fastai(epochs, limit),
        "convlens-float32": lambda: run_convlens(epochs, limit, defaults=False),
        "convlens-defaults": lambda: run_convlens(epochs, limit, defaults=True),
    }
    seconds, acc, precision = runners[tool]()
    n = len(load("train", limit)[1]) * epochs
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": seconds,
                "images": n,
                "acc": acc,
                "mb": peak_mb,
                "precision": precision,
            }
        )
    )


def matmul_limit() -> dict[str, float]:
    """GFLOP/s of a large float32 and bfloat16 matmul: what these cores can do at best."""
    import torch

    out = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * 2048**3 / best / 1e9
    return out


# ----------------------------------------------------------------------------- the table
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--peers-python", default="bench/.peers-venv/bin/python")
    parser.add_argument("--only", help="comma-separated tools to run (default: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3,000 images, 1 epoch, 1 repeat")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    limit, epochs, repeats = (3000, 1, 1) if args.quick else (None, args.epochs, args.repeats)
    if args.worker:
        worker(args.worker, epochs, limit)
        return
    tools = args.only.split(",") if args.only else list(TOOLS)
    limits = matmul_limit()
    print(
        f"{describe()}; matmul limit {limits['float32']:.0f} GFLOP/s float32, "
        f"{limits['bfloat16']:.0f} GFLOP/s bfloat16"
    )
    results: dict[str, list[dict]] = {t: [] for t in tools}
    for _ in range(repeats):  # alternate the tools, so load on the machine hurts all alike
        for tool in tools:
            python = sys.executable if tool.startswith("convlens") else args.peers_python
            cmd = [python, __file__, "--worker", tool, "--epochs", str(epochs)]
            cmd += ["--quick"] if args.quick else []
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
            if done.returncode or not lines:
                print(f"  {tool}: failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            results[tool].append(json.loads(lines[-1]))
            r = results[tool][-1]
            print(f"  {tool}: {r['images'] / r['seconds']:,.0f} img/s, test {r['acc']:.2%}")
    keras = results.get("keras") or []
    keras_ips = max((r["images"] / r["seconds"] for r in keras), default=None)
    print()
    print("| tool | images/s (best of runs) | test acc | peak MB | GFLOP/s | of limit | vs Keras |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tool, runs in results.items():
        if not runs:
            print(f"| {tool} | failed | | | | | |")
            continue
        ips = max(r["images"] / r["seconds"] for r in runs)
        gflops = ips * TRAIN_FLOP / 1e9
        # the limit of the precision the tool ran in: the defaults run in float32 where the
        # processor has no native bfloat16 (a bfloat16 limit of ~0 there made it "19471%")
        limit_name = runs[0].get("precision", "float32")
        vs = f"{ips / keras_ips:.2f}x" if keras_ips else "-"
        accs = "/".join(f"{r['acc']:.2%}" for r in runs)
        print(
            f"| {tool} | {ips:,.0f} | {accs} | {max(r['mb'] for r in runs):,.0f} | "
            f"{gflops:.0f} | {gflops / limits[limit_name]:.0%} {limit_name} | {vs} |"
        )


if __name__ == "__main__":
    main()
