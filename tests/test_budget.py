"""Tests of a training time budget (`--budget 2m`, convlens.engine.timebudget)."""

from __future__ import annotations

import time

import pytest
import yaml

from convlens.config import TrainConfig, parse_budget, resolve_config
from convlens.engine import checkpoint, loop, runs, timebudget, train
from convlens.errors import ConfigError

from conftest import install_toy_data, one_line_error, toy_config


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install_toy_data(monkeypatch)  # 192 training images: 6 steps of 32 per epoch


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("2m", 120), ("1h", 3600), ("1.5m", 90), (" 2M ", 120)]
)
def test_budget_texts(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("bad", ["2x", "0s", "-1m", "", "2", "m", "1e3s", 120])
def test_a_bad_budget_is_named_with_what_is_accepted(bad):
    with pytest.raises(ConfigError) as info:
        TrainConfig(budget=bad)
    assert str(info.value) == (
        f"Expected budget a time like 90s, 2m or 1h. Received: budget={bad!r}"
    )


def test_a_bad_budget_flag_is_one_line(cli):
    one_line_error(cli("train", "--budget", "2x"), "budget", "90s, 2m or 1h", "'2x'")


def test_steps_that_fit_count_one_epoch_end_per_started_epoch():
    # 6 steps of 1 s and 2 epoch ends (3 steps an epoch) of 2 s: 10 s
    assert timebudget.steps_that_fit(10, 1.0, 2.0, 3) == 6
    assert timebudget.steps_that_fit(10.9, 1.0, 2.0, 3) == 6  # a 7th step opens epoch 3
    assert timebudget.steps_that_fit(13, 1.0, 2.0, 3) == 7
    assert timebudget.steps_that_fit(2.5, 1.0, 2.0, 3) == 0


def test_steps_replace_epochs_and_end_inside_the_last_epoch(tmp_path):
    result = train.train(toy_config(steps=8, out=str(tmp_path / "r")), log=None)
    assert len(result.history) == 2  # 6 steps, then 2 of the second epoch
    saved = runs.read_run_config(tmp_path / "r")
    assert (saved.steps, saved.epochs) == (8, 2)
    state = checkpoint.load_run_state(tmp_path / "r")
    assert state["step"] == 8
    # whole epochs as steps: the same run as with epochs, bit for bit
    train.train(toy_config(steps=12, out=str(tmp_path / "steps")), log=None)
    train.train(toy_config(epochs=2, out=str(tmp_path / "epochs")), log=None)
    last = (
        checkpoint.checkpoint_file(tmp_path / d, "last").read_bytes() for d in ("steps", "epochs")
    )
    assert next(last) == next(last)
    # the schedule runs over the steps: after 6 of 8 steps the one-cycle lr is lower than
    # after 6 of 12
    assert result.history[0]["lr"] < runs.load_run(tmp_path / "steps").metrics[0]["lr"]


def test_a_budget_run_ends_within_it_and_reruns_bitwise_from_its_folder(tmp_path):
    lines: list[str] = []
    first = tmp_path / "first"
    began = time.perf_counter()
    train.train(toy_config(budget="4s", epochs=1, out=str(first), threads=1), log=lines.append)
    took = time.perf_counter() - began
    assert took < 4 * 2, (
        lines
    )  # a generous tolerance on a busy machine; the bench has the real figure
    saved = runs.read_run_config(first)
    assert saved.budget == "4s" and saved.steps is not None and saved.steps > 6  # epochs=1 ignored
    assert any(line.startswith(f"budget 4 s: {saved.steps:,} steps") for line in lines), lines
    end = f"after {saved.steps:,} steps; timing, training and evaluations took"
    assert any(line.startswith("budget 4s: test accuracy ") and end in line for line in lines)
    # a rerun from the folder's config trains the saved steps (no timing) and ends bitwise equal
    again = tmp_path / "again"
    config = resolve_config(first / runs.CONFIG_FILE, {"out": str(again)})
    assert config.steps == saved.steps
    more: list[str] = []
    train.train(config, log=more.append)
    assert not any(line.startswith("budget 4 s:") for line in more)
    last = (checkpoint.checkpoint_file(d, "last").read_bytes() for d in (first, again))
    assert next(last) == next(last)
    metrics = [runs.load_run(d).metrics for d in (first, again)]
    strip = [[{k: v for k, v in row.items() if "second" not in k} for row in m] for m in metrics]
    assert strip[0] == strip[1]


def test_a_resumed_budget_run_keeps_its_steps(tmp_path, monkeypatch):
    out = tmp_path / "r"

    class StopAt(train.Callback):
        def on_batch_end(self, state):
            if state.step == 5:
                raise KeyboardInterrupt

    with pytest.raises(loop.TrainingInterrupted):
        train.train(toy_config(budget="3s", out=str(out)), callbacks=[StopAt()], log=None)
    steps = runs.read_run_config(out).steps
    monkeypatch.setattr(timebudget, "plan_budget", None)  # a resume does not time again
    result = train.resume(out, log=None)
    assert checkpoint.load_run_state(out)["step"] == steps
    assert len(result.history) == runs.read_run_config(out).epochs


def test_a_new_budget_flag_times_again_over_a_files_steps(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"budget": "2m", "steps": 500}))
    assert resolve_config(f, {}).steps == 500
    assert resolve_config(f, {"budget": "1m"}).steps is None


def test_a_budget_too_short_says_what_one_step_takes(tmp_path):
    with pytest.raises(ConfigError, match=r"budget 0\.001s is too short: one step"):
        train.train(toy_config(budget="0.001s", out=str(tmp_path / "r")), log=None)
    assert not (tmp_path / "r").exists()


def test_cl_train_takes_a_budget(tmp_path):
    import convlens as cl

    with pytest.raises(ConfigError, match=r"Received: budget='2x'"):
        cl.train(data="quadrants", budget="2x", out=str(tmp_path / "bad"))
    run = cl.train(
        toy_config().model,
        data="quadrants",
        budget="2s",
        out=str(tmp_path / "r"),
        quiet=True,
        batch_size=32,
        augment="none",
        amp="none",
    )
    assert run.config.steps is not None and run.config.budget == "2s"
