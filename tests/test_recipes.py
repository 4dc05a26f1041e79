"""Named recipes: `convlens train --recipe NAME` reads a YAML file shipped in the package."""

from __future__ import annotations

import pytest

from convlens.config import TrainConfig, load_config_file, merge_config, recipe_file, recipe_names
from convlens.errors import ConfigError
from convlens.models.build import build
from convlens.models.summary import summary

from conftest import TOY_SPEC, install_toy_data, one_line_error


def test_every_shipped_recipe_is_a_valid_config():
    assert {"best", "cifar10_gpu", "lean", "tflop25"} <= set(recipe_names())
    for name in recipe_names():
        config = merge_config(TrainConfig(), load_config_file(recipe_file(name)))
        assert isinstance(config, TrainConfig)
    best = merge_config(TrainConfig(), load_config_file(recipe_file("best")))
    assert best.tta and "cutout" in best.augment and best.epochs > TrainConfig().epochs
    lean = merge_config(TrainConfig(), load_config_file(recipe_file("lean")))

    def mult_adds(spec: str) -> int:
        return summary(build(spec, (1, 28, 28), num_classes=10), (1, 28, 28)).total_mult_adds

    # a quarter of fastcnn's compute per image: 4.96 TFLOP for its 12,960 steps of 32 images
    assert mult_adds(lean.model) * 4 < mult_adds("fastcnn") * 1.05
    assert lean.steps is not None
    assert 4.9e12 < mult_adds(lean.model) * 6 * lean.steps * lean.batch_size < 5e12
    # 94% within 25 TFLOP: the same network, 24.9 TFLOP with flips, cutout and test-time flip
    tflop25 = merge_config(TrainConfig(), load_config_file(recipe_file("tflop25")))
    assert tflop25.steps is not None and tflop25.tta and "cutout" in tflop25.augment
    assert tflop25.model == lean.model
    assert 24e12 < mult_adds(tflop25.model) * 6 * tflop25.steps * tflop25.batch_size < 25e12


def test_unknown_recipe_names_the_recipes_and_suggests():
    with pytest.raises(
        ConfigError, match=r"unknown recipe 'bset'.*did you mean 'best'.*recipes: best"
    ):
        recipe_file("bset")


def test_recipe_on_the_command_line(cli, tmp_path, monkeypatch):
    install_toy_data(monkeypatch)
    one_line_error(
        cli("train", "--recipe", "best", "--config", tmp_path / "x.yaml"),
        "convlens train: error:",
        "give --recipe NAME or --config FILE.yaml, not both",
    )
    one_line_error(cli("train", "--recipe", "fastest"), "unknown recipe 'fastest'", "best")
    out = tmp_path / "run"
    r = cli(
        "train",
        "--recipe",
        "best",
        "--data",
        "quadrants",
        "--model",
        TOY_SPEC,
        "--epochs",
        "1",
        "--limit-train",
        "64",
        "--limit-test",
        "32",
        "--amp",
        "none",
        "--no-progress",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    saved = (out / "config.yaml").read_text()
    assert "cutout" in saved and "tta: true" in saved  # from the recipe; flags override it
    assert "epochs: 1" in saved
