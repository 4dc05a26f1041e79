"""Tests of convlens.runs: atomic writes, safetensors checkpoints, safe state loading, load_run."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from convlens.config import TrainConfig
from convlens.data import ImageDataset
from convlens.engine import checkpoint, runs
from convlens.errors import CheckpointError


def net(width: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 3), nn.BatchNorm2d(width), nn.Flatten(), nn.Linear(width * 36, 3)
    )


def test_weights_roundtrip_and_bad_files(tmp_path):
    a, b = net(), net()
    checkpoint.save_weights(tmp_path / "w.safetensors", a)
    checkpoint.load_weights(b, tmp_path / "w.safetensors")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError,
        match=r"t\.safetensors' is truncated or not a "
        r"safetensors file$",
    ):
        checkpoint.load_weights(b, tmp_path / "t.safetensors")
    with pytest.raises(
        CheckpointError,
        match=r"from another architecture: shapes differ "
        r"\(checkpoint vs model\): 0\.weight \(4, 1, 3, 3\) "
        r"vs \(8, 1, 3, 3\)",
    ):
        checkpoint.load_weights(net(8), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"architecture: missing keys: 4\.weight, 4\.bias$"):
        checkpoint.load_weights(nn.Sequential(*net(), nn.Linear(3, 2)), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"architecture: unexpected keys: 1\.bias, "):
        checkpoint.load_weights(nn.Sequential(nn.Conv2d(1, 4, 3)), tmp_path / "w.safetensors")


class Evil:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_state_with_pickle_payload_is_refused(tmp_path):
    target = tmp_path / "pwned"
    with open(tmp_path / "state.pt", "wb") as f:
        torch.save({"epoch": 1, "x": Evil(str(target))}, f)
    with pytest.raises(
        CheckpointError,
        match="holds objects other than tensors and plain data; refusing to load it",
    ):
        checkpoint.load_state(tmp_path / "state.pt")
    assert not target.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Evil(str(target)), protocol=2))
    with pytest.raises(CheckpointError):
        checkpoint.load_state(raw)
    assert not target.exists()


def test_state_truncated_and_checksums(tmp_path):
    model = net()
    checkpoint.save_checkpoint(tmp_path, model, {"epoch": 1, "t": torch.arange(5)}, best=True)
    assert checkpoint.load_run_state(tmp_path)["epoch"] == 1
    state_file = checkpoint.checkpoint_file(tmp_path, "state")
    data = state_file.read_bytes()
    state_file.write_bytes(data[:40])
    with pytest.raises(CheckpointError, match="is truncated or corrupt$"):
        checkpoint.load_state(state_file)
    with pytest.raises(CheckpointError, match=r"state\.1\.pt' does not match its checksum"):
        checkpoint.load_run_state(tmp_path)
    weights = checkpoint.checkpoint_file(tmp_path, "last")
    w = bytearray(weights.read_bytes())
    w[-1] ^= 0xFF  # a flipped bit in the weights still parses as safetensors
    weights.write_bytes(bytes(w))
    with pytest.raises(
        CheckpointError, match=r"weights\.1\.safetensors' does not match its checksum"
    ):
        checkpoint.checkpoint_file(tmp_path, "best")


def test_manifest_names_the_generation_and_old_files_go(tmp_path):
    model = net()
    first = checkpoint.save_checkpoint(tmp_path, model, {"epoch": 1}, best=True)
    second = checkpoint.save_checkpoint(tmp_path, model, {"epoch": 2, "batch": 0}, best=False)
    raw = json.loads((tmp_path / checkpoint.MANIFEST).read_text())
    assert raw["generation"] == 2 and raw["epoch"] == 2 and raw["batch"] == 0
    assert raw["files"]["last"]["file"] == "weights.2.safetensors"
    assert raw["files"]["best"]["file"] == "weights.1.safetensors"  # epoch 1 stays the best
    assert raw["files"]["state"]["file"] == "state.2.pt"
    assert len(raw["files"]["last"]["sha256"]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.json",
        "state.2.pt",
        "weights.1.safetensors",
        "weights.2.safetensors",
    ]
    assert (first.generation, second.generation) == (1, 2)
    checkpoint.save_checkpoint(tmp_path, model, {"epoch": 3}, best=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.json",
        "state.3.pt",
        "weights.3.safetensors",
    ]


def test_a_manifest_pointing_outside_the_folder_is_refused(tmp_path):
    checkpoint.save_checkpoint(tmp_path, net(), {"epoch": 1}, best=True)
    raw = json.loads((tmp_path / checkpoint.MANIFEST).read_text())
    raw["files"]["last"]["file"] = "../../etc/passwd"
    (tmp_path / checkpoint.MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="does not name a convlens checkpoint's files"):
        checkpoint.read_manifest(tmp_path)
    (tmp_path / checkpoint.MANIFEST).write_text("{not json")
    with pytest.raises(CheckpointError, match="is not a readable checkpoint manifest"):
        checkpoint.read_manifest(tmp_path)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r"is not a run folder \(no run\.json\)"):
        runs.read_run_info(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        runs.read_run_info(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("keep")
    with pytest.raises(CheckpointError, match="exists and is not an empty folder"):
        runs.check_run_dir(tmp_path)
    assert (tmp_path / "x.txt").read_text() == "keep"


def test_create_run_and_load_run(tmp_path):
    spec = "conv 4 3, flatten, dense {num_classes}"
    from convlens.models.build import build

    torch.manual_seed(0)
    model = build(spec, (1, 8, 8), num_classes=3)
    ds = ImageDataset(
        "toy",
        torch.zeros(5, 1, 8, 8, dtype=torch.uint8),
        torch.zeros(5, dtype=torch.int64),
        ("a", "b", "c"),
        (0.5,),
        (0.25,),
    )
    config = TrainConfig(model=spec, data="toy", seed=3)
    runs.create_run(tmp_path / "r", config, model, ds)
    checkpoint.save_checkpoint(tmp_path / "r", model, {"epoch": 1}, best=True)
    checkpoint.write_metrics(tmp_path / "r", [{"epoch": 1, "test_accuracy": 0.5}])
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert set(info["versions"]) == {"python", "torch", "torchvision", "numpy", "convlens"}
    assert "git_commit" in info and info["seed"] == 3 and info["input_shape"] == [1, 8, 8]
    assert (tmp_path / "r" / "model.txt").read_text().strip() == model.spec_text
    run = runs.load_run(tmp_path / "r")
    assert run.classes == ("a", "b", "c") and run.mean == (0.5,) and run.std == (0.25,)
    assert run.config == config and run.weights == "best" and not run.model.training
    assert run.metrics == [{"epoch": 1, "test_accuracy": 0.5}]
    x = torch.rand(2, 1, 8, 8)
    model.eval()
    assert torch.equal(run.model(x), model(x))
    with pytest.raises(CheckpointError, match="already holds a run"):
        runs.check_run_dir(tmp_path / "r")
    assert runs.slug("conv 32 3, maxpool 2") == "conv-32-3-maxpool-2"


def test_write_for_run_falls_back_only_when_the_run_folder_is_read_only(tmp_path, monkeypatch):
    import errno

    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    wrote = []

    def write(folder):
        if folder == run:
            raise OSError(errno.EROFS, "Read-only file system")
        wrote.append(folder)
        return folder / "x"

    assert runs.write_for_run(run, write) == (Path("out/run/x"), Path("out/run"))
    assert runs.write_for_run(run, lambda folder: folder) == (run, None)

    def full(folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):  # a full disk is not read-only
        runs.write_for_run(run, full)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert runs.output_folder(run) == Path("out/run")


def test_run_lock_creates_the_folder_and_refuses_a_second_holder(tmp_path):
    out = tmp_path / "a" / "b"
    with runs.run_lock(out, create=True):
        assert (out / runs.LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(
            CheckpointError, match=rf"in use by another training \(process {os.getpid()}\)"
        ):
            runs.check_run_dir(out)
        with pytest.raises(CheckpointError, match="in use by another training"):
            with runs.run_lock(out):
                pass
    with runs.run_lock(out):  # let go: the next one gets it
        pass
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="exists and is not an empty folder"):
        with runs.run_lock(out, create=True):
            pass
    assert (out / "notes.txt").read_text() == "mine"


def test_resuming_a_finished_run_says_so(cli, tiny_run):
    result = cli("train", "--resume", tiny_run[0], "--no-progress")
    assert result.code == 0 and "has already finished (3 epochs); nothing to train" in result.out
