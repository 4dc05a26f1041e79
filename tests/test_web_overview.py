"""Tests of the explorer's overview and formula view: the API (FastAPI's test client) for spec,
registry and user models, and the page in headless Chromium."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens import data as datamod  # noqa: E402
from convlens.engine.runs import load_run  # noqa: E402
from convlens.models.build import build  # noqa: E402
from convlens.models.hooks import capture_activations  # noqa: E402
from convlens.web.app import create_app, list_runs  # noqa: E402
from convlens.web.explorer import Explorer  # noqa: E402

COLUMNS = ["input", "conv1", "maxpool1", "conv2", "maxpool2", "dense1"]


def drawing() -> bytes:
    a = np.full((200, 200), 255, np.uint8)
    a[30:90, 120:180] = 0  # a dark blob, top right, on white paper
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def values(col: dict) -> np.ndarray:
    """A column's maps back from uint8 on its scale, shape (C, H, W) or (N,)."""
    u8 = np.frombuffer(base64.b64decode(col["data"]), np.uint8).astype(np.float64)
    return (col["lo"] + u8 / 255 * (col["hi"] - col["lo"])).reshape(col["shape"])


@pytest.fixture(scope="module")
def client(tiny_run):
    return TestClient(create_app(tiny_run[0]), base_url="http://127.0.0.1:8000")


def test_overview_has_every_layer_its_graph_and_true_numbers(client, tiny_run):
    name = tiny_run[0].name
    r = client.post(f"/api/runs/{name}/overview", content=drawing())
    assert r.status_code == 200, r.text
    ov = r.json()
    assert [c["name"] for c in ov["columns"]] == COLUMNS
    assert [c["from"] for c in ov["columns"][1:]] == COLUMNS[:-1]  # a chain
    assert [c["mix"] for c in ov["columns"][1:]] == ["all", "same", "all", "same", "all"]
    assert ov["listed"] == [
        {
            "name": "flatten1",
            "type": "Flatten",
            "why": "passes the same numbers on (reshaped or unchanged at test time)",
        }
    ]
    assert ov["note"].startswith("inverted") and "invert: no" in ov["note"]
    assert "--invert" not in ov["note"]  # the page's control, not the CLI flag
    # the numbers are the model's own (to within the uint8 step of each layer's scale)
    ex = Explorer(tiny_run[0])
    x = ex.prepare(Image.open(io.BytesIO(drawing()))).x  # (1, C, H, W), the model's input
    acts = capture_activations(ex.model, x, ["conv1", "maxpool1", "conv2", "maxpool2"])
    for col in ov["columns"][1:5]:
        step = (col["hi"] - col["lo"]) / 255
        assert np.abs(values(col) - acts[col["name"]][0].numpy()).max() <= step / 2 + 1e-5
    logits = ex.model(x)[0].detach()
    assert ov["columns"][-1]["values"] == pytest.approx(logits.tolist(), abs=1e-4)
    assert ov["softmax"]["probs"] == pytest.approx(logits.softmax(0).tolist(), abs=1e-5)
    assert ov["softmax"]["classes"] == list(ex.run.classes)
    assert ov["top"][0]["index"] == int(logits.argmax())


def test_formula_of_every_kind_gives_the_models_value(client, tiny_run):
    name = tiny_run[0].name
    ov = client.post(f"/api/runs/{name}/overview", content=drawing()).json()
    cols = {c["name"]: c for c in ov["columns"]}

    def formula(layer, channel, i=0, j=0):
        r = client.get(
            f"/api/runs/{name}/formula",
            params=dict(token=ov["token"], layer=layer, channel=channel, i=i, j=j),
        )
        assert r.status_code == 200, r.text
        return r.json()

    conv2 = values(cols["conv2"])
    for i, j in [(0, 0), (3, 4), (6, 6)]:
        f = formula("conv2", 5, i, j)
        assert f["kind"] == "conv" and f["in_channels"] == 8 == len(f["patch"])
        products = sum(np.sum(np.array(p) * np.array(k)) for p, k in zip(f["patch"], f["kernel"]))
        assert products + f["bias"] == pytest.approx(f["conv_value"], abs=1e-4)
        assert [s["op"] for s in f["steps"]] == ["ReLU"]
        assert f["value"] == pytest.approx(max(f["conv_value"], 0.0), abs=1e-4)
        assert f["value"] == pytest.approx(conv2[5, i, j], abs=(cols["conv2"]["hi"]) / 255)
    p = formula("maxpool2", 3, 2, 1)
    cells = [v for row in p["patch"] for v in row if v is not None]
    assert p["kind"] == "pool" and p["value"] == pytest.approx(max(cells))
    assert p["rows"] == [4, 5] and p["cols"] == [2, 3]  # where the window sits in conv2
    assert p["stride"] == [2, 2]  # the page slides the window by this much
    d = formula("dense1", 2)
    assert d["kind"] == "dense" and d["n_terms"] == 16 * 7 * 7 and len(d["terms"]) == 16
    total = sum(t["product"] for t in d["terms"]) + d["other_terms_sum"] + d["bias"]
    assert total == pytest.approx(d["value"], abs=1e-4)
    assert d["value"] == pytest.approx(cols["dense1"]["values"][2], abs=1e-4)
    s = formula("softmax", 2)
    assert s["value"] == pytest.approx(ov["softmax"]["probs"][2], abs=1e-6)
    assert s["exps"][2] / s["exp_sum"] == pytest.approx(s["value"])
    bad = client.get(
        f"/api/runs/{name}/formula",
        params=dict(token=ov["token"], layer="conv9", channel=0, i=0, j=0),
    )
    assert bad.status_code == 400 and "no column 'conv9'; columns: conv1" in bad.json()["detail"]


@pytest.fixture(scope="module")
def run(tiny_run):
    return load_run(tiny_run[0])


def test_a_registry_model_with_residual_blocks(run):
    torch.manual_seed(0)
    model = build("resnet_small", run.input_shape, num_classes=len(run.classes))
    ex = Explorer(dataclasses.replace(run, model=model))
    ov = ex.overview(torch.randint(0, 255, run.input_shape, dtype=torch.uint8))
    kinds = {c["name"]: (c["kind"], c["shape"]) for c in ov["columns"]}
    assert kinds == {
        "input": ("input", [1, 28, 28]),
        "conv1": ("conv", [32, 28, 28]),
        "maxpool1": ("pool", [32, 14, 14]),
        "res1": ("block", [32, 14, 14]),
        "res2": ("block", [64, 7, 7]),
        "res3": ("block", [128, 4, 4]),
        "gap1": ("pool", [128]),
        "dense1": ("dense", [10]),
    }
    assert ov["listed"] == []
    f = ex.formula(ov["token"], "conv1", 4, 10, 10)  # conv, batch norm, ReLU
    assert [s["op"] for s in f["steps"]] == ["BatchNorm2d", "ReLU"]
    assert f["steps"][-1]["value"] == pytest.approx(f["value"], abs=1e-4)
    block = ex.formula(ov["token"], "res2", 7, 3, 3)
    parts = {p["name"]: p["value"] for p in block["parts"]}
    assert list(parts) == ["conv1", "bn1", "relu1", "conv2", "bn2", "shortcut", "relu2"]
    assert parts["relu2"] == pytest.approx(block["value"], abs=1e-5)
    assert parts["relu2"] == pytest.approx(max(parts["bn2"] + parts["shortcut"], 0), abs=1e-5)
    gap = ex.formula(ov["token"], "gap1", 9)  # the mean of a whole 4x4 map
    assert gap["mode"] == "mean" and np.mean(gap["patch"]) == pytest.approx(gap["value"], abs=1e-5)
    assert gap["count"] == 16


class Padded(nn.Module):
    """Mean pooling that leaves its padding out of the average."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.head = nn.Linear(2 * 13 * 13, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.conv(x)).flatten(1))


def test_mean_pool_without_padding_divides_by_the_cells_that_count(run):
    torch.manual_seed(0)
    ex = Explorer(dataclasses.replace(run, model=Padded().eval()))
    ov = ex.overview(torch.randint(0, 255, run.input_shape, dtype=torch.uint8))
    corner = ex.formula(ov["token"], "pool", 1, 0, 0)  # its window hangs over the padding
    cells = [v for row in corner["patch"] for v in row if v is not None]
    assert corner["count"] == len(cells) == 4 and corner["stride"] == [2, 2]
    assert sum(cells) / corner["count"] == pytest.approx(corner["value"], abs=1e-5)


class Mine(nn.Module):
    """A user's module: functional calls, a layer used twice, one never used."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.twice = nn.Conv2d(4, 4, 1)
        self.unused = nn.Linear(3, 3)
        self.head = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.twice(self.twice(self.act(self.conv(x))))
        return self.head(nn.functional.max_pool2d(x, 2).flatten(1))


def test_a_users_own_module_never_errors(run):
    ex = Explorer(dataclasses.replace(run, model=Mine().eval()))
    ov = ex.overview(torch.randint(0, 255, run.input_shape, dtype=torch.uint8))
    assert [(c["name"], c["from"]) for c in ov["columns"]] == [
        ("input", ""),
        ("conv", "input"),
        ("act", "conv"),
        ("head", "act"),  # functional ops in between: the column before
    ]
    assert {x["name"]: x["why"] for x in ov["listed"]} == {
        "twice": "called 2 times in one forward pass",
        "unused": "not called by forward",
    }
    act = ex.formula(ov["token"], "act", 1, 2, 3)
    assert act["kind"] == "activation" and act["value"] == pytest.approx(max(act["input"], 0))
    conv = ex.formula(ov["token"], "conv", 1, 2, 3)
    assert conv["value"] == pytest.approx(act["input"], abs=1e-5)  # before the in-place ReLU


def test_test_images_mistakes_and_filter_history(client, tiny_run):
    name = tiny_run[0].name
    ds = datamod.load_dataset("mnist", "test", data_dir=tiny_run[1])
    s = client.get(f"/api/runs/{name}/samples", params={"n": 5, "offset": 2}).json()
    assert s["total"] == 200 and [t["index"] for t in s["images"]] == [2, 3, 4, 5, 6]
    assert [t["label"] for t in s["images"]] == [ds.classes[int(y)] for y in ds.labels[2:7]]
    ov = client.get(f"/api/runs/{name}/overview", params={"index": 7}).json()
    assert ov["true"] == ds.classes[int(ds.labels[7])] and ov["index"] == 7
    assert client.get(f"/api/runs/{name}/overview", params={"index": 200}).status_code == 400
    m = client.get(f"/api/runs/{name}/mistakes", params={"n": 4}).json()
    assert m["searched"] == 200 and 1 <= len(m["mistakes"]) <= 4
    assert all(t["label"] != t["predicted"] for t in m["mistakes"])
    sure = [t["prob"] for t in m["mistakes"]]
    assert sure == sorted(sure, reverse=True)  # the most confident first
    h = client.get(f"/api/runs/{name}/history").json()
    assert h["layer"] == "conv1" and h["epochs"] == [0, 1, 2, 3]
    assert np.array(h["filters"]).shape == (4, 8, 1, 3, 3)
    assert h["filters"][0] != h["filters"][-1]  # the filters moved while training


def test_runs_nested_by_sweeps_are_listed_and_served(tiny_run, tmp_path):
    for where in ("alone", "sweep1/f=8 k=3", "cmp/cnn"):
        shutil.copytree(tiny_run[0], tmp_path / where)
    (tmp_path / "sweep1/f=8 k=3/pictures").mkdir()
    assert list(list_runs(tmp_path)) == ["alone", "cmp/cnn", "sweep1/f=8 k=3"]
    page = TestClient(create_app(runs_root=tmp_path), base_url="http://127.0.0.1:8000")
    assert page.get("/api/runs").json() == {"runs": ["alone", "cmp/cnn", "sweep1/f=8 k=3"]}
    url = "/api/runs/sweep1%2Ff%3D8%20k%3D3"
    assert page.get(url).json()["input_shape"] == [1, 28, 28]
    assert page.post(url + "/overview", content=drawing()).status_code == 200
    assert page.get("/api/runs/sweep1").status_code == 404


# ----------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def page(tiny_run):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        with opened(browser, create_app(tiny_run[0])) as pg:
            yield pg
        browser.close()


@contextlib.contextmanager
def opened(browser, app):
    """`app` served and open in a new page of `browser`, its first test image drawn; no
    script error may happen while the page is in use."""
    from test_web import serving

    with serving(app) as url:
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(url + "/")
        pick_test_image(pg, 0)
        yield pg
        pg.close()
    assert errors == []


def pick_test_image(pg, index: int) -> None:
    """Click test image `index` under Images to try: the overview opens with it drawn."""
    pg.locator('#tabs button[data-tab="images-tab"]').click()
    pg.locator(f'#samples figure[data-index="{index}"]').click()
    pg.wait_for_function(
        f"document.querySelector('#true-label').textContent.startsWith('test image {index},')"
    )
    pg.wait_for_selector('[data-map="conv1:0"]')
    assert not pg.locator("#overview-tab").is_hidden()


@pytest.mark.slow
def test_browser_upload_shows_every_layer_and_the_formula_adds_up(page, tiny_run, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(drawing())
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.querySelector('#note').textContent.includes('invert')")
    layers = page.eval_on_selector_all("[data-layer]", "els => els.map(e => e.dataset.layer)")
    assert layers == [*COLUMNS, "softmax"]
    maps = page.eval_on_selector_all(
        '[data-layer="conv1"] [data-map]', "els => els.map(e => e.dataset.map)"
    )
    assert sorted(maps) == [f"conv1:{k}" for k in range(8)]
    titles = page.eval_on_selector_all(
        '[data-layer="conv1"] [data-map]', "els => els.map(e => e.title)"
    )
    active = [float(t.rsplit(" ", 1)[1]) for t in titles]  # "conv1 map 3, mean |value| 0.41"
    assert active == sorted(active, reverse=True)  # the most active map first
    assert (
        page.locator("#pad").evaluate(  # the upload is shown in "Your image"
            "c => c.getContext('2d').getImageData(200, 60, 1, 1).data[0]"
        )
        < 128
    )
    ex = Explorer(tiny_run[0])
    x = ex.prepare(Image.open(io.BytesIO(drawing()))).x
    top = ex.run.classes[int(ex.model(x).argmax())]
    assert page.locator("#top-class").inner_text() == top
    page.locator('[data-map="conv2:1"]').click()
    # a locator click waits until the big map is visible and stable (a mouse click at its
    # first bounding box could land before it was drawn: the CI once timed out here)
    big_map = page.locator("#formula-map")
    big_map.wait_for(state="visible")
    big = big_map.bounding_box()
    big_map.click(position={"x": big["width"] * 0.3, "y": big["height"] * 0.6})
    page.wait_for_selector("#formula #formula-value")
    shown = float(page.locator("#formula-value").get_attribute("data-value"))
    i, j = int(0.6 * 14), int(0.3 * 14)
    expected = float(capture_activations(ex.model, x, ["conv2"])["conv2"][0, 1, i, j])
    assert shown == pytest.approx(expected, abs=1e-5)
    page.locator("#formula-play").click()  # pause, then step to the end: the sum
    page.locator("#formula-step").fill("999")
    assert "(bias)" in page.locator("#formula-frame").inner_text()
    # the view's own arithmetic: the channel sums plus bias, then what follows, ends on the
    # model's value (to the 4 decimals it prints)
    results = page.eval_on_selector_all(
        "#formula-frame .sum b", "els => els.map(e => e.textContent)"
    )
    assert float(results[-1]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_browser_test_image_and_epoch_slider(page, tiny_run):
    ds = datamod.load_dataset("mnist", "test", data_dir=tiny_run[1])
    page.locator('#tabs button[data-tab="images-tab"]').click()
    page.locator('#samples figure[data-index="5"]').click()
    page.wait_for_function("document.querySelector('#true-label').textContent.includes('5,')")
    assert (
        page.locator("#true-label")
        .inner_text()
        .endswith(f"true label: {ds.classes[int(ds.labels[5])]}")
    )
    page.locator('#tabs button[data-tab="training-tab"]').click()
    page.wait_for_selector("#history canvas")
    assert page.locator("#epoch-label").get_attribute("data-epoch") == "3"
    last = page.locator("#history canvas").evaluate("c => c.toDataURL()")
    page.locator("#epoch").fill("0")
    assert page.locator("#epoch-label").get_attribute("data-epoch") == "0"
    assert "initial weights" in page.locator("#epoch-label").inner_text()
    assert page.locator("#history canvas").evaluate("c => c.toDataURL()") != last
    assert page.locator("#epoch-label").get_attribute("data-moved") == "0.00"
    assert "changed 0.0% since epoch 0" in page.locator("#epoch-label").inner_text()
    page.locator("#epoch").fill("3")
    assert float(page.locator("#epoch-label").get_attribute("data-moved")) > 0
    change = page.locator("#history canvas").evaluate("c => c.toDataURL()")
    page.select_option("#filter-view", "weights")  # the weights themselves: another picture
    assert page.locator("#history canvas").evaluate("c => c.toDataURL()") != change
    assert "one scale" in page.locator("#filter-hint").inner_text()


@pytest.mark.slow
def test_browser_global_pool_and_dense_formulas_of_a_registry_model(page, run):
    """A pooled vector (gap1) and a dense unit open their own formula view: a heading of
    their own, the mean over the whole map, no NaN anywhere."""
    torch.manual_seed(0)
    model = build("resnet_small", run.input_shape, num_classes=len(run.classes))
    app = create_app(dataclasses.replace(run, model=model.eval()))
    with opened(page.context.browser, app) as pg:
        pg.locator('[data-vector="gap1"]').click(position={"x": 20, "y": 1})  # unit 0
        pg.wait_for_selector("#formula #formula-value")
        assert pg.locator("#formula h2").inner_text().startswith("gap1, unit 0")
        assert pg.locator("#formula-play").count() == 0  # one step: nothing to play
        text = pg.locator("#formula").inner_text()
        assert "Global average pooling takes the mean" in text  # what the layer does
        assert "NaN" not in text and "(sum / 16)" in text
        pg.locator('[data-vector="dense1"]').click(position={"x": 20, "y": 1})
        pg.wait_for_function(
            "document.querySelector('#formula h2').textContent.startsWith('dense1, unit 0')"
        )
        pg.wait_for_selector("#formula #formula-value")
        assert "weighted sum of 128 inputs" in pg.locator("#formula").inner_text()
        assert pg.locator("#formula-play").count() == 0


@pytest.mark.slow
def test_browser_two_runs_side_by_side_with_hover_links(page, tiny_run, tmp_path):
    """A second run beside the first shows the same image through both, side by side on a
    wide screen, and its curves dashed over the first's; hovering a map of the first draws
    one link to every map it reads."""
    for where in ("a", "b"):
        shutil.copytree(tiny_run[0], tmp_path / where)
    with opened(page.context.browser, create_app(runs_root=tmp_path)) as pg:
        pg.select_option("#compare", "b")
        pg.wait_for_function("document.querySelectorAll('#panes .pane').length === 2")
        assert pg.locator("#panes").get_attribute("class") == "side"  # 1600 px: side by side
        boxes = [p.bounding_box() for p in pg.locator("#panes .pane").all()]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]
        assert pg.locator("#pair").is_hidden()  # the same data: nothing to say
        assert pg.locator("#curves").get_attribute("data-runs") == "2"
        heads = pg.eval_on_selector_all("#panes .pane h3", "els => els.map(e => e.textContent)")
        assert [h.split(":")[0] for h in heads] == ["a", "b"]
        assert heads[0].split(": ")[1] == heads[1].split(": ")[1]  # same weights, same answer
        first = pg.locator("#panes .pane").first
        first.locator('[data-map="conv2:1"]').hover()
        assert first.locator(".src").count() == 8  # conv2 reads all 8 maps of maxpool1
        assert first.locator("svg path").count() == 8


def test_colour_input_is_three_columns_of_maps(run):
    """A colour model's input column holds its R, G and B channels, each on the shared scale."""
    torch.manual_seed(0)
    model = build("conv 4 3, maxpool 2, flatten, dense 10", (3, 28, 28))
    colour = dataclasses.replace(run, model=model.eval(), input_shape=(3, 28, 28))
    colour = dataclasses.replace(colour, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    ov = Explorer(colour).overview(torch.randint(0, 255, (3, 28, 28), dtype=torch.uint8))
    first = ov["columns"][0]
    assert first["kind"] == "input" and first["shape"] == [3, 28, 28]
    assert first["channels"] == ["R", "G", "B"]
