"""Tests of the layer-spec language: spellings, round trip, shapes, modules, error messages."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from convlens.errors import SpecError
from convlens.models.build import build
from convlens.models.spec import LayerSpec, infer_shapes, parse, read_spec_file, resolve, to_text

NET_001_TUPLES = [
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
NET_001_TEXT = (
    "conv 64 3 pad=same, conv 64 3 pad=same, maxpool 2, conv 128 3 pad=same, "
    "maxpool 2, conv 128 3 pad=same, flatten, dense 1024, dense 10"
)
NET_002 = "conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"

SPECS = [
    NET_002,
    NET_001_TEXT,
    "dense 64, dense 32, dense 10",
    "conv 8 3 stride=2 pad=1 dil=2 act=gelu bn=1, avgpool 3 stride=2 pad=1, gap, dense 5",
    "conv 8 5 pad=same act=none, bn, relu, maxpool 3 stride=1, dropout 0.25, dense 7 act=tanh",
    "conv 16 3 pad=same bn=1, res 16, res 32 stride=2, gap, dense 10",
    "conv 4 4 pad=same, conv 4 3 stride=2 pad=same act=leaky_relu, flatten, dense 6, silu, "
    "dense 3 act=sigmoid, dense 2",
    "dense 10 act=none, dense 3 act=relu",
]


def test_three_spellings_give_equal_layers(tmp_path):
    from_text = parse(NET_001_TEXT)
    yaml_list = tmp_path / "list.yaml"
    yaml_list.write_text("".join(f"- {s.strip()}\n" for s in NET_001_TEXT.split(",")))
    yaml_map = tmp_path / "map.yml"
    yaml_map.write_text("input: 3x32x32\nlayers: |\n  " + NET_001_TEXT.replace(", ", "\n  "))
    spellings = [
        NET_001_TUPLES,
        repr(NET_001_TUPLES),
        str(yaml_list),
        yaml_map,
        NET_001_TEXT.replace(", ", "\n"),
        [s for s in NET_001_TEXT.split(", ")],
    ]
    for spelling in spellings:
        assert parse(spelling) == from_text, spelling
    assert read_spec_file(yaml_map).input_shape == (3, 32, 32)
    assert read_spec_file(yaml_list).input_shape is None
    assert build(yaml_map).input_shape == (3, 32, 32)  # the file names its input


def test_layer_fields_and_defaults():
    conv, pool, *_, dense1, dense2 = parse(NET_002)
    assert conv == LayerSpec("conv", size=32, kernel=3, act="relu")
    assert (conv.position, conv.source) == (1, "conv 32 3")
    assert pool == LayerSpec("maxpool", kernel=2, stride=2)  # stride defaults to the kernel
    assert (dense1.act, dense2.act) == ("relu", "none")  # the last dense gives logits
    assert parse("maxpool 3 stride=2")[0].stride == 2
    assert parse("conv 8 3 pad=valid")[0] == parse("conv 8 3 pad=0")[0] == parse("conv 8 3")[0]
    assert parse("linear 10") == parse("dense 10") == parse("DENSE 10")
    assert parse("gelu") == parse("act gelu") == parse("act=gelu") == [LayerSpec("act", act="gelu")]
    assert parse("conv 8 3 # a comment\n\ndense 2,") == parse("conv 8 3, dense 2")
    # notebook 001: ('c', ...) is conv with same padding
    assert parse([("c", 8, 3)])[0].padding == "same"
    assert parse([("dropout", 0.5), ("d", 2)])[0].p == 0.5
    assert parse("dense {num_classes}", num_classes=7)[0].size == 7


@pytest.mark.parametrize("spec", SPECS)
def test_round_trip(spec):
    layers = parse(spec)
    assert parse(to_text(layers)) == layers
    assert to_text(to_text(layers)) == to_text(layers)


def _random_layer(rng: random.Random, spatial: bool) -> str:
    act = rng.choice(["", " act=none", " act=relu", " act=gelu", " act=tanh", " act=leaky_relu"])
    if spatial:
        kind = rng.choice(["conv", "maxpool", "avgpool", "bn", "relu", "silu", "dropout", "res"])
        if kind == "conv":
            return (
                f"conv {rng.randint(1, 64)} {rng.randint(1, 5)}"
                + rng.choice(["", " stride=2", " stride=1"])
                + rng.choice(["", " pad=same", " pad=valid", " pad=1", " pad=2"])
                + rng.choice(["", " dil=1", " dil=2"])
                + act
                + rng.choice(["", " bn=1", " bn=0"])
            )
        if kind in ("maxpool", "avgpool"):
            k = rng.randint(1, 4)
            return (
                f"{kind} {k}"
                + rng.choice(["", f" stride={rng.randint(1, 3)}"])
                + rng.choice(["", f" pad={k // 2}"])
            )
        if kind == "res":
            return f"res {rng.randint(1, 64)}" + rng.choice(["", " stride=2"])
    else:
        kind = rng.choice(["dense", "dropout", "bn", "tanh"])
        if kind == "dense":
            return f"{rng.choice(['dense', 'linear'])} {rng.randint(1, 500)}{act}"
    if kind == "dropout":
        return f"dropout {rng.choice([0, 0.1, 0.5, rng.random() * 0.99])}"
    return kind


def test_round_trip_randomized():
    rng = random.Random(1234)
    for _ in range(300):
        words = [_random_layer(rng, True) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.5:
            words.append(rng.choice(["flatten", "gap"]))
        words += [_random_layer(rng, False) for _ in range(rng.randint(0, 4))]
        words.append(f"dense {rng.randint(1, 20)}")
        sep = rng.choice([", ", ",", "\n", " ,\n "])
        layers = parse(sep.join(words))
        assert parse(to_text(layers)) == layers, words
        assert to_text(parse(to_text(layers))) == to_text(layers)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 19, 23)])
def test_inferred_shapes_match_a_real_forward_pass(spec, shape):
    model = build(spec, shape)
    assert [la.kind for la in model.layers if not la.implicit] == [la.kind for la in parse(spec)]
    expected = infer_shapes(model.layers, shape)
    assert expected == model.shapes
    x = torch.randn(2, *shape)
    seen = []
    for child in model.eval().children():
        x = child(x)
        seen.append(tuple(x.shape[1:]))
    assert seen == expected
    assert model.output_shape == expected[-1]


def test_model_structure_names_and_attributes():
    model = build(NET_002, (3, 32, 32))
    assert isinstance(model, nn.Sequential)
    assert [n for n, _ in model.named_children()] == [
        "conv1",
        "maxpool1",
        "conv2",
        "maxpool2",
        "conv3",
        "flatten1",
        "dense1",
        "dense2",
    ]
    assert model.spec_text == NET_002 and model.layers == parse(NET_002)
    assert model.input_shape == (3, 32, 32)
    assert [type(m) for m in model.conv1] == [nn.Conv2d, nn.ReLU]
    assert model.conv1[1].inplace  # in place: faster, and our hooks clone
    assert [type(m) for m in model.dense2] == [nn.Linear]  # logits, no activation
    assert sum(p.numel() for p in model.parameters()) == 94_890  # notebook 002's summary


def test_implicit_flatten_before_dense():
    model = build("conv 4 3, dense 10", (1, 8, 8))
    assert [n for n, _ in model.named_children()] == ["conv1", "flatten1", "dense1"]
    assert model.layers[1].implicit and not parse("flatten, dense 1")[0].implicit
    assert model.spec_text == "conv 4 3, dense 10"  # the auto layer is not written out
    assert model.shapes == [(4, 6, 6), (144,), (10,)]
    assert len(resolve("dense 3", (5,))) == 1  # a vector input needs no flatten
    assert build("dense 3", (5,))(torch.randn(2, 5)).shape == (2, 3)


def test_bn_option_activation_and_res_block():
    model = build(
        "conv 8 3 pad=same bn=1 act=gelu, bn, res 8, res 16 stride=2, gap, dense 4, bn", (3, 16, 16)
    )
    conv, bn2d, res_same, res_down = model.conv1, model.bn1, model.res1, model.res2
    assert [type(m) for m in conv] == [nn.Conv2d, nn.BatchNorm2d, nn.GELU]
    assert conv[0].bias is None  # the BN shift replaces the bias
    assert isinstance(bn2d, nn.BatchNorm2d) and isinstance(model.bn2, nn.BatchNorm1d)
    assert isinstance(res_same.shortcut, nn.Identity)
    assert isinstance(res_down.shortcut[0], nn.Conv2d) and res_down.shortcut[0].stride == (2, 2)
    assert model.shapes[3] == (16, 8, 8) and model.shapes[4] == (16,)
    # the skip is real: zeroing the main path leaves relu(shortcut(x))
    x = torch.randn(2, 8, 16, 16)
    nn.init.zeros_(res_same.bn2.weight)
    assert torch.allclose(res_same.eval()(x), torch.relu(x))
    model.train()
    model(torch.randn(3, 3, 16, 16)).sum().backward()


def test_pad_same_with_stride():
    assert infer_shapes("conv 4 3 stride=2 pad=same", (1, 7, 8)) == [(4, 4, 4)]
    assert build("conv 4 5 stride=3 pad=same", (1, 10, 10))(torch.zeros(1, 1, 10, 10)).shape == (
        1,
        4,
        4,
        4,
    )


def test_literal_eval_never_runs_code():
    with pytest.raises(SpecError, match="only literal values"):
        parse("[__import__('os').system('echo hacked')]")


BAD_SPECS = [
    # (spec, input shape, words the message must hold)
    (
        "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 7, flatten, dense 10",
        (3, 20, 20),
        [
            "layer 5 'conv 64 7': input is 64x3x3 after layer 4, a 7x7 kernel does not fit with "
            "pad=valid; use pad=same or a kernel <= 3"
        ],
    ),
    (
        "conv 8 3 dil=3, dense 2",
        (1, 6, 6),
        ["layer 1 'conv 8 3 dil=3'", "dil=3 (spans 7)", "(the model input)"],
    ),
    (
        "conv 8 3, maxpool 4, dense 2",
        (1, 5, 5),
        ["layer 2 'maxpool 4'", "input is 8x3x3", "a 4x4 pool does not fit", "kernel <= 3"],
    ),
    (
        "conx 32 3",
        (1, 28, 28),
        ["layer 1 'conx 32 3'", "unknown layer 'conx'", "did you mean 'conv'"],
    ),
    (
        "conv 32, dense 10",
        (1, 28, 28),
        ["layer 1 'conv 32'", "missing the kernel number", "conv CHANNELS KERNEL"],
    ),
    ("dense", (1, 28, 28), ["layer 1 'dense'", "missing the units number"]),
    (
        "conv -3 3",
        (1, 28, 28),
        ["channels must be a positive whole number", "Received: channels=-3"],
    ),
    ("conv 8 0", (1, 28, 28), ["Received: kernel=0"]),
    ("dense 0", (1, 28, 28), ["Received: units=0"]),
    ("conv 8.5 3", (1, 28, 28), ["channels must be a whole number", "Received: channels='8.5'"]),
    ("conv 8 3 stride=0", (1, 28, 28), ["Received: stride=0"]),
    ("conv 8 3 pad=-1", (1, 28, 28), ["bad pad='-1'", "valid, same or a whole number"]),
    (
        "dense 10, dropout 1.5",
        (1, 28, 28),
        ["layer 2 'dropout 1.5'", "dropout rate must be in [0, 1)", "rate=1.5"],
    ),
    ("dropout 1, dense 2", (1, 28, 28), ["rate=1.0"]),
    ("dropout -0.1, dense 2", (1, 28, 28), ["rate=-0.1"]),
    ("conv 8 3, flatten", (1, 28, 28), ["layer 2 'flatten'", "nothing after flatten"]),
    ("", (1, 28, 28), ["empty spec"]),
    (" ,\n # only a comment", (1, 28, 28), ["empty spec"]),
    ([], (1, 28, 28), ["empty spec"]),
    (
        "conv 8 3 act=rleu",
        (1, 28, 28),
        ["bad act='rleu'", "did you mean 'relu'", "none, relu, gelu"],
    ),
    ("act swish", (1, 28, 28), ["bad activation 'swish'"]),
    (
        "conv 8 3 strid=2",
        (1, 28, 28),
        [
            "unknown option 'strid='",
            "did you mean 'stride'",
            "conv takes stride=, pad=, dil=, act=, bn=",
        ],
    ),
    ("dense 10 bn=1", (1, 28, 28), ["unknown option 'bn='", "dense takes act="]),
    ("flatten x=1, dense 1", (1, 28, 28), ["flatten takes no options"]),
    ("conv 8 3 4", (1, 28, 28), ["unexpected '4'", "conv takes 'conv CHANNELS KERNEL'"]),
    ("maxpool 2 pad=same", (1, 28, 28), ["pools take pad=valid or a whole number"]),
    ("maxpool 2 pad=2", (1, 28, 28), ["pad must be at most half the kernel (1)"]),
    ("conv 8 4 stride=2 pad=same", (1, 28, 28), ["needs an odd kernel"]),
    (
        "dense 10, conv 8 3",
        (1, 28, 28),
        [
            "layer 2 'conv 8 3': input is 10 after layer 1, a "
            "vector, but conv needs a CxHxW feature map"
        ],
    ),
    ("gap, gap", (3, 8, 8), ["layer 2 'gap'", "gap needs a CxHxW"]),
    ("softmax", (1, 28, 28), ["the last dense gives logits"]),
    ("dense {num_classes}", (1, 28, 28), ["'{num_classes}' needs a value"]),
    ("[('c', 8, 3", (1, 28, 28), ["cannot read the layer list", "list of tuples"]),
    ([("c", 8)], (1, 28, 28), ["layer 1 ('c', 8)", "missing the kernel number"]),
    ([42], (1, 28, 28), ["layer 1: expected text like 'conv 32 3'", "Received: 42"]),
    ("conv 8 3", (1, 28), ["Expected input_shape (C, H, W)", "Received: input_shape=(1, 28)"]),
    ("conv 8 3", (0, 28, 28), ["Received: input_shape=(0, 28, 28)"]),
]


@pytest.mark.parametrize("spec, shape, fragments", BAD_SPECS)
def test_bad_specs_have_clear_one_line_messages(spec, shape, fragments):
    with pytest.raises(SpecError) as info:
        build(spec, shape)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_spec_file_errors(tmp_path):
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("layers: [conv 8 3\n  - : :\n")
    with pytest.raises(SpecError, match=r"spec file '.*broken\.yaml' line 2 is not valid YAML"):
        parse(bad_yaml)
    with pytest.raises(SpecError, match=r"spec file not found: '.*missing\.yaml'"):
        parse(str(tmp_path / "missing.yaml"))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("42\n")
    with pytest.raises(
        SpecError, match="expected a list of layers or a mapping with 'layers:'. Received: int"
    ):
        parse(wrong)
    typo = tmp_path / "typo.yaml"
    typo.write_text("layer: [dense 10]\n")
    with pytest.raises(SpecError, match="unknown key 'layer' \\(did you mean 'layers'\\?\\)"):
        parse(typo)
    bad_layer = tmp_path / "bad_layer.yaml"
    bad_layer.write_text("input: 1x28x28\nlayers:\n  - conv 8 3\n  - dense: 10\n  - pool 2\n")
    with pytest.raises(
        SpecError,
        match=r"spec file '.*bad_layer\.yaml': layer 3 'pool 2': "
        r"unknown layer 'pool'",
    ):
        parse(bad_layer)
    bad_input = tmp_path / "bad_input.yaml"
    bad_input.write_text("input: 28x28\nlayers: [dense 10]\n")
    with pytest.raises(SpecError, match="bad input '28x28'; expected CxHxW"):
        read_spec_file(bad_input)
    no_input = tmp_path / "no_input.yaml"
    no_input.write_text("- dense 10\n")
    with pytest.raises(SpecError, match="Expected an input_shape"):
        build(no_input)


def test_slicing_copying_and_hand_made_layers():
    import copy

    model = build("conv 4 3, maxpool 2, dense 3", (1, 10, 10))
    head = model[:2]  # a plain Sequential of the first two children, names kept
    assert type(head) is nn.Sequential and list(head._modules) == ["conv1", "maxpool1"]
    assert head(torch.randn(1, 1, 10, 10)).shape == (1, 4, 4, 4)
    assert model["dense1"] is model[3] and isinstance(model[0][0], nn.Conv2d)
    clone = copy.deepcopy(model)
    assert clone.spec_text == model.spec_text and clone.layers == model.layers
    hand_made = [LayerSpec("conv", size=4, kernel=9, act="relu")]
    with pytest.raises(SpecError, match="layer 1 'conv 4 9': input is 1x5x5 \\(the model input\\)"):
        infer_shapes(hand_made, (1, 5, 5))
