"""Tests of the callback contract of `fit`: hook order, state in the checkpoint, built-ins."""

from __future__ import annotations

import signal

import pytest
import torch

from convlens.config import TrainConfig
from convlens.engine import loop, train
from convlens.engine.callbacks import Callback, CallbackList, EarlyStopping
from convlens.engine.checkpoint import checkpoint_file, load_run_state
from convlens.engine.history import read_history
from convlens.errors import TrainingError
from convlens.models.build import build

from conftest import TOY_SPEC, install_toy_data, quadrants, toy_config

SPEC = TOY_SPEC


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install_toy_data(monkeypatch)


cfg = toy_config


def fit_toy(config: TrainConfig, callbacks=(), **kw) -> loop.FitResult:
    torch.manual_seed(0)
    model = build(SPEC, (1, 8, 8), num_classes=4)
    return loop.fit(
        model, quadrants(192, 0), quadrants(96, 1), config, callbacks=callbacks, log=None, **kw
    )


class Recorder(Callback):
    """Writes down every hook it sees, with the epoch and batch counters at that moment."""

    def __init__(self):
        self.calls = []

    def on_fit_start(self, state):
        self.calls.append(("fit_start", state.epoch, state.batch))

    def on_epoch_start(self, state):
        self.calls.append(("epoch_start", state.epoch, state.batch))

    def on_batch_start(self, state, x):
        self.calls.append(("batch_start", state.epoch, state.batch))

    def on_batch_end(self, state):
        self.calls.append(("batch_end", state.epoch, state.batch))

    def on_epoch_end(self, state):
        self.calls.append(("epoch_end", state.epoch, len(state.history)))

    def on_fit_end(self, state):
        self.calls.append(("fit_end", state.epoch, state.batch))

    def on_exception(self, state, exc):
        self.calls.append(("exception", type(exc).__name__, str(exc)[:20]))


def test_hook_order_in_a_short_fit():
    rec = Recorder()
    fit_toy(cfg(epochs=2, batch_size=64), [rec])

    def epoch(e):  # 192 images in batches of 64: 3 steps
        steps = [c for b in range(3) for c in (("batch_start", e, b), ("batch_end", e, b + 1))]
        return [("epoch_start", e, 0), *steps, ("epoch_end", e + 1, e + 1)]

    assert rec.calls == [("fit_start", 0, 0), *epoch(0), *epoch(1), ("fit_end", 2, 0)]


def test_a_nan_loss_reaches_on_exception_and_not_on_fit_end():
    class Poison(Callback):
        def on_epoch_end(self, state):
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))

    rec = Recorder()
    with pytest.raises(TrainingError, match="loss became nan at epoch 2 batch 1"):
        fit_toy(cfg(), [Poison(), rec])
    assert rec.calls[-2:] == [
        ("batch_start", 1, 0),
        ("exception", "TrainingError", "loss became nan at e"),
    ]


class Tally(Callback):
    """Stateful: counts batches and epochs and sums the losses in a tensor."""

    def __init__(self):
        self.batches, self.epochs, self.losses = 0, 0, torch.zeros((), dtype=torch.float64)

    def on_batch_end(self, state):
        self.batches += 1
        self.losses += state.loss

    def on_epoch_end(self, state):
        self.epochs += 1

    def state_dict(self):
        return {"batches": self.batches, "epochs": self.epochs, "losses": self.losses.clone()}

    def load_state_dict(self, state_dict):
        self.batches, self.epochs = state_dict["batches"], state_dict["epochs"]
        self.losses = state_dict["losses"].clone()


class StopAtStep(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt  # as Ctrl-C does, at a batch boundary


def test_a_callback_state_survives_interrupt_and_resume(tmp_path):
    straight = Tally()
    train.train(cfg(out=str(tmp_path / "straight")), callbacks=[straight], log=None)
    first = Tally()
    with pytest.raises(loop.TrainingInterrupted):
        train.train(cfg(out=str(tmp_path / "stopped")), callbacks=[first, StopAtStep(9)], log=None)
    saved = load_run_state(tmp_path / "stopped")["callbacks"]["Tally"]
    assert (saved["batches"], saved["epochs"]) == (9, 1)
    again = Tally()  # a new process knows nothing ...
    train.resume(tmp_path / "stopped", callbacks=[again], log=None)
    assert (again.batches, again.epochs) == (straight.batches, straight.epochs) == (18, 3)
    assert torch.equal(again.losses, straight.losses)  # ... and continues the same sums


def test_same_class_twice_keeps_two_states():
    a, b = Tally(), Tally()
    a.batches, b.batches = 1, 2
    hooks = CallbackList([a, b])
    saved = hooks.state_dict()
    assert [saved["Tally"]["batches"], saved["Tally#2"]["batches"]] == [1, 2]
    c, d = Tally(), Tally()
    CallbackList([c, d]).load_state_dict(saved)
    assert (c.batches, d.batches) == (1, 2)


def test_every_callback_hears_of_an_exception_even_if_one_fails():
    class Broken(Callback):
        def on_exception(self, state, exc):
            raise OSError("disk full")

    rec = Recorder()
    with pytest.raises(OSError, match="disk full"):
        CallbackList([Broken(), rec]).on_exception(None, ValueError("x"))
    assert rec.calls == [("exception", "ValueError", "x")]


def test_filter_history_of_a_resumed_run_equals_a_straight_one(tmp_path):
    train.train(cfg(out=str(tmp_path / "straight")), log=None)
    with pytest.raises(loop.TrainingInterrupted):
        train.train(cfg(out=str(tmp_path / "stopped")), callbacks=[StopAtStep(9)], log=None)
    assert sorted(read_history(tmp_path / "stopped")["conv1"]) == [0, 1]
    train.resume(tmp_path / "stopped", log=None)
    want, got = (read_history(tmp_path / d) for d in ("straight", "stopped"))
    assert sorted(got["conv1"]) == [0, 1, 2, 3]
    assert all(torch.equal(want["conv1"][e], got["conv1"][e]) for e in range(4))


def test_early_stopping_is_a_callback(tmp_path):
    lines = []
    result = fit_toy(
        cfg(epochs=5, lr=1e-12, schedule="constant"), [EarlyStopping(1, log=lines.append)]
    )
    assert result.stopped_early and len(result.history) == 2
    assert lines == [
        "early stopping: no better test accuracy for 1 epochs (best "
        f"{result.best_accuracy:.2%} at epoch 1)"
    ]
    run = tmp_path / "r"
    result = train.train(
        cfg(out=str(run), epochs=5, lr=1e-12, schedule="constant", early_stopping=2), log=None
    )
    assert result.stopped_early and len(result.history) == 3
    state = load_run_state(run)
    assert state["stop"] and state["callbacks"]["EarlyStopping"] == {"bad_epochs": 2}
    before = checkpoint_file(run).read_bytes()
    assert len(train.resume(run, log=None).history) == 3
    assert checkpoint_file(run).read_bytes() == before


def test_ctrl_c_stops_at_the_batch_boundary_and_a_second_one_at_once(tmp_path):
    class CtrlC(Callback):
        def __init__(self, step, times):
            self.step, self.times = step, times

        def on_batch_start(self, state, x):
            if state.step == self.step:
                handle = state.model.register_forward_hook(self.press)  # inside the step
                self.handle = handle

        def press(self, module, args, output):
            self.handle.remove()
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)

    with pytest.raises(loop.TrainingInterrupted) as once:
        train.train(cfg(out=str(tmp_path / "once")), callbacks=[CtrlC(8, 1)], log=None)
    assert (once.value.epoch, once.value.batch, once.value.saved) == (1, 3, True)
    assert (load_run_state(tmp_path / "once")["batch"]) == 3  # the step was finished
    with pytest.raises(loop.TrainingInterrupted) as twice:
        train.train(cfg(out=str(tmp_path / "twice")), callbacks=[CtrlC(8, 2)], log=None)
    assert (twice.value.epoch, twice.value.batch, twice.value.saved) == (1, 2, False)
    state = load_run_state(tmp_path / "twice")  # the epoch-end checkpoint is kept
    assert (state["epoch"], state["batch"]) == (1, 0)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_bar_shows_only_when_asked_and_only_on_a_terminal(capsys, monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal
    fit_toy(cfg(epochs=1, progress=True))
    assert "epoch 1/1" in capsys.readouterr().err
    fit_toy(cfg(epochs=1, progress=False))
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # a file or a pipe: no redraws
    fit_toy(cfg(epochs=1, progress=True))
    assert capsys.readouterr().err == ""


def test_the_state_knows_whether_a_checkpoint_exists_and_failures_are_recorded(tmp_path):
    from convlens.engine.saving import read_failure

    seen = []

    class Watch(Callback):
        def on_batch_end(self, state):
            seen.append(state.saved_at)
            if state.step == 8:
                raise ValueError("a bug in my callback")

    with pytest.raises(ValueError, match="a bug in my callback"):
        train.train(cfg(out=str(tmp_path / "r")), callbacks=[Watch()], log=None)
    assert seen[:6] == [None] * 6 and seen[6:] == [(1, 0), (1, 0)]
    failure = read_failure(tmp_path / "r")
    assert failure["error"] == "ValueError" and failure["message"] == "a bug in my callback"
    assert failure["where"] == "in epoch 2 after batch 2" and failure["checkpoint"] == [1, 0]
    train.resume(tmp_path / "r", log=None)
    assert read_failure(tmp_path / "r") is None  # a new attempt clears the record
