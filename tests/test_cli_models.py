"""Tests of `convlens summary`, `convlens draw` and `convlens models`."""

from __future__ import annotations

import pytest
from PIL import Image

from convlens.models.registry import list_models

from conftest import one_line_error

NET_002 = "conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"


@pytest.mark.parametrize("command", ["summary", "draw"])
@pytest.mark.parametrize("shape", ["3by32", "0x28x28", "3x32", "3x-1x4"])
def test_malformed_input(cli, command, shape):
    result = cli(command, "conv 8 3", "--input", shape)
    one_line_error(
        result,
        f"convlens {command}: error: argument --input: Expected CxHxW",
        f"Received: '{shape}'",
    )


def test_draw_unknown_extension(cli, tmp_path):
    result = cli("draw", NET_002, "--input", "3x32x32", "--out", tmp_path / "arch.jpg")
    one_line_error(
        result,
        "convlens draw: error: Expected an output file ending in .png, .svg, .pdf. Received: out=",
        "arch.jpg",
    )
    assert not (tmp_path / "arch.jpg").exists()


@pytest.mark.parametrize("command", ["summary", "draw"])
def test_missing_spec_file(cli, command, tmp_path):
    missing = tmp_path / "nope.yaml"
    one_line_error(cli(command, missing, "--input", "1x28x28"), "spec file not found", "nope.yaml")


def test_summary_of_the_002_net(cli):
    result = cli("summary", NET_002, "--input", "3x32x32")
    assert result.code == 0, result
    assert "Total params: 94,890\nTrainable params: 94,890\nNon-trainable params: 0\n" in result.out
    assert "conv1 (Conv2d" in result.out and "(auto)" not in result.out
    assert "params = 3*3*" not in result.out


def test_summary_marks_an_automatic_flatten(cli):
    result = cli("summary", NET_002.replace("flatten, ", ""), "--input", "3x32x32")
    assert result.code == 0, result
    assert "(auto)" in result.out and "Total params: 94,890" in result.out


def test_summary_explain(cli):
    result = cli(
        "summary", "conv 32 3, maxpool 2, flatten, dense 10", "--input", "1x28x28", "--explain"
    )
    assert result.code == 0, result
    line = [ln for ln in result.out.splitlines() if ln.startswith("conv1 ")][-1]
    assert "Conv2d(1->32, 3x3)" in line and "params = 3*3*1*32 + 32 = 320" in line
    assert "28" in line and "= 26" in line


def test_draw_png_and_svg(cli, tmp_path):
    for name in ("arch.png", "arch.svg"):
        out = tmp_path / name
        result = cli("draw", NET_002, "--input", "3x32x32", "--out", out)
        assert result.code == 0 and str(out) in result.out, result
        assert out.stat().st_size > 1000
    assert Image.open(tmp_path / "arch.png").size[0] > 300


def test_unknown_model_name_suggests(cli):
    name = list_models()[0].name
    one_line_error(
        cli("summary", name[:-1] + "x" if len(name) > 3 else name + "x", "--input", "1x28x28")
    )


def test_kernel_larger_than_input(cli):
    one_line_error(cli("summary", "conv 8 7, dense 10", "--input", "1x5x5"), "7")


def test_spec_without_input(cli):
    one_line_error(cli("summary", "conv 8 3, dense 10"), "--input")


def test_models_lists_registry(cli):
    result = cli("models")
    assert result.code == 0, result
    for info in list_models():
        assert info.name in result.out
    assert result.out.splitlines()[0].split() == [
        "name",
        "params",
        "input",
        "source",
        "description",
    ]
    # one table, two doors: the command prints what cl.list_models() returns
    import convlens as cl

    assert result.out.rstrip("\n") == str(cl.list_models())


def test_a_spec_file_naming_its_input_needs_no_input_flag(cli, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 1x28x28\nlayers:\n  - conv 8 3\n  - maxpool 2\n  - dense 10\n")
    result = cli("summary", spec)
    assert result.code == 0 and "input 1x28x28" in result.out, result
    assert cli("draw", spec, "--out", tmp_path / "a.png").code == 0
    plain = tmp_path / "plain.yaml"
    plain.write_text("layers:\n  - conv 8 3\n  - dense 10\n")
    one_line_error(cli("summary", plain), "--input CxHxW is required")
