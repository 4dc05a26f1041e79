"""Tests of convlens.summary: numbers proven against PyTorch and the notebook figures."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import convlens
from convlens.errors import ConfigError, ModelError
from convlens.models.build import build
from convlens.models.summary import LayerRow, ModelSummary, summary

NET_002 = "conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"
NET_004 = "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"


def notebook_net(in_ch: int, widths: tuple[int, int, int], flat: int) -> nn.Sequential:
    """The notebook CNN as plain PyTorch: three 3x3 convs, two 2x2 max pools, two dense."""
    a, b, c = widths
    return nn.Sequential(
        nn.Conv2d(in_ch, a, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(a, b, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(b, c, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(flat, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


class FakeLayer:
    def __init__(self, kind: str, implicit: bool = False) -> None:
        self.kind, self.implicit = kind, implicit


class FakeSpecModel(nn.Sequential):
    """Stands in for convlens.models.SpecModel: one child per spec layer, `.layers`."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("conv1", nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU()))
        self.add_module("maxpool1", nn.MaxPool2d(2))
        self.add_module("flatten1", nn.Flatten())
        self.add_module("dense1", nn.Linear(32 * 13 * 13, 10))
        self.spec_text = "conv 32 3, maxpool 2, dense 10"
        self.layers = [
            FakeLayer("conv"),
            FakeLayer("maxpool"),
            FakeLayer("flatten", True),
            FakeLayer("dense"),
        ]
        self.input_shape = (1, 28, 28)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.short = nn.Conv2d(8, 8, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem(x))
        x = self.act(self.conv(x)) + self.short(x)  # self.act runs twice
        return self.fc(self.gap(x).flatten(1))


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_package_attribute_is_the_function():
    assert callable(convlens.summary) and convlens.summary is summary
    assert isinstance(convlens.summary(nn.Linear(3, 2), (3,)), ModelSummary)


@pytest.mark.parametrize(
    "model, shape, total",
    [
        (notebook_net(3, (32, 32, 64), 64 * 4 * 4), (3, 32, 32), 94_890),  # notebook 002
        (notebook_net(1, (32, 64, 64), 64 * 3 * 3), (1, 28, 28), 93_322),  # notebook 004
    ],
)
def test_notebook_param_counts(model, shape, total):
    s = summary(model, shape)
    assert s.total_params == total == sum(p.numel() for p in model.parameters())
    assert s.trainable_params == total and s.non_trainable_params == 0
    text = str(s)
    assert repr(s) == text  # a REPL shows the table, not the dataclass
    assert (
        f"Total params: {total:,}\nTrainable params: {total:,}\nNon-trainable params: 0\n" in text
    )
    assert "Total mult-adds:" in text and "Params size:" in text


def test_spec_models_match_notebooks():
    for spec, shape, total in ((NET_002, (3, 32, 32), 94_890), (NET_004, (1, 28, 28), 93_322)):
        s = summary(build(spec, shape, num_classes=10), shape)
        assert s.total_params == total
        assert [r.name for r in s.rows][:2] == ["conv1", "maxpool1"]
        assert any(r.kind.endswith("(auto)") for r in s.rows) or "flatten" in spec


def test_first_layer_320_like_notebook_004():
    # 3x3 kernel, 32 feature maps: 3*3*32 = 288 weights + 32 biases = 320.
    s = summary(notebook_net(1, (32, 64, 64), 64 * 3 * 3), (1, 28, 28))
    first = s.rows[0]
    assert first.params == 3 * 3 * 1 * 32 + 32 == 320
    assert first.param_formula == "3*3*1*32 + 32 = 320"
    assert first.description == "Conv2d(1->32, 3x3)"
    second_conv = next(r for r in s.rows if r.name == "3")
    assert second_conv.params == 18_496 and "3*3*32*64 + 64 = 18,496" in second_conv.param_formula
    line = s.explain().splitlines()[0]
    assert line.startswith("0   Conv2d(1->32, 3x3): params = 3*3*1*32 + 32 = 320; out = ")
    assert "28" in line and line.endswith("26 -> 32x26x26")


def test_shapes_come_from_a_real_forward_pass():
    model = notebook_net(3, (32, 32, 64), 64 * 4 * 4)
    x, expected = torch.randn(1, 3, 32, 32), []
    for layer in model:
        x = layer(x)
        expected.append(tuple(x.shape[1:]))
    s = summary(model, (3, 32, 32))
    assert [r.output_shape for r in s.rows] == expected
    assert [r.name for r in s.rows] == [str(i) for i in range(len(model))]


def test_mult_adds_receptive_field_and_memory():
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, groups=2),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, dilation=2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 5),
    )
    s = summary(model, (4, 14, 14))
    conv, bn, relu, pool, dil, flat, fc = s.rows
    assert conv.mult_adds == 8 * 12 * 12 * (4 // 2) * 3 * 3  # out elems * in/groups * kh * kw
    assert bn.mult_adds == relu.mult_adds == pool.mult_adds == flat.mult_adds == 0
    assert dil.mult_adds == 6 * 2 * 2 * 8 * 3 * 3
    assert fc.mult_adds == 24 * 5
    assert s.total_mult_adds == sum(r.mult_adds for r in s.rows)
    # r_out = r_in + (k-1)*d*j_in, j_out = j_in*s; dense/flatten see everything
    assert (conv.rf_size, conv.rf_jump) == ((3, 3), (1, 1))
    assert (pool.rf_size, pool.rf_jump) == ((4, 4), (2, 2))
    assert (dil.rf_size, dil.rf_jump) == ((4 + 2 * 2 * 2,) * 2, (2, 2))
    assert flat.rf_size is None and fc.receptive_field == "full"
    assert dil.receptive_field == "12 (2)"
    for r in s.rows:
        assert r.memory_bytes == math.prod(r.output_shape) * 4
    assert s.activation_bytes == sum(r.memory_bytes for r in s.rows)
    assert s.input_bytes == 4 * 14 * 14 * 4


def test_non_trainable_params_and_html():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)
    )
    for p in model[0].parameters():
        p.requires_grad_(False)
    s = summary(model, (1, 8, 8))
    assert s.non_trainable_params == 40 and s.trainable_params == 8 + 290
    assert s.rows[0].non_trainable_params == 40
    assert "Non-trainable params: 40" in str(s)
    page = s._repr_html_()
    assert page.count("<tr>") == len(s.rows) + 1 and "Total params: 338" in page


def test_any_module_shared_call_and_residual():
    model = Residual()
    s = summary(model, (3, 16, 16))
    assert s.total_params == sum(p.numel() for p in model.parameters())
    names = [r.name for r in s.rows]
    assert names.count("act") == 2  # called twice, appears twice
    second = [r for r in s.rows if r.name == "act"][1]
    assert second.repeat and "(shared)" in str(s)
    # after `a + b` the field is the larger branch: stem 3, conv 3+2 = 5
    assert s.rows[names.index("gap")].rf_size is None
    assert s.rows[names.index("conv")].rf_size == (5, 5)
    assert s.rows[names.index("short")].rf_size == (3, 3)


def test_module_with_own_parameters_gets_a_row():
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(3))
            self.lin = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * self.gain

    model = nn.Sequential(Scale(), nn.Linear(3, 1))
    s = summary(model, (3,))
    assert [(r.name, r.params) for r in s.rows] == [("0.lin", 12), ("0", 3), ("1", 4)]
    assert sum(r.params for r in s.rows) == s.total_params == 19


def test_spec_like_model_one_row_per_layer():
    s = summary(FakeSpecModel(), (1, 28, 28))
    assert [r.name for r in s.rows] == ["conv1", "maxpool1", "flatten1", "dense1"]
    assert [r.kind for r in s.rows] == ["Conv2d+ReLU", "MaxPool2d", "Flatten (auto)", "Linear"]
    assert s.rows[0].params == 320 and s.rows[0].rf_size == (3, 3)
    assert s.rows[1].rf_size == (4, 4) and s.rows[1].output_shape == (32, 13, 13)
    assert "flatten1 (Flatten) (auto)" in str(s)
    assert s.spec_text == "conv 32 3, maxpool 2, dense 10"
    assert (
        s.explain()
        .splitlines()[0]
        .startswith("conv1     Conv2d(1->32, 3x3)+ReLU: params = 3*3*1*32 + 32 = 320; out = ")
    )


def test_eval_no_grad_then_state_restored():
    seen = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((self.training, torch.is_grad_enabled(), x.shape[0]))
            return x

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(), Probe())
    model.train()
    model[1].eval()
    summary(model, (1, 5, 5))
    assert seen == [(False, False, 1)]
    assert model.training and not model[1].training and model[2].training
    assert no_hooks(model)


def test_hooks_removed_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom\nsecond line")

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Boom())
    model.train()
    with pytest.raises(
        ModelError,
        match=r"^layer '1' \(Boom\) failed on 2x3x3 from input 1x5x5: boom$",
    ):
        summary(model, (1, 5, 5))
    assert no_hooks(model) and model.training and model[0].training


def test_wrong_channels_names_the_shape():
    with pytest.raises(ModelError) as exc:
        summary(nn.Conv2d(1, 2, 3), (3, 8, 8))
    assert str(exc.value) == (
        "the model (Conv2d, kernel 3x3) expects 1 input channel; it received 3x8x8"
    )


# The words a wrong input shape gets, by where it goes wrong: the layer, what it expects, what
# it received (and from which input), and what the model was built for.
WRONG_SHAPES = [
    (
        (3, 32, 32),
        "layer 'conv1' (Conv2d, kernel 3x3) expects 1 input channel; it received 3x32x32; "
        "the model takes 1x28x28",
    ),
    (
        (1, 20, 20),
        "layer 'dense1' (Linear) expects 576 features; it received 64 from input 1x20x20; "
        "the model takes 1x28x28",
    ),
    (
        (1, 8, 8),
        "layer 'maxpool2' (MaxPool2d, kernel 2x2) expects maps of at least 2x2 pixels; it "
        "received 64x1x1 from input 1x8x8; the model takes 1x28x28",
    ),
    (
        (1, 4, 4),
        "layer 'conv2' (Conv2d, kernel 3x3) expects maps of at least 3x3 pixels; it received "
        "32x1x1 from input 1x4x4; the model takes 1x28x28",
    ),
]


@pytest.mark.parametrize(("shape", "words"), WRONG_SHAPES)
def test_a_wrong_input_shape_names_the_layer_and_what_it_expects(shape, words):
    model = build("keras_mnist")
    with pytest.raises(ModelError) as exc:
        summary(model, shape)
    assert str(exc.value) == words and no_hooks(model)


def test_a_failure_in_the_models_own_code_names_the_layer_before_it():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(10, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).view(-1, 10))  # a wrong view, between two layers

    with pytest.raises(ModelError) as exc:
        summary(Net(), (1, 28, 28))
    assert str(exc.value) == (
        "the forward pass on input 1x28x28 failed after layer 'conv' (its output: 4x26x26): "
        "shape '[-1, 10]' is invalid for input of size 2704"
    )
    with pytest.raises(ModelError, match=r"^layer '1' \(BatchNorm2d\) expects 5 channels; "):
        summary(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(5)), (1, 28, 28))


@pytest.mark.parametrize("shape", [(0, 28, 28), (3, -1, 2), ("a", 2, 2), (), (2.5, 3, 3)])
def test_bad_input_shape(shape):
    with pytest.raises(ConfigError, match=r"Expected input_shape .* Received: input_shape="):
        summary(nn.Flatten(), shape)


def test_row_is_frozen():
    row = summary(nn.Linear(2, 2), (2,)).rows[0]
    assert isinstance(row, LayerRow)
    with pytest.raises(AttributeError):
        row.params = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "pool, shape, out",
    [
        (nn.MaxPool2d(2, ceil_mode=True), (1, 1, 1), 1),  # floor formula: 0 windows
        (nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 2, 2), 1),
        (nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True), (1, 5, 5), 3),  # last one dropped
    ],
)
def test_explain_a_ceil_mode_pool(pool, shape, out):
    s = summary(nn.Sequential(pool), shape)
    assert s.rows[0].output_shape == (1, out, out)
    line = s.explain()
    assert "ceil_mode" in line and f"= {out}" in line and line.endswith(f"-> 1x{out}x{out}")
    assert line.split("out = ")[1].startswith("ceil((")


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
def test_recurrent_mult_adds_per_time_step():
    # weights per step: gates * hidden * (inputs + hidden), per layer and direction
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True, batch_first=True)
    per_step = 2 * 4 * 20 * (10 + 20) + 2 * 4 * 20 * (2 * 20 + 20)
    assert summary(lstm, (7, 10)).total_mult_adds == 7 * per_step == 100_800
    gru = nn.GRU(8, 16, batch_first=True)
    assert summary(gru, (5, 8)).rows[0].mult_adds == 5 * 3 * 16 * (8 + 16)
    for batch_first in (True, False):  # (3, 4) is 3 steps, or 3 sequences of one step
        rnn = nn.RNN(4, 6, batch_first=batch_first)
        assert summary(rnn, (3, 4)).total_mult_adds == 3 * 1 * 6 * (4 + 6)
    proj = nn.LSTM(3, 8, proj_size=2, batch_first=True)  # hidden-hidden reads the projection
    assert summary(proj, (4, 3)).total_mult_adds == 4 * (4 * 8 * (3 + 2) + 8 * 2)
    cell = nn.Sequential(nn.LSTMCell(5, 7))
    assert summary(cell, (5,)).total_mult_adds == 4 * 7 * (5 + 7)
