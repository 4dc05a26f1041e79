"""Sweeps (grid, seeds, reuse) and transfer learning (init from a run, freeze)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from convlens.engine.checkpoint import checkpoint_file
from convlens.engine.sweep import combinations, parse_grid
from convlens.engine.transfer import freeze_layers, init_from_run
from convlens.errors import ConfigError
from convlens.models.build import build

TEMPLATE = "conv {f} 3, maxpool 2, flatten, dense {num_classes}"


def test_grid_parsing_and_errors():
    grid = parse_grid(["f=4,8", "batch-size=32,64"])
    assert grid == {"f": ["4", "8"], "batch_size": ["32", "64"]}
    assert len(combinations(TEMPLATE, grid)) == 4
    with pytest.raises(
        ConfigError, match="grid key 'btch_size' is neither .*did you mean 'batch_size'"
    ):
        combinations(TEMPLATE, parse_grid(["f=4", "btch-size=3"]))
    with pytest.raises(ConfigError, match="the model has \\{f\\} but --grid gives no values"):
        combinations(TEMPLATE, parse_grid(["lr=0.1"]))
    with pytest.raises(ConfigError, match="Expected --grid KEY=V1,V2"):
        parse_grid(["f"])


def test_sweep_with_seeds_and_reuse(cli, tiny_run, tmp_path):
    args = (
        "sweep",
        "--model",
        TEMPLATE,
        "--grid",
        "f=2,6",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--data",
        "mnist",
        "--data-dir",
        tiny_run[1],
        "--limit-test",
        "150",
        "--out",
        tmp_path / "sw",
        "--no-progress",
    )
    result = cli(*args)
    assert result.code == 0, result
    configs = list((tmp_path / "sw").glob("*/config.yaml"))
    assert len(configs) == 4 and all("limit_test: 150" in c.read_text() for c in configs)
    rows = [ln for ln in result.out.splitlines() if ln.startswith("| f=")]
    assert len(rows) == 2 and all("(2)" in r for r in rows)  # mean and spread of 2 seeds
    accs = [float(r.split("|")[2].strip().rstrip("%")) for r in rows]
    assert accs == sorted(accs, reverse=True)
    assert len(list((tmp_path / "sw").glob("f-*_seed-*"))) == 4
    assert (tmp_path / "sw" / "sweep.csv").read_text().startswith("run,accuracy,spread")
    again = cli(*args)
    assert again.code == 0 and "epoch 1/1" not in again.out  # finished runs are reused
    other = cli(*[a if a != "1" else "2" for a in args])  # same folders, 2 epochs
    assert other.code == 2 and "holds a run with other settings" in other.err


def test_init_from_a_run_with_a_new_head_and_frozen_convs(tiny_run):
    model = build(
        "conv 8 3 pad=same, maxpool 2, conv 16 3 pad=same, maxpool 2, flatten, dense 3",
        (1, 28, 28),
        num_classes=3,
    )
    lines = []
    loaded = init_from_run(model, tiny_run[0], log=lines.append)
    source = load_file(str(checkpoint_file(tiny_run[0], "best")))
    assert "conv1.0.weight" in loaded and not any(k.startswith("dense1") for k in loaded)
    assert torch.equal(model.state_dict()["conv2.0.weight"], source["conv2.0.weight"])
    assert lines == [f"init from {tiny_run[0]}: loaded conv1, conv2; new: dense1"]
    assert freeze_layers(model, "conv") == ["conv1", "conv2"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "dense1.0.weight",
        "dense1.0.bias",
    ]


def test_train_from_a_run_keeps_frozen_layers(cli, tiny_run, tmp_path):
    out = tmp_path / "ft"
    result = cli(
        "train",
        "--model",
        "conv 8 3 pad=same, maxpool 2, conv 16 3 pad=same, maxpool 2, flatten, dense {num_classes}",
        "--data",
        "mnist",
        "--data-dir",
        tiny_run[1],
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--init-from",
        tiny_run[0],
        "--freeze",
        "conv1",
        "--no-progress",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "init from" in result.out and "frozen: conv1" in result.out
    before = load_file(str(checkpoint_file(tiny_run[0], "best")))
    after = load_file(str(checkpoint_file(out, "last")))
    assert torch.equal(before["conv1.0.weight"], after["conv1.0.weight"])
    assert not torch.equal(before["conv2.0.weight"], after["conv2.0.weight"])


def test_an_interrupted_sweep_run_resumes(tiny_run, tmp_path):
    from convlens.config import TrainConfig
    from convlens.engine import train as training
    from convlens.engine.runs import load_run
    from convlens.engine.sweep import config_for, sweep

    base = TrainConfig(
        data="mnist",
        data_dir=str(tiny_run[1]),
        epochs=2,
        batch_size=50,
        augment="none",
        progress=False,
        record_filters="none",
        doctor=False,
    )
    combo = {"f": "4"}
    first = config_for(base, TEMPLATE, combo, 0, tmp_path / "sw")

    class StopAfterOneEpoch(training.Callback):
        def on_epoch_end(self, state):
            raise KeyboardInterrupt  # like Ctrl-C: a checkpoint is saved, then it stops

    with pytest.raises(training.TrainingInterrupted):
        training.train(first, callbacks=[StopAfterOneEpoch()], log=None)
    assert len(load_run(first.out, weights="last").metrics) == 1
    results = sweep(TEMPLATE, {"f": ["4"]}, base, tmp_path / "sw", log=None)
    assert len(results) == 1 and len(results[0].curve) == 2  # resumed, not restarted
    # the run's folder and its training accuracy per epoch come with the result
    assert Path(results[0].path) == Path(first.out)
    trained = load_run(results[0].path, weights="last").metrics
    assert results[0].train_curve == tuple(m["train_accuracy"] for m in trained)
