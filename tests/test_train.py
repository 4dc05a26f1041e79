"""Tests of convlens.train (fit / evaluate / resume / NaN / speed switches) and convlens.config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from convlens import data as datamod
from convlens.config import TrainConfig, merge_config, resolve_config
from convlens.data import ImageDataset
from convlens.engine import checkpoint, loop, runs, train
from convlens.engine.callbacks import Callback
from convlens.engine.evaluate import evaluate
from convlens.engine.precision import amp_dtype
from convlens.errors import ConfigError, ModelError, TrainingError
from convlens.models.build import build

from conftest import TOY_SPEC, install_toy_data, quadrants, toy_config

SPEC = TOY_SPEC


def make_ds(n: int = 192, size: int = 8, seed: int = 0, channels: int = 1) -> ImageDataset:
    """A learnable toy set: the label is the bright quadrant of a noisy image."""
    return quadrants(n, seed, size=size, channels=channels)


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    """load_dataset -> toy sets (batching is the real convlens.data.iterate_batches)."""
    install_toy_data(monkeypatch)


cfg = toy_config  # optimizer adamw, schedule onecycle: the defaults


def weights(run_dir: Path) -> bytes:
    return checkpoint.checkpoint_file(run_dir, "last").read_bytes()


# ----------------------------------------------------------------------------- config
def test_config_defaults_and_precedence(tmp_path):
    d = TrainConfig()
    assert (d.model, d.optimizer, d.schedule, d.batch_size, d.label_smoothing) == (
        "fastcnn",
        "adamw",
        "onecycle",
        256,
        0.1,
    )
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 4\nlr: 1e-3\nbatch_size: 64\naugment: [crop, flip]\n")
    c = resolve_config(f, {"epochs": 7, "lr": None})
    assert (c.epochs, c.lr, c.batch_size, c.augment) == (7, 1e-3, 64, "crop,flip")


def test_config_errors_name_key_and_allowed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'epoch'.*did you mean 'epochs'.*allowed"):
        resolve_config(f)
    with pytest.raises(
        ConfigError,
        match=r"optimizer one of sgd, adam, adamw\. Received: "
        r"optimizer='adan'",
    ):
        merge_config(TrainConfig(), {"optimizer": "adan"})
    with pytest.raises(ConfigError, match=r"Expected epochs an integer >= 1. Received: epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3  # type: ignore[misc]


# ----------------------------------------------------------------------------- fit / evaluate
class Counter(Callback):
    def __init__(self):
        self.batches = self.epochs = 0

    def on_batch_end(self, state):
        self.batches += 1

    def on_epoch_end(self, state):
        self.epochs += 1


def test_train_learns_writes_metrics_and_calls_callbacks(tmp_path):
    counter = Counter()
    lines = []
    result = train.train(cfg(out=str(tmp_path / "run")), callbacks=[counter], log=lines.append)
    assert result.best_accuracy >= 0.9, result.history
    assert len(result.history) == 3 and counter.epochs == 3 and counter.batches == 3 * 6
    assert lines[0].startswith("epoch 1/3  train loss") and "img/s" in lines[0]
    run = tmp_path / "run"
    csv_lines = (run / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_loss,train_accuracy,test_loss,test_accuracy")
    assert len(csv_lines) == 4
    ev = evaluate(build(SPEC, (1, 8, 8), num_classes=4), make_ds(50), batch_size=16)
    assert ev.preds.shape == (50,) and 0 <= ev.accuracy <= 1 and ev.loss > 0


def test_threads_hold_for_one_run_and_are_restored_after_it(tmp_path):
    before = torch.get_num_threads()
    seen = []

    class Threads(Callback):
        def on_epoch_end(self, state):
            seen.append(torch.get_num_threads())

    want = 1 if before != 1 else 2
    train.train(cfg(out=str(tmp_path / "run"), epochs=1, threads=want), callbacks=[Threads()])
    # the run trains with its threads; the process (a notebook, the next test) keeps its own
    assert seen == [want] and torch.get_num_threads() == before


def test_evaluate_matches_manual_accuracy():
    torch.manual_seed(0)
    model = build(SPEC, (1, 8, 8), num_classes=4)
    ds = make_ds(70)
    res = evaluate(model, ds, batch_size=32)
    x, y = next(datamod.iterate_batches(ds, 70, shuffle=False, generator=None))
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    assert res.accuracy == pytest.approx(acc) and model.training is False
    assert torch.equal(res.targets, ds.labels)


class StopAt(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) after global step `step` or epoch `epoch`."""

    def __init__(self, step=None, epoch=None):
        self.step, self.epoch = step, epoch

    def on_batch_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    "stop, saved_at",
    [(dict(epoch=1), (1, 0)), (dict(step=6), (0, 6)), (dict(step=9), (1, 3))],
    ids=["after-epoch-1", "last-batch-before-eval", "mid-epoch-2"],
)
def test_resume_is_bitwise_identical(tmp_path, stop, saved_at):
    straight = tmp_path / "straight"
    train.train(cfg(out=str(straight)), log=None)
    stopped = tmp_path / "stopped"
    with pytest.raises(loop.TrainingInterrupted) as info:
        train.train(cfg(out=str(stopped)), callbacks=[StopAt(**stop)], log=None)
    assert info.value.saved
    state = checkpoint.load_run_state(stopped)
    assert (state["epoch"], state["batch"]) == saved_at
    assert weights(stopped) != weights(straight)
    result = train.resume(stopped, log=None)
    assert weights(stopped) == weights(straight)
    best = (checkpoint.checkpoint_file(d, "best").read_bytes() for d in (stopped, straight))
    assert next(best) == next(best)
    assert [r["test_accuracy"] for r in result.history] == [
        r["test_accuracy"] for r in runs.load_run(straight).metrics
    ]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    snapshot = {}

    class Poison(Callback):
        def on_epoch_end(self, state):
            snapshot["last"] = weights(state.run_dir)
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))

    with pytest.raises(
        TrainingError,
        match=r"loss became nan at epoch 2 batch 1.*last good "
        r"checkpoint is kept",
    ):
        train.train(cfg(out=str(tmp_path / "r")), callbacks=[Poison()], log=None)
    assert weights(tmp_path / "r") == snapshot["last"]
    assert checkpoint.load_run_state(tmp_path / "r")["epoch"] == 1


def test_huge_lr_diverges_with_clear_message(tmp_path):
    with pytest.raises(TrainingError, match="loss became (nan|inf)"):
        train.train(
            cfg(out=str(tmp_path / "r"), lr=1e30, optimizer="sgd", schedule="constant", epochs=2),
            log=None,
        )


def test_early_stopping(tmp_path):
    result = train.train(
        cfg(out=str(tmp_path / "r"), lr=1e-12, schedule="constant", epochs=5, early_stopping=1),
        log=None,
    )
    assert result.stopped_early and len(result.history) == 2


def test_channels_last_matches_plain_path():
    losses = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = build(SPEC, (1, 8, 8), num_classes=4)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        c = cfg(epochs=1, channels_last=channels_last, optimizer="sgd")
        res = loop.fit(model, make_ds(), make_ds(96, seed=1), c, log=None)
        losses.append(res.history[-1])
    assert losses[0]["test_loss"] == pytest.approx(losses[1]["test_loss"], rel=1e-3)
    assert losses[0]["train_loss"] == pytest.approx(losses[1]["train_loss"], rel=1e-3)


def test_bf16_autocast_matches_float32_path():
    rows = []
    for amp in ("none", "bf16"):
        torch.manual_seed(0)
        model = build(SPEC, (1, 8, 8), num_classes=4)
        res = loop.fit(model, make_ds(), make_ds(96, seed=1), cfg(epochs=2, amp=amp), log=None)
        rows.append(res.history[-1])
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert rows[1]["train_loss"] == pytest.approx(rows[0]["train_loss"], rel=0.05)
    assert rows[1]["test_accuracy"] == pytest.approx(rows[0]["test_accuracy"], abs=0.05)


def test_amp_auto_follows_the_processor(monkeypatch):
    from convlens.engine import precision

    monkeypatch.setattr(precision, "bf16_instructions", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert amp_dtype("auto") is None
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert amp_dtype("auto") is torch.bfloat16
    assert amp_dtype("none") is None
    # oneDNN emulates bfloat16 on AVX-512 without avx512_bf16 (slower than float32): float32
    monkeypatch.setattr(precision, "bf16_instructions", lambda: False)
    assert amp_dtype("auto") is None
    assert amp_dtype("bf16") is torch.bfloat16  # asked for by name, it is used
    monkeypatch.setattr(precision, "bf16_instructions", lambda: None)  # not x86 Linux
    assert amp_dtype("auto") is torch.bfloat16


@pytest.mark.slow
def test_compile_matches_plain_path():
    pytest.importorskip("torch._dynamo")
    results = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        # no dropout: compiled graphs draw their random numbers differently
        model = build(SPEC.replace("dropout 0.2, ", ""), (1, 8, 8), num_classes=4)
        try:
            model = torch.compile(model) if compile_ else model
            res = loop.fit(
                model,
                make_ds(64),
                make_ds(32, seed=1),
                cfg(epochs=1, optimizer="sgd", compile=compile_),
                log=None,
            )
        except Exception as exc:  # no compiler toolchain on this machine
            pytest.skip(f"torch.compile unavailable: {type(exc).__name__}")
        results.append(res.history[-1]["test_loss"])
    assert results[0] == pytest.approx(results[1], rel=1e-3)


def test_tensorboard_event_files(tmp_path):
    train.train(cfg(out=str(tmp_path / "r"), epochs=1, tensorboard=True), log=None)
    assert list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))


def test_build_for_data_rejects_wrong_channels(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 3x8x8\nlayers:\n  - conv 8 3\n  - flatten\n  - dense 4\n")
    with pytest.raises(
        ModelError,
        match=r"built for 3-channel input \(3x8x8\); toy images are "
        r"1x8x8",
    ):
        build(str(spec), (1, 8, 8), num_classes=4, fits="toy")
    assert build(str(spec), (3, 8, 8), num_classes=4, fits="toy")(
        torch.zeros(1, 3, 8, 8)
    ).shape == (1, 4)


@pytest.mark.parametrize("steps", range(1, 9))
def test_one_cycle_runs_on_very_short_runs(steps):
    """OneCycleLR divides by the length of its phases; runs of a few steps must not crash."""
    from convlens.engine.optim import make_scheduler

    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = make_scheduler(opt, TrainConfig(schedule="onecycle", lr=0.1), steps)
    for _ in range(steps):
        opt.step()
        sched.step()
    assert all(0 <= lr <= 0.1 + 1e-12 for lr in sched.get_last_lr())


@pytest.mark.parametrize("n", [30, 64, 100, 127, 128, 300])
def test_an_epoch_takes_as_many_steps_as_it_says(n, tmp_path):
    """Between one and two batches of data the loop used to take two steps while the
    progress bar and the schedule counted one (the bar crashed, one-cycle overran)."""
    seen = []

    class Count(Callback):
        def on_batch_end(self, state):
            seen.append(state.batch)

    config = cfg(out=str(tmp_path / "r"), epochs=2, batch_size=64, limit_train=n, progress=True)
    train.train(config, callbacks=[Count()], log=None)
    per_epoch = loop.steps_per_epoch(min(n, 192), 64)  # the toy training set has 192
    assert len(seen) == 2 * per_epoch


# ----------------------------------------------------------------------------- limits
def test_non_finite_settings_are_refused():
    for key in ("lr", "weight_decay", "momentum", "label_smoothing", "max_activation_mb"):
        for bad in (float("inf"), float("nan"), float("-inf")):
            with pytest.raises(ConfigError, match=rf"Expected {key} a finite number"):
                TrainConfig(**{key: bad})
    with pytest.raises(ConfigError, match=r"Expected max_params an integer >= 1"):
        TrainConfig(max_params=0)


def test_budget_settings_come_from_yaml_and_match_the_models_defaults(tmp_path):
    from convlens.models import budget

    d = TrainConfig()
    assert (d.max_params, d.max_activation_mb) == (budget.MAX_PARAMS, budget.MAX_ACTIVATION_MB)
    f = tmp_path / "c.yaml"
    f.write_text("max_params: 2.5e9\nmax_activation_mb: 100\n")
    c = resolve_config(f)
    assert (c.max_params, c.max_activation_mb) == (2_500_000_000, 100.0)
    f.write_text("max_params: 1.5\n")
    with pytest.raises(ConfigError, match=r"max_params an integer >= 1. Received: max_params=1.5"):
        resolve_config(f)


def test_the_budget_counts_what_summary_measures():
    """Parameters and activation memory from the spec alone equal what `summary` measures on
    the built model, for every registry spec model."""
    from convlens.models import registry
    from convlens.models.budget import BYTES_PER_ELEMENT, spec_cost
    from convlens.models.summary import summary

    checked = 0
    for name in registry.names():
        model = build(name, num_classes=10)
        if not hasattr(model, "layers"):
            continue
        costs = spec_cost(model.layers, model.shapes, model.input_shape)
        measured = summary(model, model.input_shape)
        assert sum(c.params for c in costs) == measured.total_params, name
        assert sum(c.activations for c in costs) * BYTES_PER_ELEMENT == measured.activation_bytes
        checked += 1
    assert checked >= 8


def test_a_model_over_budget_is_refused_by_train_with_the_layer(tmp_path):
    with pytest.raises(ModelError, match=r"layer 1 'dense 64' has 4,160 parameters"):
        train.train(cfg(model="dense 64, dense {num_classes}", max_params=100, out=str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


def test_a_nan_loss_without_a_run_folder_says_nothing_of_checkpoints():
    model = build(SPEC, (1, 8, 8), num_classes=4)
    c = cfg(lr=1e30, optimizer="sgd", schedule="constant", epochs=1)
    with pytest.raises(TrainingError, match=r"the run stopped; try a smaller --lr$"):
        loop.fit(model, make_ds(), make_ds(96, seed=1), c, log=None)


def test_without_normalisation_the_model_sees_raw_pixels_and_the_doctor_says_so(tmp_path):
    """Notebook 001's mistake on purpose: normalize=False feeds 0-255 values."""
    seen = []

    class FirstBatch(Callback):
        def on_batch_start(self, state, x):
            seen.append(float(x.abs().max()))

    lines: list[str] = []
    raw = cfg(out=str(tmp_path / "raw"), epochs=1, normalize=False, optimizer="sgd", lr=0.5)
    train.train(raw, callbacks=[FirstBatch()], log=lines.append)
    info = runs.read_run_info(tmp_path / "raw")
    assert info["mean"] == [0.0] and info["std"] == [pytest.approx(1 / 255)]
    assert 200 < seen[0] <= 255  # the bright quadrant, as a raw pixel value
    assert any(line.startswith("doctor: inputs reach 2") for line in lines), lines
    train.train(cfg(out=str(tmp_path / "std"), epochs=1), callbacks=[FirstBatch()], log=None)
    assert seen[-1] < 20  # standardised: a few units
    with pytest.raises(ConfigError, match="Expected true or false for normalize"):
        TrainConfig(normalize="none")


def test_normalize_flag(cli, tmp_path):
    args = ("train", "--model", SPEC, "--data", "quadrants", "--epochs", "1", "--no-progress")
    assert cli(*args, "--normalize", "none", "--out", tmp_path / "r").code == 0
    assert runs.read_run_info(tmp_path / "r")["mean"] == [0.0]
    bad = cli(*args, "--normalize", "raw", "--out", tmp_path / "b")
    assert bad.code == 2 and "Expected standard or none. Received: 'raw'" in bad.err
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------- "auto" data defaults
@pytest.mark.parametrize(
    ("data", "augment", "tta"),
    [
        ("fashion-mnist", "flip", True),
        ("fmnist", "flip", True),
        ("cifar10", "flip", True),
        ("mnist", "none", False),
        ("digits", "none", False),
        ("imagefolder:/some/pets", "none", False),
    ],
)
def test_auto_flips_only_data_whose_mirror_image_keeps_its_class(data, augment, tta):
    from convlens.engine.auto import resolve

    got = resolve(TrainConfig(data=data))
    assert (got.augment, got.tta) == (augment, tta)
    assert loop.augmentation(TrainConfig(data=data)) == (
        datamod.parse_augment("flip") if augment == "flip" else None
    )


def test_auto_tta_follows_the_training_flips_and_explicit_values_win():
    from convlens.engine.auto import resolve

    assert resolve(TrainConfig(augment="crop")).tta is False  # trained without flips
    assert resolve(TrainConfig(data="digits", augment="crop,flip")).tta is True
    assert resolve(TrainConfig(tta=False)) == TrainConfig(augment="flip", tta=False)
    assert resolve(TrainConfig(data="digits", tta=True)).tta is True
    assert resolve(TrainConfig(tta="flip,shift")).tta == "flip,shift"
    with pytest.raises(
        ConfigError,
        match=r"Expected true, false, 'auto', 'flip', 'shift', 'flip,shift' or 'none' for tta. "
        r"Received: tta='yes please'",
    ):
        TrainConfig(tta="yes please")


@pytest.mark.parametrize(
    ("tta", "views"),
    [(True, ("flip",)), (False, ()), ("none", ()), ("flip", ("flip",)), ("shift", ("shift",))]
    + [("flip,shift", ("flip", "shift")), ("Shift, flip", ("flip", "shift"))],
)
def test_tta_values_name_their_views(tta, views):
    from convlens.values import tta_views

    assert tta_views(TrainConfig(tta=tta).tta) == views


@pytest.mark.parametrize("bad", [1, "flips", "flip,,shift", ["flip"], None])
def test_tta_refuses_anything_else(bad):
    with pytest.raises(ConfigError, match=r"for tta. Received: tta="):
        TrainConfig(tta=bad)


def test_the_run_records_what_auto_became(tmp_path):
    train.train(
        cfg(data="fashion-mnist", augment="auto", epochs=1, out=str(tmp_path / "f")), log=None
    )
    train.train(cfg(data="digits", augment="auto", epochs=1, out=str(tmp_path / "d")), log=None)
    fashion, digits = runs.read_run_config(tmp_path / "f"), runs.read_run_config(tmp_path / "d")
    assert (fashion.augment, fashion.tta) == ("flip", True)
    assert (digits.augment, digits.tta) == ("none", False)


def test_tta_flag_turns_test_time_flip_on_and_off(cli, tmp_path):
    for flag, expected in (("--tta", True), ("--no-tta", False)):
        out = tmp_path / flag.strip("-")
        args = ("train", "--model", SPEC, "--data", "fashion-mnist", "--epochs", "1")
        result = cli(*args, "--no-progress", "--amp", "none", flag, "--out", out)
        assert result.code == 0, result.err
        assert runs.read_run_config(out).tta is expected
