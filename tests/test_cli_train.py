"""Tests of `convlens train`: run folder, config precedence, one-line errors, resume, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from convlens.engine import checkpoint, runs
from convlens.io import shown_path

# Toy data for the CLI, as source so that a subprocess can use it too.
HELPERS = '''
import time
from pathlib import Path
import torch
from convlens import data as datamod
from convlens.data import ImageDataset
from convlens.errors import DataError


def make_ds(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.randint(0, 80, (n, 1, 8, 8), generator=g).to(torch.uint8)
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * 4:(r + 1) * 4, c * 4:(c + 1) * 4] += 150
    return ImageDataset("quadrants", images, labels, ("tl", "tr", "bl", "br"), (0.3,), (0.3,))


def load_dataset(name, split="train", *, data_dir=None, download=None, image_size=None):
    if name != "quadrants":
        raise DataError(f"unknown data set {name!r}; known: quadrants")
    return make_ds(192 if split == "train" else 96, 0 if split == "train" else 1)


def install(monkeypatch=None, delay=0.0, marker=None):
    """Fake load_dataset (batching is the real convlens.data.iterate_batches)."""
    iterate = datamod.iterate_batches
    epochs = []

    def slow_iterate(ds, batch_size, **kw):
        if kw.get("shuffle"):
            epochs.append(1)
        for b, batch in enumerate(iterate(ds, batch_size, **kw)):
            if kw.get("shuffle"):
                time.sleep(delay)
                if marker and len(epochs) == 2 and b == 1:
                    Path(marker).touch()
            yield batch

    new = {"load_dataset": load_dataset, "iterate_batches": slow_iterate if delay else iterate}
    for key, value in new.items():
        if monkeypatch is not None:
            monkeypatch.setattr(datamod, key, value, raising=False)
        else:
            setattr(datamod, key, value)
'''
exec(HELPERS)  # noqa: S102 - defines make_ds, load_dataset, install

SPEC = "conv 8 3 pad=same bn=1, maxpool 2, flatten, dropout 0.2, dense {num_classes}"
ARGS = (
    "train",
    "--model",
    SPEC,
    "--data",
    "quadrants",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--lr",
    "0.02",
    "--augment",
    "none",
    "--no-progress",
)


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install(monkeypatch)  # noqa: F821


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_train_writes_the_run_folder(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 5\nseed: 4\nlabel_smoothing: 0.05\n")
    out = tmp_path / "run"
    r = cli(*ARGS, "--config", config, "--out", out, "--tensorboard", "--no-channels-last")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("epoch 1/2  train loss") and lines[1].startswith("epoch 2/2")
    assert lines[-1].startswith("best test accuracy") and shown_path(out) in lines[-1]
    for name in (
        "config.yaml",
        "run.json",
        "model.txt",
        "metrics.csv",
        "metrics.json",
        "checkpoint.json",
        "weights.2.safetensors",
        "state.2.pt",
        ".lock",
    ):
        assert (out / name).is_file(), name
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert (resolved["epochs"], resolved["seed"], resolved["label_smoothing"]) == (2, 4, 0.05)
    assert resolved["channels_last"] is False and resolved["tensorboard"] is True
    info = json.loads((out / "run.json").read_text())
    assert info["classes"] == ["tl", "tr", "bl", "br"] and info["data"] == "quadrants"
    assert (info["mean"], info["std"], info["input_shape"]) == ([0.3], [0.3], [1, 8, 8])
    assert info["model"] == SPEC and info["spec_text"].endswith("dense 4")
    assert {"python", "torch", "torchvision", "numpy", "convlens"} <= set(info["versions"])
    assert len(json.loads((out / "metrics.json").read_text())) == 2
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    run = runs.load_run(out)
    assert run.model(torch.zeros(1, 1, 8, 8)).shape == (1, 4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ("--optimizer", "adan"),
            "Expected optimizer one of sgd, adam, adamw. Received: "
            "optimizer='adan' (did you mean 'adam'?)",
        ),
        (("--schedule", "linear"), "Expected schedule one of onecycle, cosine, constant."),
        (("--epochs", "0"), "Expected epochs an integer >= 1. Received: epochs=0"),
        (("--model", "fastcnx"), "unknown model 'fastcnx' (did you mean 'fastcnn'?)"),
        (("--data", "quadrantz"), "unknown data set 'quadrantz'"),
        (("--config", "BADKEY"), "unknown key 'optimiser' in config file"),
        (
            ("--model", "NETYAML"),
            "is built for 3-channel input (3x8x8); quadrants images are 1x8x8",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, extra, message):
    (tmp_path / "bad.yaml").write_text("optimiser: sgd\n")
    (tmp_path / "net.yaml").write_text("input: 3x8x8\nlayers: [conv 4 3, flatten, dense 4]\n")
    extra = tuple(
        {"BADKEY": tmp_path / "bad.yaml", "NETYAML": tmp_path / "net.yaml"}.get(e, e) for e in extra
    )
    r = cli(*ARGS, "--out", tmp_path / "run", *extra)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("convlens train: error: ") and r.err.count("\n") == 1, r.err
    assert message in r.err
    assert not (tmp_path / "run").exists()


def test_existing_run_is_not_overwritten(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*ARGS, "--out", out, "--epochs", "1").code == 0
    before = snapshot(out)
    r = cli(*ARGS, "--out", out)
    assert r.code == 2 and r.err == (
        f"convlens train: error: {str(out)!r} already holds a run; continue it with convlens "
        f"train --resume {out} (Python: cl.train(out={str(out)!r}, resume=True)) or choose "
        "another run folder\n"
    )
    assert snapshot(out) == before
    r = cli("train", "--resume", out, "--lr", "0.1")
    assert r.code == 2 and r.err == (
        f"convlens train: error: resume continues {str(out)!r} with its saved settings; "
        "lr=0.1 differs from its lr=0.02\n"
    )
    r = cli("train", "--resume", out, "--no-progress")  # finished: nothing to do
    assert r.code == 0 and snapshot(out) == before


class Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def _file(out: Path, role: str) -> Path:
    """The file the manifest names for `role` (without checking it)."""
    return out / json.loads((out / checkpoint.MANIFEST).read_text())["files"][role]["file"]


def _retune(out: Path) -> None:
    """Rewrite the manifest's hashes so a forged file gets past the checksum to the next check."""
    raw = json.loads((out / checkpoint.MANIFEST).read_text())
    for entry in raw["files"].values():
        entry["sha256"] = hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
    (out / checkpoint.MANIFEST).write_text(json.dumps(raw))


def _truncate_weights(out, other):
    data = _file(out, "last").read_bytes()
    _file(out, "last").write_bytes(data[:100])


def _flip_state_byte(out, other):
    data = bytearray(_file(out, "state").read_bytes())
    data[len(data) // 2] ^= 1
    _file(out, "state").write_bytes(bytes(data))


def _pickle_payload(out, other):
    torch.save({"epoch": 1, "x": Evil(str(out / "pwned"))}, _file(out, "state"))
    _retune(out)


def _truncated_state(out, other):
    _file(out, "state").write_bytes(_file(out, "state").read_bytes()[:64])
    _retune(out)


def _other_architecture(out, other):
    _file(out, "last").write_bytes(_file(other, "last").read_bytes())
    _retune(out)


def _missing_weights(out, other):
    _file(out, "last").unlink()


@pytest.mark.parametrize(
    "damage, message",
    [
        (_truncate_weights, "weights.1.safetensors' does not match its checksum"),
        (_flip_state_byte, "state.1.pt' does not match its checksum"),
        (_pickle_payload, "holds objects other than tensors and plain data; refusing to load it"),
        (_truncated_state, "state.1.pt' is truncated or corrupt"),
        (_missing_weights, "weights.1.safetensors' is missing"),
        (
            _other_architecture,
            "is from another architecture: shapes differ (checkpoint vs model): "
            "conv1.0.weight (16, 1, 3, 3) vs (8, 1, 3, 3)",
        ),
    ],
)
def test_resume_refuses_bad_checkpoints_and_keeps_files(cli, tmp_path, damage, message):
    out, other = tmp_path / "run", tmp_path / "other"
    assert cli(*ARGS, "--out", out, "--epochs", "1").code == 0
    assert cli(*ARGS, "--out", other, "--epochs", "1", "--model", SPEC.replace("8", "16")).code == 0
    (out / "config.yaml").write_text(
        (out / "config.yaml").read_text().replace("epochs: 1", "epochs: 2")
    )
    damage(out, other)
    before = snapshot(out)
    r = cli("train", "--resume", out, "--no-progress")
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert message in r.err, r.err
    assert snapshot(out) == before and not (out / "pwned").exists()


def test_resume_on_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("train", "--resume", tmp_path / "empty")
    assert r.code == 2 and "is not a run folder (no run.json)" in r.err
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.slow
def test_sigint_in_a_subprocess_then_resume_is_bitwise_identical(cli, tmp_path):
    straight = tmp_path / "straight"
    assert cli(*ARGS, "--epochs", "3", "--out", straight).code == 0
    script = tmp_path / "run_train.py"
    marker = tmp_path / "in-epoch-2"
    script.write_text(
        HELPERS + f"\ninstall(delay=0.15, marker={str(marker)!r})\n"
        "import sys\nfrom convlens.cli import main\n"
        f"sys.exit(main({[*ARGS, '--epochs', '3', '--out', 'stopped']!r}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    stopped = tmp_path / "stopped"
    assert err.strip().splitlines()[-1] == (
        "convlens train: interrupted; checkpoint saved at epoch 2 batch "
        f"{checkpoint.load_run_state(stopped)['batch']}; resume with: "
        "convlens train --resume stopped (Python: cl.train(out='stopped', resume=True))"
    )
    assert checkpoint.load_run_state(stopped)["epoch"] == 1
    r = cli("train", "--resume", stopped, "--no-progress")
    assert r.code == 0, r.err
    last = (checkpoint.checkpoint_file(d, "last").read_bytes() for d in (stopped, straight))
    assert next(last) == next(last)


def test_ctrl_c_mid_step_before_the_first_checkpoint_says_how_to_start_again(
    cli, tmp_path, monkeypatch
):
    from convlens.engine import loop

    def pressed(state, *args, **kwargs):
        state.in_step = True  # a second Ctrl-C in the middle of the first step
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_one_epoch", pressed)
    out = tmp_path / "run"
    r = cli(*ARGS, "--out", out)
    assert r.code == 130 and r.err.strip().splitlines()[-1] == (
        "convlens train: interrupted in the middle of a step, before the first checkpoint; "
        f"start it again with its saved settings: convlens train --resume {out} "
        f"(Python: cl.train(out={str(out)!r}, resume=True)); or, for new settings, remove "
        "that folder first"
    )
    monkeypatch.undo()
    install(monkeypatch)  # noqa: F821
    r = cli("train", "--resume", out)
    assert r.code == 0 and f"starting {out} (it has no checkpoint yet)" in r.out, r
    assert len(runs.load_run(out).metrics) == 2


def test_limits_are_flags(cli, tmp_path):
    r = cli("train", "--help")
    assert "--max-params N" in r.out and "--max-activation-mb MIB" in r.out
    r = cli(*ARGS, "--out", tmp_path / "r", "--max-params", "10")
    assert r.code == 2 and "the budget is 10 parameters" in r.err
    assert not (tmp_path / "r").exists()
