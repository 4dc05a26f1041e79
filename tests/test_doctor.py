"""The training doctor: each check provoked on tiny data, and its one-line message."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.engine import loop
from convlens.engine.doctor import (
    Doctor,
    Finding,
    check_dead_layers,
    check_history,
    check_input,
    examine,
)
from convlens.io import shown_path
from convlens.models.build import build

from conftest import TINY_SPEC, install_toy_data, quadrants

SPEC = "conv 8 3 pad=same, maxpool 2, flatten, dense {num_classes}"


def fit_with_doctor(train_ds, test_ds, **kw):
    cfg = TrainConfig(
        model=SPEC,
        data="quadrants",
        batch_size=32,
        augment="none",
        progress=False,
        amp="none",
        **kw,
    )
    torch.manual_seed(0)
    model = build(SPEC, (1, 8, 8), num_classes=4)
    batch = datamod.normalize(test_ds.images[:64], test_ds.mean, test_ds.std)
    lines = []
    doctor = Doctor(None, batch, 4, log=lines.append)
    loop.fit(model, train_ds, test_ds, cfg, callbacks=[doctor], log=None)
    return doctor.findings, lines


def test_sgd_on_unnormalised_pixels_with_a_high_lr_is_caught():
    # mean 0, std 1/255: the "normalised" pixels are the raw 0-255 values, as in the notebook
    raw = dict(mean=(0.0,), std=(1 / 255,))
    findings, lines = fit_with_doctor(
        quadrants(256, 0, **raw),
        quadrants(128, 1, **raw),
        optimizer="sgd",
        lr=0.5,
        schedule="constant",
        epochs=2,
    )
    assert "not-normalised" in findings
    assert findings["not-normalised"].message.startswith("inputs reach 2")
    assert "pixels were not normalised" in findings["not-normalised"].message
    assert "chance" in findings or "dead-units" in findings
    assert all(line.startswith("doctor: ") and "\n" not in line for line in lines)


def test_a_healthy_run_has_nothing_to_report():
    findings, _ = fit_with_doctor(quadrants(256, 0), quadrants(128, 1), lr=0.01, epochs=3)
    assert findings == {}


def row(epoch, train_loss, train_acc, test_acc, lr=0.1):
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": 1.0,
        "test_accuracy": test_acc,
        "lr": lr,
    }


@pytest.mark.parametrize(
    "history, code, fragment",
    [
        (
            [row(1, 2.30, 0.10, 0.10), row(2, 2.30, 0.10, 0.10)],
            "chance",
            "accuracy 10.0% after epoch 1 is chance level for 10 classes",
        ),
        (
            [row(1, 1.0, 0.6, 0.6), row(2, 1.4, 0.5, 0.5)],
            "loss-rising",
            "training loss rose from 1.000 to 1.400: the learning rate is too high; try --lr 0.01",
        ),
        (
            [
                row(1, 1.0, 0.6, 0.6),
                row(2, 0.8, 0.7, 0.7),
                row(3, 0.95, 0.6, 0.6),
                row(4, 0.7, 0.7, 0.7),
            ],
            "loss-oscillating",
            "goes up and down",
        ),
        ([row(1, 2.302, 0.1, 0.1), row(2, 2.301, 0.1, 0.1)], "loss-flat", "has not moved"),
        (
            [row(1, 0.5, 0.85, 0.84), row(2, 0.2, 0.97, 0.82), row(3, 0.1, 0.99, 0.80)],
            "overfitting",
            "train accuracy 99.0% is 19% above test accuracy 80.0%: the model overfits",
        ),
    ],
)
def test_history_checks(history, code, fragment):
    found = {f.code: f.message for f in check_history(history, 10)}
    assert code in found and fragment in found[code]


def test_one_epoch_with_a_gap_is_no_overfitting_but_two_are():
    dip = [row(1, 0.6, 0.80, 0.82), row(2, 0.4, 0.87, 0.75)]  # the test dips at the peak lr
    assert check_history(dip, 10) == []
    assert check_history(dip + [row(3, 0.3, 0.90, 0.86)], 10) == []  # and recovers
    assert check_history(dip[1:], 10)[0].code == "overfitting"  # a one-epoch run: its only gap
    steady = dip + [row(3, 0.3, 0.93, 0.80)]
    assert [f.code for f in check_history(steady, 10)] == ["overfitting"]


RISING = [row(1, 1.0, 0.6, 0.6), row(2, 1.4, 0.5, 0.5)]
OSCILLATING = [row(1, 1.0, 0.6, 0.6), row(2, 0.8, 0.7, 0.7), row(3, 0.95, 0.6, 0.6)]
OSCILLATING += [row(4, 0.7, 0.7, 0.7)]


@pytest.mark.parametrize(
    ("schedule", "rising", "oscillating"),
    [
        ("constant", "; try --lr 0.01 or a one-cycle schedule (--schedule onecycle)", "; try a "
         "smaller --lr or --schedule onecycle"),
        ("onecycle", "; try --lr 0.01", "; try a smaller --lr"),
    ],
)  # fmt: skip
def test_a_run_on_one_cycle_is_not_told_to_try_one_cycle(schedule, rising, oscillating):
    (found,) = check_history(RISING, 10, schedule=schedule)
    assert found.message == (
        f"training loss rose from 1.000 to 1.400: the learning rate is too high{rising}"
    )
    (found,) = check_history(OSCILLATING, 10, schedule=schedule)
    assert found.message == (
        "training loss goes up and down between epochs: the learning rate is probably too "
        f"high{oscillating}"
    )


TOY = ("train", "--model", SPEC, "--data", "quadrants", "--augment", "none", "--no-progress")
TOY += ("--batch-size", "32")


def test_after_a_crash_the_doctor_and_train_say_the_same_thing(cli, tmp_path, monkeypatch):
    """A run that failed before its first checkpoint: `convlens doctor` and `convlens train`
    into its folder give the same advice (they once said --resume and remove the folder)."""
    install_toy_data(monkeypatch)

    def power_cut(*args, **kwargs):
        raise RuntimeError("power cut")

    out = tmp_path / "run"
    with monkeypatch.context() as patched, pytest.raises(RuntimeError, match="power cut"):
        patched.setattr(loop, "train_one_epoch", power_cut)
        cli(*TOY, "--out", out)  # not one of convlens's errors: its traceback
    advice = (
        f"start it again with its saved settings: convlens train --resume {out} (Python: "
        f"cl.train(out={str(out)!r}, resume=True)); or, for new settings, remove that folder "
        "first"
    )
    doctor = cli("doctor", out)
    assert doctor.code == 0 and doctor.out.splitlines()[-1] == (
        f"doctor: the run has no checkpoint (no epoch ended: it failed, or was stopped or "
        f"killed in epoch 1); {advice}"
    )
    again = cli(*TOY, "--out", out)
    assert again.err.strip() == (
        f"convlens train: error: {str(out)!r} holds a run that stopped before its first "
        f"checkpoint; {advice}"
    )


def test_after_a_nan_loss_the_doctor_repeats_what_train_said(cli, tmp_path, monkeypatch):
    """A diverged run: the doctor gives train's advice (a smaller --lr, afresh), not
    `--resume` (the same settings diverge the same way)."""
    install_toy_data(monkeypatch)
    out = tmp_path / "run"
    args = ("--lr", "1e30", "--optimizer", "sgd", "--schedule", "constant", "--out", out)
    diverged = cli(*TOY, *args)
    said = diverged.err.removeprefix("convlens train: error: ").strip()
    assert diverged.code == 2 and said.endswith(
        f"the run stopped before its first checkpoint, so {shown_path(out)} holds none; "
        "remove that "
        "folder and train again with a smaller --lr"
    )
    doctor = cli("doctor", out)
    assert f"(TrainingError: {said}); it stopped before its first checkpoint" in doctor.out
    assert "--resume" not in doctor.out and doctor.out.splitlines()[-1] == (
        "doctor: the run has no checkpoint (no epoch ended: it failed, or was stopped or "
        "killed in epoch 1)"
    )


def test_a_batch_as_large_as_the_training_set_is_warned_about(cli, tmp_path, monkeypatch):
    install_toy_data(monkeypatch)  # 192 training images
    r = cli(*TOY[:-1], "256", "--epochs", "1", "--out", tmp_path / "big")
    assert (
        r.code == 0
        and (
            "warning: --batch-size 256 holds all 192 training images: one step per epoch, 1 in "
            "all; try --batch-size 16"
        )
        in r.out.splitlines()
    )
    r = cli(*TOY, "--epochs", "1", "--out", tmp_path / "small")
    assert r.code == 0 and "one step per epoch" not in r.out


def test_cl_train_says_where_the_run_folder_is(tmp_path, monkeypatch, capsys):
    import convlens as cl

    install_toy_data(monkeypatch)
    out = tmp_path / "run"
    run = cl.train(SPEC, data="quadrants", epochs=1, batch_size=32, out=out, progress=False)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    best = run.history.best
    assert last == (
        f"best test accuracy {best['test_accuracy']:.2%} at epoch 1; run folder: {shown_path(out)}"
    )
    cl.train(SPEC, data="quadrants", epochs=1, out=tmp_path / "quiet", quiet=True)
    assert capsys.readouterr().out == ""
    # from a lesson's folder the line names the folder relative to it: no machine path
    (tmp_path / "lessons").mkdir()
    monkeypatch.chdir(tmp_path / "lessons")
    cl.train(SPEC, data="quadrants", epochs=1, batch_size=32, out=tmp_path / "b", progress=False)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("; run folder: ../b")


def test_input_and_dead_layer_checks():
    assert check_input(torch.rand(4, 1, 8, 8) * 3) == []
    assert check_input(torch.rand(4, 1, 8, 8) * 255)[0].code == "not-normalised"
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 3))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every unit below zero: dead
    found = check_dead_layers(model, torch.rand(8, 1, 8, 8))
    assert found == [Finding("dead-units", found[0].message)]
    assert found[0].message.startswith("layer 1 outputs only zeros")
    model[0].bias.data.fill_(5.0)
    assert check_dead_layers(model, torch.rand(8, 1, 8, 8)) == []


def test_doctor_command_on_a_run(cli, tiny_run, tmp_path):
    healthy = cli("doctor", tiny_run[0])
    assert (healthy.code, healthy.out) == (0, "doctor: nothing to report\n")
    assert examine(tiny_run[0]) == []
    # Test-time flips on data whose class is the side of a blob: a flipped image shows the
    # other class, so the test accuracy falls far below the training accuracy.
    flipped = tmp_path / "flipped"
    assert (
        cli(
            "train",
            "--model",
            TINY_SPEC,
            "--data",
            "mnist",
            "--data-dir",
            tiny_run[1],
            "--epochs",
            "2",
            "--batch-size",
            "50",
            "--lr",
            "0.01",
            "--augment",
            "none",
            "--tta",
            "--no-doctor",
            "--no-progress",
            "--out",
            flipped,
        ).code
        == 0
    )
    result = cli("doctor", flipped)
    assert result.code == 0
    assert [f.code for f in examine(flipped)] == ["overfitting"]
    assert result.out.startswith("doctor: train accuracy 100.0% is ")
    assert result.out.rstrip("\n").endswith(
        ": the model overfits; try --augment crop,flip, "
        "dropout, --weight-decay, or --early-stopping 2"
    )
    assert len(result.out.splitlines()) == 1


def test_the_doctor_finds_raw_pixels_in_a_finished_run(cli, tiny_run, tmp_path):
    out = tmp_path / "raw"
    args = (
        "train",
        "--model",
        SPEC,
        "--data",
        "mnist",
        "--data-dir",
        tiny_run[1],
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--augment",
        "none",
        "--no-progress",
        "--no-doctor",
    )
    assert cli(*args, "--normalize", "none", "--out", out).code == 0
    result = cli("doctor", out)
    assert result.code == 0 and "doctor: inputs reach 2" in result.out, result
    assert "--normalize none turns it off" in result.out
