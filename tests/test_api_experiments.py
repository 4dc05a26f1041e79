"""The front door's experiments and helpers the lessons use: `cl.sweep`, `cl.compare` (two
seeds, a spread), `cl.train(quiet=True)` and `cl.photo`, on the offline `digits` data."""

from __future__ import annotations

import numpy as np
import pytest

import convlens as cl
from convlens.errors import ConfigError, DataError, ImageError

TINY = {"epochs": 1, "limit_train": 128, "limit_test": 64, "batch_size": 32}
SPEC = "conv {n} 3, maxpool 2, flatten, dense 10"
EPOCH_LINE = "epoch 1/1"


def one_line(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    text = str(exc.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_sweep_trains_every_combination_and_seed_and_reports_the_spread(tmp_path, capsys):
    exp = cl.sweep(SPEC, {"n": [2, 4]}, data="digits", seeds=2, out=tmp_path, quiet=True, **TINY)
    assert capsys.readouterr().out == ""  # quiet: no epoch lines
    assert isinstance(exp, cl.Experiment)
    assert sorted(r["run"] for r in exp.rows) == ["n=2", "n=4"]
    assert all(r["seeds"] == 2 for r in exp.rows)
    assert [r.seed for r in exp.results] == [0, 1, 0, 1]
    # best first; the mean and spread are those of the two seeds' runs
    assert exp.rows[0]["accuracy"] >= exp.rows[1]["accuracy"]
    for row in exp.rows:
        accs = [r.accuracy for r in exp.results if f"n={r.combo['n']}" == row["run"]]
        assert row["accuracy"] == pytest.approx(np.mean(accs))
        assert row["spread"] == pytest.approx(np.std(accs, ddof=1))
    assert len(list(tmp_path.glob("*/run.json"))) == 4
    assert exp._repr_markdown_().startswith("| run | test acc | ± (seeds) |")
    assert "| n=2 |" in exp.table() and "(2)" in exp.table()
    assert exp.plot()._repr_png_().startswith(b"\x89PNG")
    assert "2 settings x 2 seeds" in repr(exp)
    # a second call reuses the finished runs (the same numbers, nothing trained)
    again = cl.sweep(SPEC, {"n": [2, 4]}, data="digits", seeds=2, out=tmp_path, **TINY)
    assert EPOCH_LINE not in capsys.readouterr().out
    assert [r.accuracy for r in again.results] == [r.accuracy for r in exp.results]


def test_sweep_prints_epoch_lines_unless_quiet(tmp_path, capsys):
    cl.sweep(SPEC, {"n": [2]}, data="digits", out=tmp_path, progress=False, **TINY)
    assert EPOCH_LINE in capsys.readouterr().out


def test_compare_runs_each_model_per_seed_and_names_rows_by_model(tmp_path, capsys):
    models = ["conv 2 3, maxpool 2, flatten, dense 10", "mlp"]
    exp = cl.compare(models, data="digits", seeds=2, out=tmp_path, quiet=True, **TINY)
    assert capsys.readouterr().out == ""
    assert sorted(r["run"] for r in exp.rows) == sorted(models)
    assert all(r["seeds"] == 2 for r in exp.rows)
    assert sorted((r.combo["model"], r.seed) for r in exp.results) == sorted(
        (m, s) for m in models for s in (0, 1)
    )
    assert len(list(tmp_path.glob("model-*_seed-[01]/run.json"))) == 4  # a sweep over models
    mlp = next(r for r in exp.rows if r["run"] == "mlp")
    conv = next(r for r in exp.rows if r["run"] != "mlp")
    assert mlp["params"] > conv["params"]  # the table carries each model's size
    assert "Comparison" in exp.plot().figure.axes[0].get_title()


def test_experiment_errors_are_one_line_and_name_the_value(tmp_path):
    with pytest.raises(ConfigError) as exc:
        cl.sweep(SPEC, {"n": [2]}, data="digits", seeds=0, out=tmp_path)
    one_line(exc, "seeds >= 1", "seeds=0")
    with pytest.raises(ConfigError) as exc:
        cl.sweep(SPEC, {"n": 2}, data="digits", out=tmp_path)
    one_line(exc, "list of values", "'n'", "2")
    with pytest.raises(ConfigError) as exc:
        cl.sweep(SPEC, {"k": [3]}, data="digits", out=tmp_path)
    one_line(exc, "'k'", "placeholder")
    with pytest.raises(ConfigError) as exc:
        cl.sweep(SPEC, {"n": [2]}, data="digits", out=tmp_path, epoch=1)
    one_line(exc, "cl.sweep", "'epoch'", "epochs")
    with pytest.raises(ConfigError) as exc:
        cl.compare("mlp", data="digits", out=tmp_path)
    one_line(exc, "list of registry names", "'mlp'")
    with pytest.raises(ConfigError) as exc:
        cl.compare(["mlp"], data="digits", out=tmp_path, quiet="yes")
    one_line(exc, "quiet=True or False", "'yes'")
    assert not list(tmp_path.iterdir())  # refused before anything was trained


def test_train_quiet_prints_nothing_and_keeps_the_history(tmp_path, capsys):
    run = cl.train("conv 2 3, maxpool 2, flatten, dense 10", data="digits", out=tmp_path / "q",
                   quiet=True, **TINY)  # fmt: skip
    assert capsys.readouterr().out == ""
    assert len(run.history) == 1 and 0 <= run.history[-1]["test_accuracy"] <= 1
    assert run.config.progress is False  # quiet drops the progress bar too
    loud = cl.train("conv 2 3, maxpool 2, flatten, dense 10", data="digits",
                    out=tmp_path / "loud", progress=False, **TINY)  # fmt: skip
    assert EPOCH_LINE in capsys.readouterr().out and len(loud.history) == 1
    with pytest.raises(ConfigError) as exc:
        cl.train("mlp", data="digits", out=tmp_path / "x", quiet=1)
    one_line(exc, "quiet=True or False", "quiet=1")


def test_photo_gives_real_photos_gray_or_colour():
    camera = cl.photo()
    assert camera.shape == (512, 512) and camera.dtype == np.uint8 and camera.std() > 20
    cat = cl.photo("chelsea")
    assert cat.shape == (300, 451, 3) and cat.dtype == np.uint8
    gray = cl.photo("chelsea", gray=True)
    assert gray.shape == (300, 451) and gray.dtype == np.uint8
    # luma: between the darkest and brightest channel at every pixel
    assert (gray >= cat.min(2).astype(int) - 1).all() and (gray <= cat.max(2) + 1).all()
    assert cl.photo("camera", gray=True).shape == (512, 512)
    edges = cl.conv2d(camera / 255, cl.KERNELS["sobel_x"].weights, padding="same")
    assert edges.shape == camera.shape and np.abs(edges).max() > 0.5


def test_photo_errors_name_the_value_and_the_photos():
    with pytest.raises(DataError) as exc:
        cl.photo("camra")
    one_line(exc, "'camra'", "did you mean 'camera'", "astronaut")
    with pytest.raises(ImageError) as exc:
        cl.photo(gray="no")
    one_line(exc, "gray=True or False", "'no'")
