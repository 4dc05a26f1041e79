"""Tests of the model registry: every model builds and trains; notebook parameter counts."""

from __future__ import annotations

import pytest
import torch

from convlens.errors import ModelError, SpecError
from convlens.models import registry
from convlens.models.build import build
from convlens.models.registry import list_models, model_info, register_model
from convlens.models.spec import parse

NAMES = [info.name for info in list_models()]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_the_notebook_models():
    assert {
        "keras_mnist",
        "cifar_vgg",
        "cifar_tf",
        "conv5x5",
        "mlp_small",
        "pytorch_net",
        "mlp",
        "fastcnn",
        "resnet_small",
    } <= set(NAMES)
    for info in list_models():
        assert info.description and info.source and len(info.default_input) == 3
        assert info.spec is not None and "{num_classes}" in info.spec  # every one is a spec


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_model_builds_runs_and_learns(name, shape):
    model = build(name, shape, num_classes=7)
    assert parse(model.spec_text) == [la for la in model.layers if not la.implicit]
    x = torch.randn(3, *shape)
    out = model(x)
    assert out.shape == (3, 7)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# Parameter counts, by hand (params = k*k*in*out + out for a conv, in*out + out for a dense):
PARAMS = [
    # 000: 320 + 18,496 + 36,928 + (3*3*64=576)*64+64 = 36,928 + 650 = 93,322 (exact)
    ("keras_mnist", (1, 28, 28), 93_322),
    # 001: 1,792 + 36,928 + 73,856 + 147,584 + (8*8*128=8,192)*1024+1024 = 8,389,632
    #      + 10,250 = 8,660,042 (same as the notebook's Keras summary rows)
    ("cifar_vgg", (3, 32, 32), 8_660_042),
    # 002: 896 + 9,248 + 18,496 + (4*4*64=1,024)*64+64 = 65,600 + 650 = 94,890 (exact)
    ("cifar_tf", (3, 32, 32), 94_890),
    # 003: 5*5*1*32+32 = 832 + 5*5*32*64+64 = 51,264 + (4*4*64=1,024)*100+100 = 102,500
    #      + 1,010 = 155,606
    ("conv5x5", (1, 28, 28), 155_606),
    # 003 MLP: 784*64+64 = 50,240 + 2,080 + 330 = 52,650
    ("mlp_small", (1, 28, 28), 52_650),
    # 004: same layers as 000 plus a dropout (no params) = 93,322; first layer 3*3*32+32 = 320
    ("pytorch_net", (1, 28, 28), 93_322),
    # baseline: 784*112+112 = 87,920 + 112*48+48 = 5,424 + 490 = 93,834 (~ keras_mnist)
    ("mlp", (1, 28, 28), 93_834),
]


@pytest.mark.parametrize("name, shape, expected", PARAMS)
def test_parameter_counts_match_the_notebooks(name, shape, expected):
    assert n_params(build(name, shape)) == expected


def test_pytorch_net_layers():
    model = build("pytorch_net")
    assert n_params(model.conv1) == 320
    assert [n for n, _ in model.named_children()] == [
        "conv1",
        "maxpool1",
        "conv2",
        "maxpool2",
        "conv3",
        "flatten1",
        "dense1",
        "dropout1",
        "dense2",
    ]
    assert model.dropout1.p == 0.5


def test_cifar_vgg_is_the_notebook_tuple_list():
    model = build("cifar_vgg")  # default input 3x32x32
    assert model.input_shape == (3, 32, 32)
    assert model.layers == parse(
        [
            ("c", 64, 3),
            ("c", 64, 3),
            ("m", 2),
            ("c", 128, 3),
            ("m", 2),
            ("c", 128, 3),
            ("f", None),
            ("d", 1024),
            ("d", 10),
        ]
    )


def test_stronger_nets_use_batch_norm_and_residuals():
    fast, res = build("fastcnn"), build("resnet_small", num_classes=3)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert [la.kind for la in res.layers].count("res") == 3
    assert res(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_registry_model_options():
    model = build("keras_mnist", (3, 32, 40), num_classes=5)
    assert model.input_shape == (3, 32, 40) and model.output_shape == (5,)
    with pytest.raises(ModelError, match="Expected num_classes >= 1. Received: num_classes=0"):
        build("keras_mnist", num_classes=0)
    with pytest.raises(ModelError, match="takes no options. Received: width=2"):
        build("keras_mnist", width=2)
    with pytest.raises(SpecError, match="does not fit"):
        build("keras_mnist", (1, 8, 8))


def test_build_accepts_every_spelling(tmp_path):
    text = "conv 8 3, maxpool 2, flatten, dense {num_classes}"
    path = tmp_path / "net.yaml"
    path.write_text(
        "input: 1x12x12\nlayers:\n  - conv 8 3\n  - maxpool 2\n  - flatten\n  - dense 4\n"
    )
    models = [
        build(text, (1, 12, 12), num_classes=4),
        build("[('conv', 8, 3), ('m', 2), ('f', None), ('d', 4)]", (1, 12, 12)),
        build(str(path)),
        build(path, (1, 12, 12)),
    ]
    for model in models:
        assert model.spec_text == "conv 8 3, maxpool 2, flatten, dense 4"
        assert model(torch.randn(2, 1, 12, 12)).shape == (2, 4)
    assert build("keras_mnist").spec_text.endswith("dense 10")


def test_unknown_names():
    with pytest.raises(
        ModelError,
        match="unknown model 'keras_mnst' \\(did you mean "
        "'keras_mnist'\\?\\); known: keras_mnist, ",
    ):
        build("keras_mnst", (1, 28, 28))
    with pytest.raises(ModelError, match="or give a spec like"):
        build("nothing", (1, 28, 28))
    with pytest.raises(ModelError, match="did you mean 'fastcnn'"):
        model_info("fast_cnn")
    with pytest.raises(SpecError, match="missing the units number"):  # a keyword: a spec
        build("dense", (1, 28, 28))


def test_register_model_with_a_hand_written_factory():
    @register_model("tiny_test_net", description="test", source="tests")
    def tiny(*, in_channels, num_classes, image_size, **kwargs):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))

    try:
        model = build("tiny_test_net", num_classes=3)
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)
        assert model_info("tiny_test_net").spec is None
        with pytest.raises(ModelError, match="already registered"):
            register_model("tiny_test_net", description="x", source="x")(tiny)
    finally:
        registry._REGISTRY.pop("tiny_test_net")


def test_a_seed_builds_the_same_weights_and_leaves_the_global_state_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = (
        build("conv 8 3, dense 4", (1, 8, 8), seed=0),
        build("conv 8 3, dense 4", (1, 8, 8), seed=0),
    )
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(torch.rand(1), before)  # as if no model had been built
    c = build("conv 8 3, dense 4", (1, 8, 8), seed=1)
    assert not torch.equal(a.state_dict()["conv1.0.weight"], c.state_dict()["conv1.0.weight"])
