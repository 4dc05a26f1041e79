"""Many processes through torchrun, and device selection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from convlens.engine.checkpoint import checkpoint_file
from convlens.engine.distributed import World, resolve_device, shard
from convlens.errors import ConfigError

SPEC = "conv 8 3, maxpool 2, flatten, dense {num_classes}"


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="Expected device one of auto, cpu, cuda, mps"):
        resolve_device("tpu")


def test_shards_cover_the_global_batch():
    x = torch.arange(12)
    parts = [shard(x, World(rank, 3, rank)) for rank in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(12))
    assert all(len(p) == 4 for p in parts)


def _train_args(data_dir, out) -> list[str]:
    return [
        "train",
        "--model",
        SPEC,
        "--data",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--epochs",
        "2",
        "--batch-size",
        "40",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--schedule",
        "constant",
        "--augment",
        "none",
        "--amp",
        "none",
        "--no-channels-last",
        "--record-filters",
        "none",
        "--no-progress",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tiny_run, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not found next to the interpreter")
    from convlens.cli import main

    data_dir = tiny_run[1]
    assert main(_train_args(data_dir, tmp_path / "one")) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "convlens",
            *_train_args(data_dir, tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("epoch 2/2") == 1  # only rank 0 logs
    one, two = (load_file(str(checkpoint_file(tmp_path / d))) for d in ("one", "two"))
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-5)
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    assert m1[-1]["test_accuracy"] == pytest.approx(m2[-1]["test_accuracy"], abs=0.01)
    assert m1[-1]["train_loss"] == pytest.approx(m2[-1]["train_loss"], rel=1e-3)


def test_cifar10_gpu_recipe_runs_on_cpu_with_tiny_data(tmp_path):
    import numpy as np

    from convlens.cli import main

    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (8, 3073), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, 8)
        (folder / name).write_bytes(records.tobytes())
    code = main(
        [
            "train",
            "--recipe",
            "cifar10_gpu",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--amp",
            "none",
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "tta: true" in saved and "label_smoothing: 0.2" in saved
