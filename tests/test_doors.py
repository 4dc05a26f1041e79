"""The same test image through every door gives the model's own numbers (issue 22).

One test, parametrized over every door that takes an image (run.prepare, run.predict by
index / tensor / array / PNG path / PIL image / batch, `convlens predict`, `cl.feature_maps`,
run.show and the report through the Inspector, the explorer's predict / overview / formula,
the doctor), against a plain PyTorch forward pass of the run's model on the data set's own
tensor, normalised by hand with the mean and std in run.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import convlens as cl
from convlens import data as datamod
from convlens.engine.doctor import Doctor, input_batch
from convlens.engine.runs import load_run
from convlens.errors import ConfigError
from convlens.io import shown_path
from convlens.look import activations
from convlens.look.inspector import Inspector
from convlens.look.report import build_report

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens.web.app import create_app  # noqa: E402

INDEX = 1  # a test image the report draws too (the features of test images 0 and 1)
POINT = (5, 6, 6)  # (channel, row, column) of the first conv's map the formula is asked for


class Doors:
    """What the doors need: the run (three ways), its test set, a PNG of the test image."""

    def __init__(self, tiny_run: tuple[Any, Any], tmp_path: Any, cli: Callable) -> None:
        self.run_dir, data_dir = tiny_run
        self.run = cl.load(self.run_dir)
        self.ds = cl.load_dataset("mnist", split="test", data_dir=data_dir)
        self.pixels = self.ds[INDEX][0]  # uint8 (1, 28, 28), the data set's own tensor
        self.png = tmp_path / "test1.png"
        Image.fromarray(self.pixels[0].numpy()).save(self.png)  # the raw pixels
        self.cli = cli
        self.client = TestClient(create_app(self.run_dir), base_url="http://127.0.0.1:8000")
        self.name = self.run_dir.name


def forward(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Plain PyTorch: the logits and the first Conv2d's output (1, C, H, W) for input x."""
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    seen: dict[str, torch.Tensor] = {}
    handle = conv.register_forward_hook(lambda m, i, out: seen.update(conv=out.detach().clone()))
    try:
        with torch.no_grad():
            logits = model.eval()(x)
    finally:
        handle.remove()
    return {"logits": logits[0].numpy(), "conv": seen["conv"][0].numpy()}


def from_input(d: Doors, x: torch.Tensor, i: int = 0) -> dict[str, np.ndarray]:
    """A door that hands out the model's input: what the model makes of image `i` of it."""
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
    return forward(d.run.model, x[i : i + 1])


def printed(d: Doors, *args: Any) -> dict[str, np.ndarray]:
    """`convlens predict RUN ARGS --top-k 10`: the printed percentages, class by class."""
    result = d.cli("predict", d.run_dir, *args, "--top-k", "10")
    assert result.code == 0, result
    shown = dict(re.findall(r"(\S+) (\d+\.\d)%", result.out.splitlines()[0]))
    assert len(shown) == 10, result.out
    return {"percent": np.array([float(shown[c]) for c in d.run.classes])}


def explorer(d: Doors, method: str, route: str, **kw: Any) -> dict[str, np.ndarray]:
    """An explorer route: its probabilities or logits, and the formula of one conv value."""
    r = d.client.request(method, f"/api/runs/{d.name}/{route}", **kw)
    assert r.status_code == 200, r.text
    body = r.json()
    c, i, j = POINT
    f = d.client.get(
        f"/api/runs/{d.name}/formula",
        params=dict(token=body["token"], layer="conv1", channel=c, i=i, j=j),
    ).json()
    out = {"conv_at": np.array(f["conv_value"])}
    if "softmax" in body:
        out["logits"] = np.array(body["softmax"]["logits"])
    else:
        out["top"] = np.array([[d.run.classes.index(t["class"]), t["prob"]] for t in body["top"]])
    return out


class Captured(Exception):
    """Raised by the spy once the picture's input is seen (the drawing is not needed)."""


def drawn_input(
    monkeypatch, d: Doors, draw: Callable[[], Any], titled: str = ""
) -> dict[str, np.ndarray]:
    """The input the feature-maps picture whose title holds `titled` is drawn from
    (run.show, the report); the pictures before it are drawn as usual."""
    seen: list[torch.Tensor] = []
    original = activations.draw_feature_maps

    def spy(model: Any, x: torch.Tensor, pixels: torch.Tensor, *, title: str = "") -> Any:
        if titled not in title:
            return original(model, x, pixels, title=title)
        seen.append(x)
        raise Captured

    monkeypatch.setattr(activations, "draw_feature_maps", spy)
    with pytest.raises(Captured):
        draw()
    return from_input(d, seen[0])


def maps(d: Doors, image: Any) -> dict[str, np.ndarray]:
    return {"conv1": cl.feature_maps(d.run, image)["conv1"].numpy()}


DOORS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "run.prepare(index)": lambda d, mp: from_input(d, d.run.prepare(INDEX).x),
    "run.prepare(ds[i][0])": lambda d, mp: from_input(d, d.run.prepare(d.pixels).x),
    "run.prepare(png)": lambda d, mp: from_input(d, d.run.prepare(d.png).x),
    "run.prepare(its own output)": lambda d, mp: from_input(
        d, d.run.prepare(d.run.prepare(INDEX).x).x
    ),
    "run.predict(index)": lambda d, mp: {"logits": d.run.predict(INDEX)[0].logits},
    "run.predict(tensor)": lambda d, mp: {"logits": d.run.predict(d.pixels)[0].logits},
    "run.predict(array)": lambda d, mp: {"logits": d.run.predict(d.pixels.numpy())[0].logits},
    "run.predict(path)": lambda d, mp: {"logits": d.run.predict(d.png)[0].logits},
    "run.predict(str path)": lambda d, mp: {"logits": d.run.predict(str(d.png))[0].logits},
    "run.predict(PIL image)": lambda d, mp: {"logits": d.run.predict(Image.open(d.png))[0].logits},
    "run.predict(batch)": lambda d, mp: {
        "logits": d.run.predict(torch.stack([d.ds[0][0], d.pixels]))[1].logits
    },
    "run.predict([0, index])": lambda d, mp: {"logits": d.run.predict([0, INDEX])[1].logits},
    "convlens predict --index": lambda d, mp: printed(d, "--index", INDEX),
    "convlens predict PNG": lambda d, mp: printed(d, d.png),
    "cl.feature_maps(run, ds[i][0])": lambda d, mp: maps(d, d.pixels),
    "cl.feature_maps(run, png)": lambda d, mp: maps(d, d.png),
    "run.show(features, index)": lambda d, mp: drawn_input(
        mp, d, lambda: d.run.show("features", index=INDEX)
    ),
    "run.show(features, image=png)": lambda d, mp: drawn_input(
        mp, d, lambda: d.run.show("features", image=d.png)
    ),
    "report": lambda d, mp: drawn_input(
        mp, d, lambda: build_report(Inspector(load_run(d.run_dir))), f"test[{INDEX}]"
    ),
    "explorer predict (PNG upload)": lambda d, mp: explorer(
        d, "POST", "predict", content=d.png.read_bytes()
    ),
    "explorer overview (PNG upload)": lambda d, mp: explorer(
        d, "POST", "overview", content=d.png.read_bytes()
    ),
    "explorer overview (test index)": lambda d, mp: explorer(
        d, "GET", "overview", params={"index": INDEX}
    ),
    "doctor (examine)": lambda d, mp: from_input(
        d, input_batch(d.run.engine_run, d.ds.data), INDEX
    ),
    "doctor (while training)": lambda d, mp: from_input(
        d, Doctor.for_data(None, d.ds.data, log=None).test_batch, INDEX
    ),
}


@pytest.fixture(scope="module")
def reference(tiny_run) -> dict[str, np.ndarray]:
    """The model's own numbers: a plain forward pass on the data set's tensor, normalised by
    hand with run.json's mean and std (no convlens code between the tensor and the model)."""
    run_dir, data_dir = tiny_run
    info = json.loads((run_dir / "run.json").read_text())
    pixels = datamod.load_dataset("mnist", "test", data_dir=data_dir).images[INDEX]  # (1, 28, 28)
    mean = torch.tensor(info["mean"]).view(-1, 1, 1)
    std = torch.tensor(info["std"]).view(-1, 1, 1)
    x = ((pixels.float() / 255 - mean) / std)[None]  # (1, 1, 28, 28)
    out = forward(load_run(run_dir).model, x)
    out["probs"] = torch.from_numpy(out["logits"]).softmax(0).numpy()
    return out


@pytest.mark.parametrize("door", list(DOORS))
def test_every_door_sees_the_test_image_as_the_model_does(
    door, reference, tiny_run, tmp_path, cli, monkeypatch
):
    got = DOORS[door](Doors(tiny_run, tmp_path, cli), monkeypatch)
    checked = set(got)
    assert checked & {"logits", "percent", "top", "conv", "conv1", "conv_at"}, door
    close = dict(rtol=1e-5, atol=1e-5)
    if "logits" in got:
        np.testing.assert_allclose(got["logits"], reference["logits"], **close)
    if "percent" in got:  # printed to 0.1%
        np.testing.assert_allclose(got["percent"], reference["probs"] * 100, atol=0.051)
    if "top" in got:
        k = got["top"][:, 0].astype(int)
        np.testing.assert_allclose(got["top"][:, 1], reference["probs"][k], **close)
    if "conv" in got:
        np.testing.assert_allclose(got["conv"], reference["conv"], **close)
    if "conv1" in got:  # the first block's output: the conv, then its ReLU
        np.testing.assert_allclose(got["conv1"], np.maximum(reference["conv"], 0), **close)
    if "conv_at" in got:
        np.testing.assert_allclose(got["conv_at"], reference["conv"][POINT], **close)


def test_the_decisions_say_what_was_done(tiny_run, tmp_path):
    """The record of each door's preparation: a test image is used as it is, a PNG of it
    keeps its geometry, a drawing of another size is inverted, cropped and scaled."""
    run_dir, data_dir = tiny_run
    run = cl.load(run_dir)
    pixels = cl.load_dataset("mnist", split="test", data_dir=data_dir)[INDEX][0]
    by_index = run.prepare(INDEX).decisions[0]
    assert by_index.as_is and by_index.source.startswith(f"test[{INDEX}] (true: ")
    assert not (by_index.inverted or by_index.cropped or by_index.resized_from)
    assert by_index.normalised.startswith("mean (0.1")
    assert run.prepare(pixels).decisions[0].source == "tensor"
    as_input = run.prepare(run.prepare(INDEX).x).decisions[0]
    assert as_input.as_is and as_input.normalised == "no: already normalised"
    png = tmp_path / "test.png"
    Image.fromarray(pixels[0].numpy()).save(png)
    from_png = run.prepare(png).decisions[0]
    assert not from_png.as_is and from_png.source == shown_path(png)
    assert not (from_png.inverted or from_png.cropped or from_png.resized_from)
    drawing = np.full((100, 100), 255, np.uint8)  # white paper, a dark blob off centre
    drawing[60:90, 60:90] = 0
    seen = run.prepare(drawing)
    drawn = seen.decisions[0]
    assert drawn.inverted and drawn.cropped and drawn.resized_from == (100, 100)
    assert "inverted: light background" in drawn.note
    assert seen.x.shape == (1, 1, 28, 28) and seen.pixels.dtype == torch.uint8
    assert len(run.prepare([0, INDEX, png])) == 3
    ds = cl.load_dataset("mnist", split="test", data_dir=data_dir)
    with pytest.raises(ConfigError) as exc:
        run.predict(ds[INDEX])  # (image, label): not two images
    assert str(exc.value) == (
        "Expected an image, not a data set item (image, label): pass ds[i][0], or the index i "
        "of the run's test set"
    )
    with pytest.raises(ConfigError) as exc:
        run.prepare(200)
    assert str(exc.value) == "Expected an index in 0..199 (mnist test). Received: 200"


def test_a_float_tensor_is_the_models_input_and_uint8_are_pixels(tiny_run):
    """The rule's two sides on the same image: uint8 (C, H, W) is normalised; the same
    numbers as float are taken as already normalised (so they give other logits)."""
    run_dir, data_dir = tiny_run
    run = cl.load(run_dir)
    pixels = cl.load_dataset("mnist", split="test", data_dir=data_dir)[INDEX][0]
    as_pixels, as_input = run.prepare(pixels).x, run.prepare(pixels.float()).x
    assert torch.equal(as_input[0], pixels.float())
    assert not torch.allclose(as_pixels, as_input)
    flipped = run.prepare(pixels, invert="yes")
    assert flipped.decisions[0].inverted and torch.equal(flipped.pixels[0], 255 - pixels)
    float_flipped = run.prepare(run.prepare(pixels).x, invert="yes")
    torch.testing.assert_close(float_flipped.x, flipped.x, rtol=1e-5, atol=1e-5)


def test_a_test_index_out_of_range_gets_the_same_words_from_the_explorer(tiny_run, tmp_path, cli):
    d = Doors(tiny_run, tmp_path, cli)
    r = d.client.get(f"/api/runs/{d.name}/overview", params={"index": 200})
    assert r.status_code == 400, r.text
    assert "Expected an index in 0..199 (mnist test). Received: 200" in r.text
