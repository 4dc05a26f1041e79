"""The front door, `import convlens as cl`: issue 14's snippet end to end on the offline
`digits` data, a hand-written nn.Module included, and every returned object checked."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import convlens as cl
from convlens.engine.callbacks import Callback
from convlens.engine.checkpoint import checkpoint_file
from convlens.engine.evaluate import Evaluation
from convlens.errors import CheckpointError, ConfigError, ImageError, ModelError
from convlens.look.kinds import KINDS

SPEC = "conv 8 3, maxpool 2, conv 16 3, maxpool 2, dense 10"
TINY = {"epochs": 1, "limit_train": 256, "limit_test": 128, "batch_size": 32}
PNG = b"\x89PNG\r\n\x1a\n"


def is_picture(p) -> bool:
    return isinstance(p, cl.Picture) and p._repr_png_().startswith(PNG)


def one_line(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    text = str(exc.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def net_class(width: int = 8) -> type[nn.Module]:
    """A hand-written module as a notebook user writes one (its class is local: a run of it
    can only be loaded with a fresh instance)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, width, 3)
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(width * 13 * 13, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))

    return Net


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(spec run, module run, Net class, runs folder), each trained once for 1 tiny epoch."""
    root = tmp_path_factory.mktemp("api-runs")
    model = cl.build(SPEC, input_shape="1x28x28")
    spec_run = cl.train(model, data="digits", out=root / "spec", progress=False, **TINY)
    Net = net_class()
    mine = cl.train(Net(), data="digits", out=root / "mine", progress=False, **TINY)
    return spec_run, mine, Net, root


# ----------------------------------------------------------------------------- the package
def test_import_convlens_stays_light():
    heavy = "('torch', 'matplotlib', 'numpy')"
    code = f"import sys, convlens; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"


def test_every_front_door_name_resolves_with_a_docstring_and_an_example():
    names = [n for n in cl.__all__ if n not in ("ConvlensError", "__version__")]
    assert set(names) >= {
        "build", "summary", "draw", "list_models", "load_dataset", "train", "load",
        "feature_maps", "conv2d", "conv1d", "pool2d", "output_size", "KERNELS",
    }  # fmt: skip
    for name in names:
        value = getattr(cl, name)
        assert name in dir(cl)
        assert re.search(rf"\b{name}\b", cl.__doc__), f"help(cl) does not list {name}"
        if name != "KERNELS":
            assert "Example" in (inspect.getdoc(value) or ""), name
    assert "sobel_x" in cl.KERNELS
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cl.nope  # noqa: B018


def test_primer_at_the_front_door():
    out = cl.conv2d(np.eye(5), [[1, 0], [0, 1]])
    assert out.shape == (4, 4) and out[0, 0] == 2
    assert list(cl.conv1d([1, 2, 3, 4], [1, -1])) == [-1, -1, -1]
    assert cl.pool2d(np.arange(16).reshape(4, 4), 2).tolist() == [[5, 7], [13, 15]]
    assert cl.output_size(28, 3) == 26 and cl.output_size(28, 3, stride=2, padding=1) == 14


# ----------------------------------------------------------------------------- models
def test_build_remembers_the_input_shape_for_summary_and_draw(tmp_path):
    a = cl.build(SPEC, input_shape="1x28x28")
    b = cl.build(SPEC, input_shape=(1, 28, 28))
    assert a.input_shape == b.input_shape == (1, 28, 28)
    s = cl.summary(a)
    assert s.input_shape == (1, 28, 28) and s.total_params == cl.summary(b).total_params
    assert "<table>" in s._repr_html_() and "conv1" in str(s)
    registry = cl.build("keras_mnist")
    assert registry.input_shape == (1, 28, 28)
    assert cl.summary(registry).total_params == 93_322
    assert cl.build("cifar_tf", input_shape="3x32x32").input_shape == (3, 32, 32)
    picture = cl.draw(a)
    assert is_picture(picture) and "architecture" in repr(picture)
    assert picture.savefig(tmp_path / "a.png").read_bytes().startswith(PNG)
    assert (tmp_path / "b.svg") == cl.draw(registry, out=tmp_path / "b.svg").savefig(
        tmp_path / "b.svg"
    )


def test_summary_of_any_module_with_or_without_its_input_shape():
    net = net_class()()
    with pytest.raises(ConfigError) as exc:
        cl.summary(net)
    one_line(exc, "Net has no input_shape", "pass input_shape")
    assert cl.summary(net, input_shape=(1, 28, 28)).rows[0].output_shape == (8, 26, 26)
    assert (
        cl.summary(net, input_shape="1x28x28").total_params
        == cl.summary(net, (1, 28, 28)).total_params
    )
    net.input_shape = (1, 28, 28)
    assert cl.summary(net).input_shape == (1, 28, 28)


def test_list_models_is_the_registry_as_a_table():
    table = cl.list_models()
    assert [r.name for r in table][:2] == ["keras_mnist", "cifar_vgg"]
    row = next(r for r in table if r.name == "keras_mnist")
    assert row.params == 93_322 and row.input_shape == (1, 28, 28)
    assert "keras_mnist" in repr(table) and "93,322" in repr(table)
    assert "<table>" in table._repr_html_()


def test_model_errors_are_one_line_and_name_the_value(tmp_path):
    with pytest.raises(ConfigError) as exc:
        cl.build(SPEC, input_shape="1by28")
    one_line(exc, "'1by28'", "1x28x28")
    with pytest.raises(ModelError) as exc:
        cl.build("keras_mnst")
    one_line(exc, "keras_mnst", "did you mean 'keras_mnist'")
    with pytest.raises(ConfigError) as exc:
        cl.draw(cl.build("keras_mnist"), out=tmp_path / "x.bmp")
    one_line(exc, "x.bmp", ".png")


# ----------------------------------------------------------------------------- data
def test_load_dataset_and_show_batch():
    ds = cl.load_dataset("digits", split="test")
    assert len(ds) == 1000 and ds.classes == tuple("0123456789")
    assert ds.images.shape == (1000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.shape == (1000,) and ds.input_shape == (1, 28, 28)
    image, label = ds[-1]
    assert image.shape == (1, 28, 28) and 0 <= label < 10
    assert "digits test: 1,000 images 1x28x28" in repr(ds) and "<table>" in ds._repr_html_()
    assert is_picture(ds.show_batch(12)) and is_picture(ds.show_batch(5, seed=None))
    assert len(cl.load_dataset("digits", limit=50)) == 50
    with pytest.raises(ConfigError) as exc:
        ds.show_batch(0)
    one_line(exc, "n=0")
    with pytest.raises(ConfigError) as exc:
        ds[1000]
    one_line(exc, "0..999", "1000")


# ----------------------------------------------------------------------------- runs
def test_train_returns_a_run_with_history_and_evaluation(runs):
    spec_run, mine, _, root = runs
    for run in (spec_run, mine):
        assert isinstance(run, cl.Run) and run.path.parent == root
        assert run.classes == tuple("0123456789") and run.input_shape == (1, 28, 28)
        h = run.history
        assert isinstance(h, list) and len(h) == 1 and isinstance(h[0], dict)
        assert h[0]["epoch"] == 1 and 0 <= h[0]["test_accuracy"] <= 1
        assert is_picture(h.plot()) and "1 epochs" in repr(h) and "<table>" in h._repr_html_()
        ev = run.evaluate()
        assert isinstance(ev, Evaluation) and 0 <= ev.accuracy <= 1
        assert ev.confusion.shape == (10, 10) and ev.confusion.sum() == 1000
        assert all(len(pair) == 3 for pair in ev.most_confused(5))
        assert len(ev.top_losses(9)) <= 9 and "<table>" in ev._repr_html_()
        assert run.evaluate(limit=100).confusion.sum() == 100
        assert "best test accuracy" in repr(run) and "<table>" in run._repr_html_()
    assert "conv 8 3" in repr(spec_run) and "Net" in repr(mine)
    assert spec_run.summary().input_shape == (1, 28, 28)


def test_predict_takes_paths_pictures_arrays_tensors_and_indices(runs, tmp_path):
    run = runs[0]
    test_set = cl.load_dataset("digits", split="test")
    digit = test_set[3][0]  # uint8 (1, 28, 28)
    true = [test_set.classes[int(test_set[i][1])] for i in (0, 3)]
    path = tmp_path / "digit.png"
    Image.fromarray(digit[0].numpy()).save(path)
    for item in (path, str(path), Image.open(path), digit, digit[0].numpy(), digit.float() / 255):
        preds = run.predict(item)
        assert len(preds) == 1
        p = preds[0]
        assert p.label in run.classes and p.probs.shape == p.logits.shape == (10,)
        assert p.image.shape == (1, 28, 28) and p.image.dtype == torch.uint8
        assert abs(p.probs.sum() - 1) < 1e-5 and p.label == run.classes[int(p.logits.argmax())]
    assert len(run.predict(torch.stack([digit] * 3))) == 3  # a batch (N, C, H, W)
    many = run.predict([path, digit])
    assert len(many) == 2 and is_picture(many.plot()) and "<img" in many._repr_html_()
    by_index = run.predict([0, 3])
    assert [p.source for p in by_index] == [
        f"test[0] (true: {true[0]})",
        f"test[3] (true: {true[1]})",
    ]
    assert torch.equal(by_index[1].image, digit)
    with pytest.raises(ImageError) as exc:
        run.predict(tmp_path / "missing.png")
    one_line(exc, "missing.png", "no such file")
    with pytest.raises(ImageError) as exc:
        run.predict(np.zeros((2, 7, 4, 5)))
    one_line(exc, "shape (7, 4, 5)")
    with pytest.raises(ConfigError) as exc:
        run.predict({"a": 1})
    one_line(exc, "Received: dict")
    with pytest.raises(ConfigError) as exc:
        run.predict(path, invert="maybe")
    one_line(exc, "invert='maybe'")


def test_a_prediction_names_a_nearby_file_relative_to_the_working_folder(
    runs, tmp_path, monkeypatch
):
    """Lesson 03 printed '/work/.../docs/sneaker_drawing.png: Sneaker 94.3%'."""
    digit = cl.load_dataset("digits", split="test")[3][0]
    (tmp_path / "lessons").mkdir()
    Image.fromarray(digit[0].numpy()).save(tmp_path / "digit.png")
    monkeypatch.chdir(tmp_path / "lessons")
    p = runs[0].predict(tmp_path / "digit.png")[0]
    assert p.source == "../digit.png" and p.line().startswith("../digit.png: ")


@pytest.mark.parametrize("kind", list(KINDS))
def test_show_draws_every_kind(runs, kind):
    run = runs[0]
    if kind == "mlp":  # a CNN run: the one kind that needs another kind of run
        with pytest.raises(ModelError) as exc:
            run.show(kind)
        one_line(exc, "`mlp` needs an MLP run")
        return
    picture = run.show(kind, index=1) if kind in ("features", "gradcam") else run.show(kind)
    assert is_picture(picture) and picture.name == kind
    if kind == "evolution":
        assert len(picture.frames) == 2 and "image/gif" in picture._repr_html_()


def test_show_errors_name_the_bad_value(runs, tmp_path):
    run = runs[0]
    with pytest.raises(ConfigError) as exc:
        run.show("filterz")
    one_line(exc, "'filterz'", "did you mean 'filters'")
    with pytest.raises(ConfigError) as exc:
        run.show("features", index=5000)
    one_line(exc, "5000")
    with pytest.raises(ConfigError) as exc:
        run.show("filters").savefig(tmp_path / "f.gif")
    one_line(exc, "f.gif")


def test_report_is_a_file(runs):
    for run in runs[:2]:
        path = run.report()
        assert path == run.path / "report.html" and path.read_text().startswith("<!doctype html>")


def test_explore_serves_the_page_and_stops(runs):
    run = runs[1]  # the user's own module: the explorer works on it too
    server = run.explore(block=False)
    try:
        assert server.running and server.url.startswith("http://127.0.0.1:")
        assert run.explore(block=False) is server  # one server per run
        with urllib.request.urlopen(server.url, timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        with urllib.request.urlopen(server.url + "api/runs/mine", timeout=10) as info:
            assert b'"classes"' in info.read()
        assert "<iframe" in server._repr_html_()
    finally:
        server.stop()
    assert not server.running
    assert not [t for t in threading.enumerate() if t.name.startswith("convlens-explorer")]


def test_explore_screenshot_in_headless_chromium(runs, tmp_path):
    pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed")
    run = runs[0]  # a digit model: the page is ready on its empty drawing pad
    server = run.explore(block=False)

    async def in_a_cell():  # Jupyter runs every cell inside a running asyncio loop
        return server.screenshot(tmp_path / "explorer.png", width=1000, height=640)

    try:
        shot = asyncio.run(in_a_cell())
    finally:
        server.stop()
    assert shot.size == (1000, 640) and shot._repr_png_() == shot.png
    assert (tmp_path / "explorer.png").read_bytes() == shot.png
    pixels = np.asarray(Image.open(tmp_path / "explorer.png").convert("L"), dtype=float)
    assert pixels.shape == (640, 1000) and pixels.std() > 10  # the page, not a blank canvas
    assert repr(shot) == "<Screenshot the explorer of spec: 1000x640 PNG>"


def test_no_chromium_is_one_line(runs, monkeypatch):
    from convlens.api import explore

    monkeypatch.setattr(explore.shutil, "which", lambda name: None)
    with pytest.raises(cl.ConvlensError) as exc, explore.browser_page():
        pass
    one_line(exc, "no screenshot:")
    server = runs[0].explore(block=False)
    try:
        with pytest.raises(cl.ConvlensError) as exc:
            server.screenshot()
        one_line(exc, "no screenshot:")
        said = server.screenshot(missing="say")  # what a notebook cell shows: one line
        assert said.png is None and said._repr_png_() is None and said.size == (0, 0)
        assert repr(said) == str(exc.value) and "\n" not in repr(said)
        with pytest.raises(ConfigError):
            server.screenshot(missing="ignore")
    finally:
        server.stop()


# ----------------------------------------------------------------------------- own modules
def test_a_run_of_the_users_module_loads_with_a_fresh_instance(runs):
    spec_run, mine, Net, root = runs
    assert mine.info["model"].endswith("Net")
    assert cl.load(root / "spec").history == spec_run.history  # a spec run needs no model
    with pytest.raises(CheckpointError) as exc:
        cl.load(root / "mine")
    one_line(exc, "pass a fresh instance", "Net()")
    again = cl.load(root / "mine", model=Net())
    for name, tensor in mine.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], tensor)
    assert again.evaluate().accuracy == mine.evaluate().accuracy
    assert is_picture(again.show("gradcam")) and again.predict([0])[0].logits.shape == (10,)
    with pytest.raises(CheckpointError) as exc:
        cl.load(root / "mine", model=net_class(width=4)())
    one_line(exc, "conv.weight")


def test_feature_maps_of_a_model_trained_or_not(runs):
    spec_run, mine, Net, _ = runs
    digit = cl.load_dataset("digits", split="test")[0][0]
    untrained = cl.build(SPEC, input_shape="1x28x28")
    maps = cl.feature_maps(untrained, digit)
    assert list(maps) == ["conv1", "maxpool1", "conv2", "maxpool2"]
    assert maps["conv1"].shape == (8, 26, 26) and maps["maxpool2"].shape == (16, 5, 5)
    trained = cl.feature_maps(spec_run, digit)
    assert list(trained) == list(maps) and not torch.equal(trained["conv1"], maps["conv1"])
    assert list(cl.feature_maps(mine, digit.numpy())) == ["conv", "pool"]
    as_input = cl.feature_maps(Net(), torch.rand(1, 28, 28))  # a float tensor: the input
    assert as_input["pool"].shape == (8, 13, 13)
    with pytest.raises(ConfigError) as exc:
        cl.feature_maps(Net(), digit)
    one_line(exc, "Net has no input_shape", "float tensor")
    with pytest.raises(ConfigError) as exc:
        cl.feature_maps("keras_mnist", digit)
    one_line(exc, "Received: str")
    with pytest.raises(ModelError) as exc:
        cl.feature_maps(untrained, digit, layers=["conv9"])
    one_line(exc, "'conv9'")


# ----------------------------------------------------------------------------- training
class CtrlC(Callback):
    """Presses Ctrl-C (SIGINT to this process) after batch `at`."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_batch_end(self, state) -> None:
        if state.batch == self.at:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_returns_a_usable_run_and_resume_continues(tmp_path, capsys):
    out = tmp_path / "stopped"
    run = cl.train(
        "conv 4 3, maxpool 2, dense 10", data="digits", out=out, progress=False,
        callbacks=[CtrlC(at=3)], **TINY,
    )  # fmt: skip
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said == (  # the words `convlens train` says too (tests/test_cli_train.py)
        f"interrupted; checkpoint saved at epoch 1 batch 3; resume with: convlens train "
        f"--resume {out} (Python: cl.train(out={str(out)!r}, resume=True))"
    )
    assert (
        isinstance(run, cl.Run) and run.history == [] and run.predict([0])[0].probs.shape == (10,)
    )
    with pytest.raises(CheckpointError) as exc:
        cl.train("conv 4 3, maxpool 2, dense 10", data="digits", out=out, **TINY)
    one_line(exc, "already holds a run", "resume=True")
    with pytest.raises(ConfigError) as exc:
        cl.train(data="digits", out=out, resume=True, epochs=5)
    one_line(exc, "epochs=5", "epochs=1")
    done = cl.train(
        "conv 4 3, maxpool 2, dense 10", data="digits", out=out, resume=True, progress=False, **TINY
    )
    assert len(done.history) == 1 and done.path == out
    assert "resuming" in capsys.readouterr().out


def test_train_errors_are_one_line_and_name_the_value(tmp_path):
    with pytest.raises(ConfigError) as exc:
        cl.train("keras_mnist", data="digits", epoch=1)
    one_line(exc, "'epoch'", "did you mean 'epochs'")
    with pytest.raises(ConfigError) as exc:
        cl.train(42, data="digits")
    one_line(exc, "Received: int")
    with pytest.raises(ConfigError) as exc:
        cl.train("keras_mnist", data="digits", lr=-1.0)
    one_line(exc, "lr=-1.0")
    with pytest.raises(ConfigError) as exc:
        cl.train(data="digits", resume=True)
    one_line(exc, "out=")
    with pytest.raises(CheckpointError) as exc:
        cl.train(data="digits", out=tmp_path / "none", resume=True)
    one_line(exc, "does not exist")
    assert not (tmp_path / "none").exists()


def test_ctrl_c_and_resume_with_the_users_module(tmp_path, capsys):
    Net = net_class(width=4)
    out = tmp_path / "mine"
    net = Net()
    before = net.conv.weight.detach().clone()
    stopped = cl.train(net, data="digits", out=out, progress=False, callbacks=[CtrlC(2)], **TINY)
    assert not torch.equal(net.conv.weight, before)  # the user's own object was trained
    assert stopped.history == [] and "resume=True" in capsys.readouterr().out
    done = cl.train(Net(), data="digits", out=out, resume=True, progress=False, **TINY)
    assert len(done.history) == 1 and isinstance(done.model, Net)


# ----------------------------------------------------------------------------- notebooks
FIGURES = (
    "cl.draw(model)",
    "ds.show_batch(8)",
    "run.history.plot()",
    'run.show("filters")',
    "run.predict([0, 1]).plot()",
)


@pytest.mark.slow
def test_a_notebook_shows_every_picture_as_png(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    cells = [
        "import convlens as cl",
        'model = cl.build("conv 8 3, maxpool 2, dense 10", input_shape="1x28x28")\n'
        "cl.summary(model)",
        FIGURES[0],
        'ds = cl.load_dataset("digits", split="test")\n' + FIGURES[1],
        'run = cl.train(model, data="digits", epochs=1, limit_train=256, limit_test=128,\n'
        '               batch_size=32, out="runs/nb")\nrun',
        FIGURES[2],
        FIGURES[3],
        "run.evaluate()",
        FIGURES[4],
        "cl.list_models()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o.output_type == "error"], (cell.source, outputs)
        for o in outputs:
            text = str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
            assert "<Figure size" not in text, (cell.source, text)
        if any(cell.source.endswith(f) for f in FIGURES):
            pngs = [o for o in outputs if "image/png" in o.get("data", {})]
            assert len(pngs) == 1, (cell.source, outputs)  # shown once, as a picture
        if cell.source.endswith(
            ("cl.summary(model)", "run.evaluate()", "cl.list_models()", "\nrun")
        ):
            assert any("text/html" in o.get("data", {}) for o in outputs), cell.source
    assert checkpoint_file(tmp_path / "runs" / "nb", "best").is_file()


def test_outputs_show_paths_relative_to_the_working_folder(tmp_path, monkeypatch):
    from convlens.api.run import shown_path

    (tmp_path / "lessons").mkdir()
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "runs" / "a") == "runs/a"
    monkeypatch.chdir(tmp_path / "lessons")  # where the lesson notebooks run
    assert shown_path(tmp_path / "runs" / "a") == "../runs/a"
    far = type(tmp_path)(tmp_path.anchor, "x0", "x1", "x2", "x3")
    assert shown_path(far) == str(far)  # far away: the absolute path, not ../../../..
