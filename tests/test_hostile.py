"""What convlens promises under faults and abuse.

Each test is one hostile case, tried as a careless user or an attacker would, and states
what convlens does about it: nothing is lost, nothing is stuck, and every refusal is one line
on stderr with exit status 2 that names the path, the value or the layer and what to do.

This file holds run folders, OS errors, settings and budgets; hostile images and requests to
the explorer are in tests/test_hostile_inputs.py (its docstring lists those promises); the
README's "Safety" section states them all.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

import convlens.io
from convlens.engine import checkpoint, runs, train
from convlens.engine.callbacks import Callback
from convlens.errors import TrainingError
from convlens.io import shown_path
from test_crash_safety import (
    SPEC,
    Faults,
    Killed,
    StopAfterEpoch,
    cfg,
    files_of,
    install_toy_data,
    kill_points,
    mnist_args,
    mnist_files,
    subprocess_train,
)

from conftest import TINY_SPEC, one_line_error

# =============================================================================================
# Run folders, OS errors and huge requests
# =============================================================================================
TOY = ("train", "--model", SPEC, "--data", "quadrants", "--batch-size", "32", "--lr", "0.02")
TOY += ("--augment", "none", "--no-progress", "--amp", "none")


@pytest.fixture
def toy_data(monkeypatch):
    """`quadrants`: 192 training and 96 test images of 1x8x8 (6 batches of 32)."""
    install_toy_data(monkeypatch)


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def last_weights(run_dir: Path) -> bytes:
    return checkpoint.checkpoint_file(run_dir, "last").read_bytes()


# ----------------------------------------------------------------------------- kills
def test_a_kill_at_any_file_operation_of_a_save_leaves_a_run_that_loads_and_finishes(
    tmp_path, toy_data
):
    """Killed between (or in the middle of) any two file operations of a checkpoint save,
    the folder still loads, and resuming it ends with bitwise the weights of a run that was
    never killed."""
    straight = tmp_path / "straight"
    train.train(cfg(out=str(straight)), log=None)
    base = tmp_path / "base"  # one epoch done; the save tried below is epoch 2's
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg(out=str(base)), callbacks=[StopAfterEpoch(1)], log=None)
    marks: list[int] = []

    class Mark(Callback):  # runs after the built-in Checkpoint: its save is done
        def on_epoch_end(self, state):
            marks.append(count.count)

    with pytest.MonkeyPatch.context() as mp:
        count = Faults(mp)
        train.resume(_copy(base, tmp_path / "count"), callbacks=[Mark()], log=None)
    operations = marks[0]  # the file operations of the epoch-2 save
    assert operations >= 6
    for at, mode in kill_points(operations):
        run = _copy(base, tmp_path / f"{at}-{mode}")
        with pytest.MonkeyPatch.context() as mp, pytest.raises(Killed):
            Faults(mp, at, mode)
            train.resume(run, log=None)
        loaded = runs.load_run(run)
        assert len(loaded.metrics) in (1, 2) and checkpoint.load_run_state(run)["epoch"] in (1, 2)
        result = train.resume(run, log=None)
        assert len(result.history) == 3, (at, mode)
        assert last_weights(run) == last_weights(straight), (at, mode)
        assert not [n for n in files_of(run) if n.endswith(".tmp")], (at, mode)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.slow
def test_sigkill_at_random_moments_then_the_run_loads_and_resumes_to_the_end(tmp_path):
    """A training process killed with SIGKILL five times at random moments (in epochs, in
    saves: a tiny model saves every 20 ms) leaves a folder that loads each time, and
    resuming it finishes the same run as one that was never killed."""
    data = mnist_files(tmp_path / "mnist")
    straight, run = tmp_path / "straight", tmp_path / "run"
    done = subprocess_train(mnist_args(data, straight, epochs=100), tmp_path)
    assert done.wait(timeout=120) == 0, done.communicate()
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    manifest, kills = run / checkpoint.MANIFEST, 0
    for attempt in range(5):
        args = mnist_args(data, run, 100) if attempt == 0 else ["train", "--resume", str(run)]
        before = manifest.stat().st_mtime_ns if manifest.exists() else None
        proc = subprocess_train(args, tmp_path)
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:  # wait for a save of this process
            if manifest.exists() and manifest.stat().st_mtime_ns != before:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            break  # it finished first
        assert proc.returncode == -signal.SIGKILL, (seed, attempt, err)
        kills += 1
        runs.load_run(run)  # loadable after every kill
    assert kills >= 3, seed
    proc = subprocess_train(["train", "--resume", str(run)], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (seed, err)
    assert len(runs.load_run(run).metrics) == 100
    assert last_weights(run) == last_weights(straight), seed
    assert not [n for n in files_of(run) if n.endswith(".tmp")], seed


# ----------------------------------------------------------------------------- two trainings
def test_a_second_training_into_a_locked_run_folder_is_refused_with_the_pid(
    cli, tmp_path, toy_data
):
    out = tmp_path / "run"
    with runs.run_lock(out, create=True):
        r = cli(*TOY, "--epochs", "1", "--out", out)
        one_line_error(r, f"'{out}' is in use by another training (process {os.getpid()})")
    assert files_of(out) == [".lock"]  # the refused training wrote nothing
    assert cli(*TOY, "--epochs", "2", "--out", out).code == 0
    assert (out / ".lock").read_text() == ""  # let go when the run ended
    with runs.run_lock(out):
        r = cli("train", "--resume", out)
        one_line_error(r, f"is in use by another training (process {os.getpid()})")
        r = cli(*TOY, "--epochs", "1", "--out", out)
        one_line_error(r, "is in use by another training")


@pytest.mark.slow
def test_two_training_processes_into_one_folder(cli, tmp_path):
    """Of two `convlens train --out SAME` processes, the second is refused with the first's
    PID (resume included); the folder keeps one run whole."""
    data = mnist_files(tmp_path / "mnist")
    out = tmp_path / "run"
    first = subprocess_train(mnist_args(data, out, epochs=400), tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None:
        if (out / ".lock").exists() and (out / ".lock").read_text().strip():
            break
        time.sleep(0.05)
    second = subprocess_train(mnist_args(data, out, epochs=2), tmp_path)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err
    assert err.strip().splitlines() == [
        f"convlens train: error: '{out}' is in use by another training (process "
        f"{first.pid}); wait for it to finish, or choose another --out"
    ]
    third = subprocess_train(["train", "--resume", str(out)], tmp_path)
    _, err = third.communicate(timeout=120)
    assert third.returncode == 2 and f"(process {first.pid})" in err, err
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert runs.read_run_config(out).epochs == 400  # the first run's settings and weights
    runs.load_run(out)


# ----------------------------------------------------------------------------- read-only runs
def read_only(monkeypatch, folder: Path, *, access: bool) -> None:
    """Make `folder` behave as if on a read-only file system: every convlens write and every
    mkdir inside it fails with EROFS; `access` is what os.access(W_OK) answers there. (Tests
    run as root, which ignores permission bits, so chmod -w would not stop a write.)"""
    folder, answer = folder.resolve(), access
    real_write, real_mkdir, real_access = convlens.io.atomic_write_bytes, Path.mkdir, os.access
    real_open = os.open

    def inside(path) -> bool:
        return Path(path).resolve().is_relative_to(folder)

    def refuse(path):
        return OSError(errno.EROFS, "Read-only file system", str(path))

    def write(path, data):
        if inside(path):
            raise refuse(path)
        return real_write(path, data)

    def mkdir(self, *args, **kwargs):
        if inside(self) and not self.is_dir():
            raise refuse(self)
        return real_mkdir(self, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def writable(path, mode, *args, **kwargs):
        if inside(path) and mode & os.W_OK:
            return answer
        return real_access(path, mode, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if (
            name.startswith("convlens")
            and getattr(module, "atomic_write_bytes", None) is real_write
        ):
            monkeypatch.setattr(module, "atomic_write_bytes", write)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "access", writable)


@pytest.mark.parametrize("access", [False, True], ids=["access-says-no", "write-fails"])
def test_commands_that_read_a_run_write_nothing_into_a_read_only_run(
    cli, tiny_run, tmp_path, monkeypatch, access
):
    run = _copy(tiny_run[0], tmp_path / "ro" / "tiny")
    before = snapshot(run)
    monkeypatch.chdir(tmp_path)
    read_only(monkeypatch, run, access=access)
    r = cli("eval", run, "--batch-size", "64")
    assert r.code == 0, r
    assert (
        f"run folder {run} is read-only; wrote out/tiny/eval.json, out/tiny/confusion.csv "
        f"instead" in r.out
    )
    assert json.loads((tmp_path / "out/tiny/eval.json").read_text())["images"] == 200
    r = cli("show", "filters", run)
    assert r.code == 0 and "wrote out/tiny/pictures/filters.png" in r.out, r
    assert f"run folder {run} is read-only; writing to out/tiny instead" in r.out
    assert (tmp_path / "out/tiny/pictures/filters.png").stat().st_size > 1000
    r = cli("predict", run, "--index", "0", "1")
    assert r.code == 0 and len(r.out.splitlines()) == 2, r
    r = cli("doctor", run)
    assert r.code == 0, r
    assert snapshot(run) == before  # not a byte written into the run folder
    r = cli("train", "--resume", run)  # training does need the folder
    one_line_error(r, f"cannot lock the run folder '{run}'", "choose a folder you can write to")


@pytest.mark.slow
def test_the_report_of_a_read_only_run_goes_to_out(cli, tiny_run, tmp_path, monkeypatch):
    run = _copy(tiny_run[0], tmp_path / "ro" / "tiny")
    before = snapshot(run)
    monkeypatch.chdir(tmp_path)
    read_only(monkeypatch, run, access=False)
    r = cli("report", run)
    assert r.code == 0 and r.out.strip().endswith("wrote out/tiny/report.html"), r
    assert (tmp_path / "out/tiny/report.html").stat().st_size > 10_000
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- bad --out
def test_an_out_folder_that_cannot_be_made_is_one_line(cli, tmp_path, toy_data, monkeypatch):
    (tmp_path / "file.txt").write_text("not a folder")
    r = cli(*TOY, "--out", tmp_path / "file.txt" / "run")
    one_line_error(
        r, f"cannot create the run folder '{tmp_path}/file.txt/run'", "is not a folder you can"
    )
    r = cli(*TOY, "--out", "/proc/convlens-run")
    one_line_error(r, "cannot create the run folder '/proc/convlens-run'", "choose a folder")
    (tmp_path / "ro").mkdir()
    read_only(monkeypatch, tmp_path / "ro", access=False)
    r = cli(*TOY, "--out", tmp_path / "ro" / "run")
    one_line_error(r, f"cannot create the run folder '{tmp_path}/ro/run'", "write to")
    monkeypatch.setattr(os, "access", lambda *a, **k: True)  # the OS says yes, mkdir says no
    r = cli(*TOY, "--out", tmp_path / "ro" / "run")
    one_line_error(r, "cannot create the run folder", "Read-only file system")
    assert files_of(tmp_path / "ro") == []


# ----------------------------------------------------------------------------- a full disk
def test_a_full_disk_during_a_save_keeps_the_last_checkpoint(cli, tmp_path, toy_data, monkeypatch):
    out = tmp_path / "run"
    real = checkpoint.atomic_write_bytes

    def full(path, data):
        if Path(path).name == "weights.2.safetensors":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    with monkeypatch.context() as mp:
        mp.setattr(checkpoint, "atomic_write_bytes", full)
        r = cli(*TOY, "--epochs", "3", "--out", out)
    one_line_error(
        r,
        f"cannot save the checkpoint in '{out}': No space left on device; the checkpoint of "
        f"epoch 1 batch 0 is kept; free some space",
        f"continue with: convlens train --resume {out}",
    )
    assert runs.load_run(out).metrics[-1]["epoch"] == 1
    r = cli("doctor", out)
    assert "the run stopped on an error after epoch 2 (CheckpointError: cannot save" in r.out
    assert "its last checkpoint is kept" in r.out
    r = cli("train", "--resume", out)
    assert r.code == 0 and "resuming" in r.out and "epoch 3/3" in r.out, r
    assert not (out / "failure.json").exists()


def test_a_full_disk_when_the_run_folder_is_made_is_one_line(cli, tmp_path, toy_data, monkeypatch):
    out = tmp_path / "run"

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as mp:
        mp.setattr(runs, "atomic_write_text", lambda p, t: full(p, t))
        r = cli(*TOY, "--out", out)
    one_line_error(r, f"cannot write the run folder '{out}': No space left on device")
    assert files_of(out) == [".lock"]
    assert cli(*TOY, "--epochs", "1", "--out", out).code == 0  # the next try takes it


def test_os_errors_anywhere_are_one_line_naming_the_path(cli, tiny_run, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(
            errno.ENOSPC, "No space left on device", str(tmp_path / ".k.png.0a1b2c3d.tmp")
        )

    monkeypatch.setattr(convlens.io, "atomic_write_bytes", fail)
    r = cli("show", "filters", tiny_run[0], "--out", tmp_path / "k.png")
    one_line_error(r, f"no space left on the device writing '{tmp_path}/k.png'; free some space")
    r = cli("eval", tiny_run[0], "--data", "nope", "--data-dir", tmp_path / "missing")
    assert r.code == 2 and len(r.err.splitlines()) == 1, r


# ----------------------------------------------------------------------------- huge models
def test_layers_too_large_are_refused_before_anything_is_allocated(cli, tiny_run, tmp_path):
    data = ("--data", "mnist", "--data-dir", tiny_run[1], "--no-progress")
    r = cli("train", "--model", "dense 10000000000", *data, "--out", tmp_path / "a")
    one_line_error(
        r,
        "model too large: layer 1 'dense 10000000000' has 7,850,000,000,000 parameters; the "
        "budget is 1,000,000,000 parameters; make that layer smaller, or raise the budget "
        "with --max-params",
    )
    r = cli(
        "train", "--model", "conv 100000 3, dense {num_classes}", *data, "--out", tmp_path / "b"
    )
    one_line_error(
        r,
        "model too large: its layer outputs take 132,031 MiB for a batch of 256 images "
        "(layer 1 'conv 100000 3' alone 66,016 MiB); the budget is 4,096 MiB; lower "
        "--batch-size",
        "--max-activation-mb",
    )
    r = cli("summary", "dense 10000000000", "--input", "1x28x28")
    one_line_error(r, "layer 1 'dense 10000000000' has 7,850,000,000,000 parameters")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_raised_budget_still_fails_in_one_line_when_memory_runs_out(cli, tiny_run, tmp_path):
    data = ("--data", "mnist", "--data-dir", tiny_run[1], "--no-progress")
    limits = ("--max-params", "1e14", "--max-activation-mb", "1e9")
    r = cli("train", "--model", "dense 10000000000", *data, *limits, "--out", tmp_path / "r")
    one_line_error(
        r, "layer 1 'dense 10000000000': not enough memory to build it", "make it smaller"
    )


def test_the_budget_is_a_setting(cli, tmp_path, toy_data):
    model = ("--model", "dense 64, dense {num_classes}")
    r = cli(*TOY, *model, "--max-params", "1000", "--out", tmp_path / "a")
    one_line_error(r, "has 4,160 parameters (4,420 in all); the budget is 1,000 parameters")
    r = cli(*TOY, *model, "--max-params", "5e3", "--epochs", "1", "--out", tmp_path / "b")
    assert r.code == 0, r
    assert runs.read_run_config(tmp_path / "b").max_params == 5000
    assert runs.load_run(tmp_path / "b").model is not None  # rebuilt within its own budget
    r = cli(*TOY, "--batch-size", "96", "--max-activation-mb", "0.1", "--out", tmp_path / "c")
    one_line_error(r, "take 0.33 MiB for a batch of 96 images", "the budget is 0.1 MiB")


def test_running_out_of_memory_while_training_is_one_line(cli, tmp_path, toy_data, monkeypatch):
    from convlens.engine import loop

    def oom(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 123456 bytes. Error code 12"
        )

    monkeypatch.setattr(loop.F, "cross_entropy", oom)
    r = cli(*TOY, "--out", tmp_path / "r")
    one_line_error(
        r,
        "out of memory at epoch 1 batch 1 with --batch-size 32 (can't allocate memory: you "
        "tried to allocate 123456 bytes",
        "lower --batch-size",
    )


# ----------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--lr", "inf", "Expected lr a finite number > 0. Received: lr=inf"),
        ("--lr", "nan", "Expected lr a finite number > 0. Received: lr=nan"),
        ("--weight-decay", "inf", "Received: weight_decay=inf"),
        ("--momentum", "nan", "Received: momentum=nan"),
        ("--label-smoothing", "-inf", "Received: label_smoothing=-inf"),
        ("--max-activation-mb", "nan", "Received: max_activation_mb=nan"),
        ("--max-params", "inf", "Received: max_params=inf"),
        (
            "--record-filters",
            "conv9",
            "--record-filters: no conv layer 'conv9'; conv layers: conv1",
        ),
    ],
)
def test_bad_settings_are_refused_before_the_run_folder_exists(
    cli, tmp_path, toy_data, flag, value, message
):
    r = cli(*TOY, f"{flag}={value}", "--out", tmp_path / "run")
    one_line_error(r, message)
    assert not (tmp_path / "run").exists()


def test_a_missing_device_is_refused_before_the_run_folder_exists(cli, tmp_path, toy_data):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = cli(*TOY, "--device", "cuda", "--out", tmp_path / "run")
    one_line_error(r, "--device cuda: no CUDA GPU is visible to torch here")
    assert not (tmp_path / "run").exists()


def test_init_from_a_truncated_file_is_one_line(cli, tiny_run, tmp_path):
    weights = checkpoint.checkpoint_file(tiny_run[0], "best").read_bytes()
    (tmp_path / "half.safetensors").write_bytes(weights[: len(weights) // 2])
    data = ("--data", "mnist", "--data-dir", tiny_run[1], "--no-progress", "--epochs", "1")
    r = cli(
        "train",
        "--model",
        TINY_SPEC,
        *data,
        "--init-from",
        tmp_path / "half.safetensors",
        "--out",
        tmp_path / "run",
    )
    one_line_error(
        r, f"--init-from '{tmp_path}/half.safetensors' is truncated or not a safetensors file"
    )
    (tmp_path / "whole.safetensors").write_bytes(weights)  # a whole weights file is fine
    r = cli(
        "train",
        "--model",
        TINY_SPEC,
        *data,
        "--init-from",
        tmp_path / "whole.safetensors",
        "--out",
        tmp_path / "run",
    )
    assert r.code == 0 and "init from" in r.out, r


def test_a_nan_loss_in_the_first_epoch_says_there_is_no_checkpoint(cli, tmp_path, toy_data):
    out = tmp_path / "run"
    r = cli(*TOY, "--lr", "1e30", "--optimizer", "sgd", "--schedule", "constant", "--out", out)
    one_line_error(
        r,
        "loss became",
        "at epoch 1 batch",
        f"the run stopped before its first checkpoint, so {shown_path(out)} holds none; "
        "remove that "
        f"folder and train again with a smaller --lr",
    )
    assert "checkpoint is kept" not in r.err
    r = cli("doctor", out)
    assert "the run stopped on an error in epoch 1 batch" in r.out
    assert "(TrainingError: loss became" in r.out and "the run has no checkpoint" in r.out
    with pytest.raises(TrainingError, match="loss became .* before its first checkpoint"):
        train.resume(out, log=None)  # the same settings diverge the same way
