"""A user's own nn.Module: trained from Python or `--model FILE.py:Class`, loaded back."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from convlens.config import TrainConfig
from convlens.engine.runs import load_run
from convlens.engine.train import resume, train
from convlens.errors import CheckpointError, ModelError
from convlens.models.build import build, module_ref

from conftest import one_line_error

NETS = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.head(x.flatten(1))


class NeedsArgs(nn.Module):
    def __init__(self, width):
        super().__init__()


NotAModule = int
"""


class Net(nn.Module):
    """A model written in the test, as a notebook user would."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(width * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)  # (B, width, 14, 14)
        return self.head(x.flatten(1))


def config(root, out, **kw) -> TrainConfig:
    base = dict(
        data="mnist",
        data_dir=str(root),
        epochs=1,
        batch_size=50,
        lr=0.01,
        augment="none",
        progress=False,
        out=str(out),
    )
    return TrainConfig(**{**base, **kw})


def test_a_module_trained_from_python_is_recorded_and_loads_back(tiny_run, tmp_path):
    root = tiny_run[1]
    torch.manual_seed(0)
    net = Net()
    result = train(config(root, tmp_path / "r"), model=net, log=None)
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["model"] == f"{__name__}:Net" == module_ref(net)
    assert info["input_shape"] == [1, 28, 28] and 0 <= result.best_accuracy <= 1
    run = load_run(tmp_path / "r")  # the class is importable here: rebuilt by name
    assert isinstance(run.model, Net)
    for k, v in net.state_dict().items():
        assert torch.equal(run.model.state_dict()[k], v)
    fresh = load_run(tmp_path / "r", model=Net())  # or filled into a fresh instance
    assert torch.equal(fresh.model.conv.weight, net.conv.weight)
    with pytest.raises(
        CheckpointError,
        match=r"from another architecture: shapes differ "
        r"\(checkpoint vs model\): conv.weight",
    ):
        load_run(tmp_path / "r", model=Net(width=8))


def test_a_class_that_cannot_be_imported_needs_a_fresh_instance(tiny_run, tmp_path):
    class Local(Net):  # defined inside a function: no import path leads to it
        pass

    train(config(tiny_run[1], tmp_path / "r"), model=Local(), log=None)
    with pytest.raises(
        CheckpointError,
        match=r"this run trained the user's own module "
        r".*Local and it cannot be built here .*"
        r"pass a fresh instance: cl.load\(path, "
        r"model=.*Local\(\)\)",
    ):
        load_run(tmp_path / "r")
    assert isinstance(load_run(tmp_path / "r", model=Local()).model, Local)
    out = resume(tmp_path / "r", model=Local(), log=None)  # a finished run: nothing to do
    assert len(out.history) == 1


def test_cli_trains_a_class_from_a_file_and_every_reader_rebuilds_it(cli, tiny_run, tmp_path):
    nets = tmp_path / "nets.py"
    nets.write_text(NETS)
    out = tmp_path / "run"
    res = cli(
        "train",
        "--model",
        f"{nets}:Net",
        "--data",
        "mnist",
        "--data-dir",
        tiny_run[1],
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--augment",
        "none",
        "--no-progress",
        "--out",
        out,
    )
    assert res.code == 0, res
    assert json.loads((out / "run.json").read_text())["model"] == f"{nets.resolve()}:Net"
    # the run names a file of code: every reader imports it only when told to trust it
    one_line_error(cli("eval", out), "would import the file", "--trust-code")
    ev = cli("eval", out, "--trust-code")
    assert ev.code == 0 and "accuracy" in ev.out, ev
    assert cli("predict", out, "--index", "0", "--trust-code").code == 0
    shown = cli("show", "filters", out, "--out", tmp_path / "f.png", "--trust-code")
    assert shown.code == 0 and (tmp_path / "f.png").stat().st_size > 1000, shown
    assert cli("report", out, "--trust-code").code == 0 and (out / "report.html").is_file()
    from fastapi.testclient import TestClient

    from convlens.web.app import create_app

    page = TestClient(create_app(out, trust_code=True), base_url="http://127.0.0.1:8000")
    drawing = (tmp_path / "f.png").read_bytes()
    r = page.post(f"/api/runs/{out.name}/predict", content=drawing)
    assert r.status_code == 200 and r.json()["layers"][0]["name"] == "conv"


@pytest.mark.parametrize(
    "ref, words",
    [
        ("{dir}/missing.py:Net", "no such file"),
        ("{dir}/nets.py:Nett", "has no 'Nett' (did you mean 'Net'?)"),
        ("{dir}/nets.py:NeedsArgs", "NeedsArgs() must take no arguments to be built by name"),
        ("{dir}/nets.py:NotAModule", "NotAModule is not an nn.Module class"),
        ("{dir}/broken.py:Net", "importing {dir}/broken.py failed: ZeroDivisionError"),
        (
            "no_such_package_xyz.nets:Net",
            "importing no_such_package_xyz.nets failed: ModuleNotFoundError",
        ),
    ],
)
def test_bad_module_references_are_one_line_errors(cli, tmp_path, ref, words):
    (tmp_path / "nets.py").write_text(NETS)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    ref, words = ref.format(dir=tmp_path), words.format(dir=tmp_path)
    with pytest.raises(ModelError) as err:
        build(ref, (1, 28, 28), num_classes=10)
    assert words in str(err.value) and "\n" not in str(err.value)
    one_line_error(cli("summary", ref, "--input", "1x28x28"), words)
