"""Crash safety of run folders: a checkpoint is saved as one unit, old folders still load,
stray files are cleaned, runs that never reached a checkpoint can be started again.

The helpers here (`Faults`, `legacy_folder`, `mnist_files`, `subprocess_train`) are also
used by tests/test_hostile.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from convlens.engine import checkpoint, loop, runs, train
from convlens.engine.callbacks import Callback
from convlens.errors import CheckpointError

from conftest import TOY_SPEC, blob_digits, install_toy_data, toy_config, write_idx

SPEC = TOY_SPEC


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def toy_data(monkeypatch):
    install_toy_data(monkeypatch)


cfg = toy_config


class Killed(BaseException):
    """What SIGKILL does at that moment: the process is gone, nothing after it runs."""


class StopAfterEpoch(Callback):
    """Stop (as Ctrl-C does, with a checkpoint) when `epoch` epochs are done."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


class Faults:
    """Count the file operations of checkpoint saves (writes, the folder fsync, deletions);
    at operation `at`, die: 'before' it, or 'during' it (a write leaves its temp file half
    written; another operation is done, then the process dies). Once dead, every later file
    operation of a save dies too."""

    def __init__(self, monkeypatch, at: int | None = None, mode: str = "before") -> None:
        self.at, self.mode, self.count, self.fired = at, mode, 0, False
        real_write, real_remove = checkpoint.atomic_write_bytes, checkpoint._remove
        real_fsync = checkpoint._fsync_folder

        def write(path, data):
            if self._due():
                if self.mode == "during":
                    half = Path(path).parent / f".{Path(path).name}.deadbeef.tmp"
                    half.write_bytes(data[: len(data) // 2])
                raise self._die()
            real_write(path, data)

        def other(real):
            def op(*args):
                if self._due():
                    if self.mode == "during":
                        real(*args)
                    raise self._die()
                real(*args)

            return op

        monkeypatch.setattr(checkpoint, "atomic_write_bytes", write)
        monkeypatch.setattr(checkpoint, "atomic_write_text", lambda p, t: write(p, t.encode()))
        monkeypatch.setattr(
            checkpoint, "atomic_write_json", lambda p, o: write(p, json.dumps(o).encode())
        )
        monkeypatch.setattr(checkpoint, "_remove", other(real_remove))
        monkeypatch.setattr(checkpoint, "_fsync_folder", other(real_fsync))

    def _due(self) -> bool:
        if self.fired:
            raise Killed
        self.count += 1
        return self.count - 1 == self.at

    def _die(self) -> Killed:
        self.fired = True
        return Killed()


def kill_points(operations: int) -> list[tuple[int, str]]:
    """Every moment of `operations` file operations: before each one and during each one."""
    return [(at, mode) for at in range(operations) for mode in ("before", "during")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def legacy_folder(run_dir: Path) -> None:
    """Turn a run folder's checkpoint into the layout of convlens before manifests:
    model.safetensors, best.safetensors, state.pt and checksums.json."""
    manifest, data, _ = checkpoint.read_checkpoint(run_dir, ("last", "best", "state"))
    sums = {}
    for role, name in (("last", "model.safetensors"), ("best", "best.safetensors")):
        (run_dir / name).write_bytes(data[role])
        sums[name] = sha(data[role])
    (run_dir / "state.pt").write_bytes(data["state"])
    sums["state.pt"] = sha(data["state"])
    for name, _ in manifest.files.values():
        (run_dir / name).unlink(missing_ok=True)
    (run_dir / checkpoint.MANIFEST).unlink()
    (run_dir / "checksums.json").write_text(json.dumps(sums))


def files_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def mnist_files(root: Path) -> Path:
    """Tiny real-format 'mnist' files (4 classes used) that a subprocess can train on."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", 128, 0), ("t10k", 64, 1)):
        images, labels = blob_digits(n, seed)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def mnist_args(data_dir: Path, out: Path, epochs: int = 6) -> list[str]:
    return [
        "train",
        "--model",
        "conv 4 3 pad=same, maxpool 2, flatten, dense {num_classes}",
        "--data",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--augment",
        "none",
        "--no-progress",
        "--no-doctor",
        "--threads",
        "1",
        "--out",
        str(out),
    ]


def subprocess_train(args: list[str], cwd: Path) -> subprocess.Popen:
    """`convlens ARGS` in a new Python process (stdout and stderr piped)."""
    env = {**os.environ, "CONVLENS_OFFLINE": "1", "PYTHONPATH": str(Path(runs.__file__).parents[2])}
    return subprocess.Popen(
        [sys.executable, "-m", "convlens", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ----------------------------------------------------------------------------- the save itself
def net(value: float) -> nn.Module:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


@pytest.mark.parametrize("layout", ["manifest", "legacy"])
@pytest.mark.parametrize("best", [True, False], ids=["new-best", "same-best"])
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_checkpoint(
    tmp_path, monkeypatch, layout, best
):
    base = tmp_path / "base"
    base.mkdir()
    checkpoint.save_checkpoint(base, net(1.0), {"epoch": 1}, best=True)
    checkpoint.save_checkpoint(base, net(2.0), {"epoch": 2}, best=False)
    if layout == "legacy":
        legacy_folder(base)
    old = {r: sha(d) for r, d in checkpoint.read_checkpoint(base, ("last", "best"))[1].items()}
    new_last = sha(checkpoint.weights_bytes(net(3.0)))
    shutil.copytree(base, tmp_path / "count")
    count = Faults(monkeypatch)  # no kill: count the operations of one save
    checkpoint.save_checkpoint(tmp_path / "count", net(3.0), {"epoch": 3}, best=best)
    operations = count.count
    monkeypatch.undo()
    assert operations >= 4  # weights, state, manifest, folder fsync (+ deletions)
    for at, mode in kill_points(operations):
        folder = tmp_path / f"{at}-{mode}"
        shutil.copytree(base, folder)
        faults = Faults(monkeypatch, at, mode)
        with pytest.raises(Killed):
            checkpoint.save_checkpoint(folder, net(3.0), {"epoch": 3}, best=best)
        monkeypatch.undo()
        manifest, data, _ = checkpoint.read_checkpoint(folder, ("last", "best", "state"))
        state = checkpoint.load_state(folder / "state", data["state"])
        got = {r: sha(data[r]) for r in ("last", "best")}
        if state["epoch"] == 2:  # the kill came before the new manifest
            assert got == old, (at, mode)
        else:
            assert state["epoch"] == 3 and got["last"] == new_last, (at, mode)
            assert got["best"] == (new_last if best else old["best"]), (at, mode)
        assert faults.fired
        # the next save cleans what the killed one left behind
        checkpoint.save_checkpoint(folder, net(4.0), {"epoch": 4}, best=False)
        named = {f for f, _ in checkpoint.read_manifest(folder).files.values()}
        assert set(files_of(folder)) == named | {checkpoint.MANIFEST}, (at, mode)


def test_a_legacy_run_folder_loads_resumes_and_is_converted(tmp_path):
    straight = tmp_path / "straight"
    train.train(cfg(out=str(straight)), log=None)
    old = tmp_path / "old"
    with pytest.raises(loop.TrainingInterrupted):
        train.train(cfg(out=str(old)), callbacks=[StopAfterEpoch(2)], log=None)
    legacy_folder(old)
    assert {"model.safetensors", "best.safetensors", "state.pt", "checksums.json"} <= set(
        files_of(old)
    )
    assert runs.load_run(old).weights == "best" and checkpoint.load_run_state(old)["epoch"] == 2
    train.resume(old, log=None)
    assert not {"model.safetensors", "state.pt", "checksums.json"} & set(files_of(old))
    last = (checkpoint.checkpoint_file(d).read_bytes() for d in (old, straight))
    assert next(last) == next(last)


def test_readers_follow_the_manifest_while_a_save_replaces_it(tmp_path, monkeypatch):
    checkpoint.save_checkpoint(tmp_path, net(1.0), {"epoch": 1}, best=True)
    real_read = Path.read_bytes
    saved = []

    def read_then_save(path):  # a training saves between the reader's manifest and file
        if path.name.startswith("weights.") and not saved:
            saved.append(checkpoint.save_checkpoint(tmp_path, net(2.0), {"epoch": 2}, best=True))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_then_save)
    manifest, data, paths = checkpoint.read_checkpoint(tmp_path, ("last",))
    assert manifest.generation == 2 and paths["last"].name == "weights.2.safetensors"
    assert sha(data["last"]) == sha(checkpoint.weights_bytes(net(2.0)))


def test_a_run_stopped_before_its_first_checkpoint_can_be_started(cli, tmp_path):
    class Boom(Callback):
        def on_batch_end(self, state):
            if state.step == 3:
                raise RuntimeError("power cut")

    out = tmp_path / "r"
    with pytest.raises(RuntimeError, match="power cut"):
        train.train(cfg(out=str(out)), callbacks=[Boom()], log=None)
    assert not checkpoint.has_checkpoint(out) and (out / "run.json").is_file()
    with pytest.raises(CheckpointError, match="has no checkpoint: the run stopped before"):
        runs.load_run(out)
    r = cli("doctor", out)
    assert (
        r.code == 0
        and "stopped on an error in epoch 1 after batch 3 (RuntimeError: power cut)" in (r.out)
    )
    assert f"start it again with its saved settings: convlens train --resume {out}" in r.out
    r = cli("train", "--out", out, "--model", SPEC, "--data", "quadrants")
    assert r.code == 2 and "holds a run that stopped before its first checkpoint" in r.err
    assert (
        f"convlens train --resume {out} (Python: cl.train(out={str(out)!r}, resume=True)); or, "
        "for new settings, remove that folder"
    ) in r.err
    lines = []
    straight = tmp_path / "straight"
    train.train(cfg(out=str(straight)), log=None)
    result = train.resume(out, log=lines.append)
    assert lines[0] == f"starting {out} (it has no checkpoint yet)" and len(result.history) == 3
    assert not (out / "failure.json").exists()
    last = (checkpoint.checkpoint_file(d).read_bytes() for d in (out, straight))
    assert next(last) == next(last)  # started afresh: the same run as one straight through


CREATION_WRITES = 4  # run.json (creating), config.yaml, model.txt, run.json (whole)


@pytest.mark.parametrize(("at", "mode"), kill_points(CREATION_WRITES))
def test_a_kill_while_a_run_folder_is_made_leaves_it_whole_or_startable(
    cli, tmp_path, monkeypatch, at, mode
):
    out = tmp_path / "r"
    count = {"n": 0}
    real_text, real_json = runs.atomic_write_text, runs.atomic_write_json

    def dying(real):
        def write(path, data):
            count["n"] += 1
            if count["n"] - 1 == at:
                if mode == "during":  # the temp file of convlens.io's write, half written
                    (Path(path).parent / f".{Path(path).name}.0badf00d.tmp").write_text("{")
                raise Killed
            real(path, data)

        return write

    monkeypatch.setattr(runs, "atomic_write_text", dying(real_text))
    monkeypatch.setattr(runs, "atomic_write_json", dying(real_json))
    with pytest.raises(Killed):
        train.train(cfg(out=str(out)), log=None)
    monkeypatch.setattr(runs, "atomic_write_text", real_text)
    monkeypatch.setattr(runs, "atomic_write_json", real_json)
    left = {p.name for p in out.iterdir()} - {".lock"}
    assert "config.yaml" not in left or "run.json" in left, left  # never a config alone
    if (out / "run.json").exists():
        assert json.loads((out / "run.json").read_text())["state"] == "creating"
    with pytest.raises(CheckpointError, match="train again with --out|is not a run folder"):
        runs.load_run(out)
    r = cli("train", "--resume", out)
    assert r.code == 2 and r.err.count("\n") == 1, r
    assert "was stopped while it was being created, before training began" in r.err or (
        "is not a run folder (no run.json)" in r.err
    )
    runs.check_run_dir(out)  # a half-made folder may be made again
    train.train(cfg(out=str(out)), log=None)
    assert "state" not in runs.read_run_info(out) and len(runs.load_run(out).metrics) == 3
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_config_left_without_run_json_no_longer_blocks_the_folder(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.yaml").write_text("epochs: 3\n")  # what a kill left before this version
    train.train(cfg(out=str(out)), log=None)
    assert len(runs.load_run(out).metrics) == 3
    (other := tmp_path / "other").mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="exists and is not an empty folder"):
        runs.check_run_dir(other)
