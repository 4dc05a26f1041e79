"""Tests of the speed switches: each gives the plain path's numbers (within what its
arithmetic allows), and --compile says it is slower on CPU."""

from __future__ import annotations

import pytest
import torch

from convlens.config import TrainConfig
from convlens.engine import loop, train
from convlens.models.build import build

from conftest import TOY_SPEC, install_toy_data, quadrants, toy_config


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install_toy_data(monkeypatch)


def trained(spec: str = TOY_SPEC, **switches) -> dict[str, torch.Tensor]:
    """The weights after 2 epochs of the toy run of `spec` with `switches` on the config."""
    torch.manual_seed(0)
    model = build(spec, (1, 8, 8), num_classes=4)
    cfg = toy_config(epochs=2, model=spec, **switches)
    loop.fit(model, quadrants(192), quadrants(96, 1), cfg, log=None)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_fused_optimizer_gives_the_plain_numbers(optimizer):
    plain = trained(optimizer=optimizer)
    fused = trained(optimizer=optimizer, fused_optimizer=True)
    torch.manual_seed(0)
    start = build(TOY_SPEC, (1, 8, 8), num_classes=4).state_dict()
    assert not torch.equal(start["conv1.0.weight"], plain["conv1.0.weight"])  # it trained
    for key, value in plain.items():
        # the same float32 update in one kernel: only the order of operations differs
        torch.testing.assert_close(fused[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_fused_optimizer_is_on_by_default_on_cpu():
    from convlens.config import TrainConfig
    from convlens.engine.optim import make_optimizer

    model = build(TOY_SPEC, (1, 8, 8), num_classes=4)
    assert make_optimizer(model, TrainConfig()).defaults["fused"] is True
    off = make_optimizer(model, TrainConfig(fused_optimizer=False))
    assert not off.defaults["fused"]


def test_compile_warns_on_cpu(monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "compile", lambda model: model)  # the warning, not the compiler
    lines: list[str] = []
    train.train(toy_config(epochs=1, compile=True, out=str(tmp_path / "r")), log=lines.append)
    warnings = [x for x in lines if x.startswith("warning: --compile is slower on CPU")]
    assert len(warnings) == 1
    lines.clear()
    train.train(toy_config(epochs=1, out=str(tmp_path / "r2")), log=lines.append)
    assert not [x for x in lines if x.startswith("warning")]


POOLED_SPEC = "conv 8 3 pad=same, maxpool 2, conv 8 3 pad=same bn=1, maxpool 2, dense {num_classes}"


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_relu_after_pool_gives_the_plain_numbers(amp):
    # ReLU and max-pool commute (both monotone): the same forward values and the same
    # gradient routing, so the same weights after training, to the bit
    plain = trained(POOLED_SPEC, amp=amp, relu_after_pool=False)
    swapped = trained(POOLED_SPEC, amp=amp, relu_after_pool=True)
    torch.manual_seed(0)
    start = build(POOLED_SPEC, (1, 8, 8), num_classes=4).state_dict()
    assert not torch.equal(start["conv2.0.weight"], plain["conv2.0.weight"])  # it trained
    for key, value in plain.items():
        assert torch.equal(swapped[key], value), key


def test_relu_after_pool_runs_relu_on_the_pooled_maps(monkeypatch):
    model = build(POOLED_SPEC, (1, 8, 8), num_classes=4)
    seen: list[tuple[int, ...]] = []
    relu_forward = torch.nn.ReLU.forward
    monkeypatch.setattr(
        torch.nn.ReLU,
        "forward",
        lambda self, x: seen.append(tuple(x.shape)) or relu_forward(self, x),
    )
    x = torch.randn(2, 1, 8, 8)
    plain = model(x)
    assert seen[:2] == [(2, 8, 8, 8), (2, 8, 4, 4)]  # conv1 and conv2 outputs
    seen.clear()
    model.relu_after_pool = True
    assert torch.equal(model(x), plain)
    assert seen[:2] == [(2, 8, 4, 4), (2, 8, 2, 2)]  # after maxpool1 and maxpool2
    assert [name for name, _ in model.named_children()][:4] == [
        "conv1",
        "maxpool1",
        "conv2",
        "maxpool2",
    ]


def test_relu_after_pool_keeps_the_plain_order_under_a_hook():
    # a hook on a conv block sees its ReLU output, as without the switch
    model = build(POOLED_SPEC, (1, 8, 8), num_classes=4)
    model.relu_after_pool = True
    outputs: list[torch.Tensor] = []
    handle = model.conv1.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    try:
        model(torch.randn(2, 1, 8, 8))
    finally:
        handle.remove()
    assert outputs[0].shape == (2, 8, 8, 8)
    assert outputs[0].min() >= 0 and (outputs[0] == 0).any()  # after its ReLU


def test_relu_after_pool_is_set_from_the_config_and_the_flag():
    from convlens.cli import build_parser
    from convlens.cli.flags import given

    model = build(POOLED_SPEC, (1, 8, 8), num_classes=4)
    loop.fit(
        model, quadrants(64), quadrants(32, 1), toy_config(epochs=1, model=POOLED_SPEC), log=None
    )
    assert model.relu_after_pool is True  # the default
    loop.fit(
        model,
        quadrants(64),
        quadrants(32, 1),
        toy_config(epochs=1, model=POOLED_SPEC, relu_after_pool=False),
        log=None,
    )
    assert model.relu_after_pool is False
    args = build_parser().parse_args(["train", "--no-relu-after-pool"])
    assert given(args)["relu_after_pool"] is False


KEEP_MEMORY_SCRIPT = r"""
import json, resource, sys
import torch
sys.path.insert(0, sys.argv[1])
from conftest import TOY_SPEC, quadrants
from convlens.config import TrainConfig
from convlens.engine.evaluate import evaluate_with
from convlens.models.build import build

torch.manual_seed(0)
torch.set_num_threads(1)
# 48 MiB float32 maps per batch of 1,536 32x32 images: above glibc's largest mmap threshold
model = build("conv 8 3 pad=same, gap, dense 4", (1, 32, 32), num_classes=4).eval()
ds = quadrants(1536, 1, size=32)
result = {}
for keep in (False, True):
    cfg = TrainConfig(amp="none", channels_last=False, tta=False, keep_freed_memory=keep,
                      eval_batch_size=1536)
    evaluate_with(model, ds, cfg, torch.device("cpu"))  # warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    preds = [evaluate_with(model, ds, cfg, torch.device("cpu")).preds for _ in range(3)]
    result[str(keep)] = {
        "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
        "preds": preds[-1].tolist(),
    }
print(json.dumps(result))
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_gives_the_same_numbers_without_the_page_faults():
    import json
    import subprocess
    import sys
    from pathlib import Path

    # its own process: the setting is process-wide and cannot be taken back
    out = subprocess.run(
        [sys.executable, "-c", KEEP_MEMORY_SCRIPT, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    off, on = result["False"], result["True"]
    assert on["preds"] == off["preds"]
    # each batch's 48 MiB maps faulted in afresh (about 12,000 pages each) without it
    assert off["faults"] > 20_000, off["faults"]
    assert on["faults"] < off["faults"] / 5, (on["faults"], off["faults"])


def test_keep_freed_memory_is_on_by_default():
    assert TrainConfig().keep_freed_memory is True
