"""Tests of the speed switches: each gives the plain path's numbers (within what its
arithmetic allows), and --compile says it is slower on CPU."""

from __future__ import annotations

import pytest
import torch

from convlens.engine import loop, train
from convlens.models.build import build

from conftest import TOY_SPEC, install_toy_data, quadrants, toy_config


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    install_toy_data(monkeypatch)


def trained(**switches) -> dict[str, torch.Tensor]:
    """The weights after 2 epochs of the toy run with `switches` on the config."""
    torch.manual_seed(0)
    model = build(TOY_SPEC, (1, 8, 8), num_classes=4)
    loop.fit(model, quadrants(192), quadrants(96, 1), toy_config(epochs=2, **switches), log=None)
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


def test_compile_warns_on_cpu(monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "compile", lambda model: model)  # the warning, not the compiler
    lines: list[str] = []
    train.train(toy_config(epochs=1, compile=True, out=str(tmp_path / "r")), log=lines.append)
    warnings = [x for x in lines if x.startswith("warning: --compile is slower on CPU")]
    assert len(warnings) == 1
    lines.clear()
    train.train(toy_config(epochs=1, out=str(tmp_path / "r2")), log=lines.append)
    assert not [x for x in lines if x.startswith("warning")]
