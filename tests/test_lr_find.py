"""Tests of the learning-rate finder: convlens.engine.lr_find, its picture, cl.lr_find,
`convlens lr-find` and `--lr find` / `cl.train(lr="find")`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import convlens as cl
from convlens.engine.lr_find import RULES, centred, lr_find, smooth, suggest_lr
from convlens.errors import ConfigError
from convlens.look.lr_find import draw_lr_find
from convlens.models.build import build

from conftest import install_toy_data, one_line_error, quadrants, toy_config


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install_toy_data(monkeypatch)


def tiny_model():
    torch.manual_seed(0)
    return build(toy_config().model, (1, 8, 8), num_classes=4)


def test_suggestion_lies_inside_the_sweep_and_the_model_is_left_alone():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    found = lr_find(model, quadrants(192), toy_config(), start_lr=1e-5, end_lr=10.0, steps=40)
    assert 1e-5 <= found.suggestion <= found.lrs[-1] <= 10.0 * 1.0001
    assert found.suggestion in found.lrs
    assert found.rule == "min/10" and "min/10" in found.rule_text
    assert len(found.lrs) == len(found.losses) == len(found.smoothed) <= 40
    ratios = [b / a for a, b in zip(found.lrs, found.lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios))  # exponential
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(torch.get_rng_state(), rng)
    # a sweep of SGD up to lr 1000 blows up before the end, and says so
    sgd = toy_config(optimizer="sgd")
    found = lr_find(model, quadrants(192), sgd, start_lr=1e-4, end_lr=1e3, steps=40)
    assert found.diverged and len(found.lrs) < 40


def test_rules_pick_what_they_say():
    lrs = [10 ** (-6 + i / 10) for i in range(61)]  # 1e-6 .. 1
    # a loss flat, falling fastest at index 30, lowest at 45, then rising
    loss = [
        2 - 1.5 / (1 + math.exp(-(i - 30) / 3)) + (0.02 * (i - 45) ** 2 if i > 45 else 0)
        for i in range(61)
    ]
    assert suggest_lr(lrs, loss, "steepest") == lrs[30]
    best = min(range(61), key=loss.__getitem__)
    assert suggest_lr(lrs, loss, "min/10") == pytest.approx(lrs[best] / 10)
    assert lrs[0] < suggest_lr(lrs, loss, "valley") < lrs[best]
    with pytest.raises(ConfigError, match="Expected rule one of min/10, valley, steepest"):
        suggest_lr(lrs, loss, "fastest")


def test_smoothing():
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # bias-corrected
    assert centred([0.0, 3.0, 0.0, 3.0], half=1) == pytest.approx([1.5, 1.0, 2.0, 1.5])


def test_picture_marks_the_suggestion_and_names_the_rule(tmp_path):
    found = lr_find(tiny_model(), quadrants(192), toy_config(), steps=30, rule="steepest")
    fig = draw_lr_find(found)
    title = fig.axes[0].get_title()
    assert "steepest" in title and ("30 batches" in title or "stopped" in title)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(f"{found.suggestion:.2g}" in t for t in texts)
    from convlens.io import save_figure

    path = save_figure(fig, tmp_path / "lr.png")
    from PIL import Image

    image = np.asarray(Image.open(path).convert("L"))
    assert image.shape[1] > 600 and len(np.unique(image)) > 20  # not a blank canvas


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"start_lr": 0}, "Expected start_lr a finite number > 0. Received: start_lr=0"),
        ({"end_lr": 1e-7}, "Expected end_lr > start_lr"),
        ({"steps": 2}, "Expected steps an integer >= 5. Received: steps=2"),
        ({"rule": "fast"}, "Expected rule one of min/10, valley, steepest. Received: rule='fast'"),
    ],
)
def test_bad_sweeps_are_refused(kwargs, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        lr_find(tiny_model(), quadrants(64), toy_config(), **kwargs)


def test_front_door(tmp_path):
    found = cl.lr_find(
        toy_config().model,
        data="quadrants",
        steps=20,
        batch_size=32,
        amp="none",
        out=tmp_path / "lr.png",
    )
    assert found.lrs[0] <= found.suggestion <= found.lrs[-1]
    assert (tmp_path / "lr.png").stat().st_size > 5000
    assert found._repr_png_().startswith(b"\x89PNG")
    assert "suggestion=" in repr(found)
    with pytest.raises(ConfigError, match="Expected rule one of"):
        cl.lr_find("fastcnn", rule="nope")
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        cl.lr_find("fastcnn", epoch=3)


def test_cli_lr_find(cli, tmp_path):
    out = tmp_path / "lr.png"
    spec = toy_config().model
    r = cli(
        "lr-find",
        "--model",
        spec,
        "--data",
        "quadrants",
        "--batch-size",
        "32",
        "--steps",
        "20",
        "--amp",
        "none",
        "--out",
        out,
    )
    assert r.code == 0, r
    assert "suggested lr" in r.out and "rule min/10" in r.out and out.exists()
    one_line_error(cli("lr-find", "--rule", "fast"), "Expected rule one of", "fast")
    one_line_error(cli("lr-find", "--out", tmp_path / "x.txt"), "Expected an output file")


def test_train_lr_find_trains_with_the_suggestion(cli, tmp_path):
    out = tmp_path / "run"
    r = cli(
        "train",
        "--model",
        toy_config().model,
        "--data",
        "quadrants",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--amp",
        "none",
        "--augment",
        "none",
        "--no-progress",
        "--lr",
        "find",
        "--out",
        out,
    )
    assert r.code == 0, r
    line = next(x for x in r.out.splitlines() if x.startswith("lr-find: training with lr"))
    lr = float(line.split()[4])
    saved = cl.load(out).config
    assert saved.lr == pytest.approx(lr, rel=1e-2)
    one_line_error(cli("train", "--lr", "fast"), "Expected a number or find")


def test_api_train_lr_find(tmp_path, capsys):
    run = cl.train(
        toy_config().model,
        data="quadrants",
        out=tmp_path / "r",
        lr="find",
        epochs=1,
        batch_size=32,
        amp="none",
        augment="none",
        progress=False,
    )
    assert "lr-find: training with lr" in capsys.readouterr().out
    assert run.config.lr != toy_config().lr  # not the default: the finder's
    assert RULES[0] == "min/10"
