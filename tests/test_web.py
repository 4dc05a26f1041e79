"""Tests of the explorer: API (FastAPI's test client) and the page in headless Chromium."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import socket
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens.engine.runs import load_run  # noqa: E402
from convlens.models.build import build  # noqa: E402
from convlens.web.app import MAX_UPLOAD, create_app  # noqa: E402
from convlens.web.explorer import Explorer  # noqa: E402


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def drawing() -> bytes:
    a = np.full((200, 200), 255, np.uint8)
    a[120:180, 120:180] = 0  # a dark blob, bottom right, on white paper
    return png(a)


@pytest.fixture(scope="module")
def client(tiny_run):
    return TestClient(create_app(tiny_run[0]))


def test_page_and_run_info(client, tiny_run):
    assert "convlens explorer" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200
    name = tiny_run[0].name
    assert client.get("/api/runs").json() == {"runs": [name]}
    info = client.get(f"/api/runs/{name}").json()
    assert info["grayscale"] and info["input_shape"] == [1, 28, 28]
    assert info["layers"] == ["conv1", "maxpool1", "conv2", "maxpool2"]


def test_predict_gives_top_k_input_and_every_layer(client, tiny_run):
    name = tiny_run[0].name
    r = client.post(f"/api/runs/{name}/predict", content=drawing())
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["top"]) == 5 and abs(sum(t["prob"] for t in body["top"]) - 1) < 1e-3
    assert body["inverted"] and "inverted" in body["note"]
    assert body["input"].startswith("data:image/png;base64,")
    assert [la["name"] for la in body["layers"]] == ["conv1", "maxpool1", "conv2", "maxpool2"]
    assert len(body["layers"][2]["maps"]) == 16 and body["layers"][2]["shape"] == [16, 14, 14]


def test_arithmetic_adds_up(client, tiny_run):
    name = tiny_run[0].name
    body = client.post(f"/api/runs/{name}/predict", content=drawing()).json()
    a = client.get(
        f"/api/runs/{name}/arithmetic",
        params=dict(token=body["token"], layer="conv2", channel=3, i=5, j=7),
    ).json()
    assert a["kind"] == "conv" and a["in_channels"] == 8 and len(a["patch"][0]) == 3
    products = sum(np.sum(np.array(p) * np.array(k)) for p, k in zip(a["patch"], a["kernel"]))
    assert products + a["bias"] == pytest.approx(a["conv_value"], abs=1e-4)
    assert a["value"] == pytest.approx(max(a["conv_value"], 0.0), abs=1e-4)  # then ReLU
    p = client.get(
        f"/api/runs/{name}/arithmetic",
        params=dict(token=body["token"], layer="maxpool1", channel=0, i=1, j=1),
    ).json()
    assert p["kind"] == "pool" and p["value"] == pytest.approx(np.max(p["patch"]))
    f = client.get(f"/api/runs/{name}/filter", params=dict(layer="conv1", channel=2)).json()
    assert np.array(f["weights"]).shape == (1, 3, 3)


PADDED = (
    "conv 4 4 pad=same act=none, maxpool 3 stride=2 pad=1, conv 6 3 stride=2 pad=2, "
    "avgpool 2 pad=1, gap, dense {num_classes}"
)
PADDED_SHAPES = {
    "conv1": [4, 28, 28],
    "maxpool1": [4, 14, 14],
    "conv2": [6, 8, 8],
    "avgpool1": [6, 5, 5],
    "gap1.0": [6, 1, 1],
}


@pytest.fixture(scope="module")
def padded(tiny_run):
    """(explorer, token): the tiny run's data with a padded model (random weights)."""
    torch.manual_seed(0)
    run = load_run(tiny_run[0])
    model = build(PADDED, run.input_shape, num_classes=len(run.classes))
    explorer = Explorer(dataclasses.replace(run, model=model))
    body = explorer.predict_image(Image.open(io.BytesIO(drawing())))
    assert {la["name"]: la["shape"] for la in body["layers"]} == PADDED_SHAPES
    return explorer, body["token"]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("layer", PADDED_SHAPES)
def test_arithmetic_of_padded_layers_is_the_models_own_value(padded, layer):
    explorer, token = padded
    c, h, w = PADDED_SHAPES[layer]
    for channel, i, j in np.ndindex(2, h, w):  # every pixel, the edges included
        channel *= c - 1
        a = explorer.arithmetic(token, layer, channel, i, j)
        json.dumps(a, allow_nan=False)  # what the page gets is JSON
        if a["kind"] == "conv":
            sums = [np.sum(np.array(p) * np.array(k)) for p, k in zip(a["patch"], a["kernel"])]
            assert sum(sums) + a["bias"] == pytest.approx(a["conv_value"], abs=1e-4)
            expected = max(a["conv_value"], 0.0) if a["after"] else a["conv_value"]
        else:
            cells = [v for row in a["patch"] for v in row if v is not None]
            expected = max(cells) if a["mode"] == "max" else np.mean(cells)
        assert a["value"] == pytest.approx(expected, abs=1e-4), (channel, i, j)


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        (b"not an image at all", 400, "not an image"),
        (
            png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:900],
            400,
            "truncated or corrupt",
        ),
        (b"", 400, "empty"),
        (b"\0" * (MAX_UPLOAD + 1), 413, "over the limit"),
    ],
)
def test_bad_uploads(client, tiny_run, payload, status, fragment):
    r = client.post(f"/api/runs/{tiny_run[0].name}/predict", content=payload)
    assert r.status_code == status and fragment in r.json()["detail"]


def test_decompression_bomb_upload(client, tiny_run):
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")
    r = client.post(f"/api/runs/{tiny_run[0].name}/predict", content=buf.getvalue())
    assert r.status_code == 400 and "decompression bomb" in r.json()["detail"]


def test_no_paths_from_the_client_and_no_cors(client, tiny_run):
    assert client.get("/api/runs/..%2F..%2Fetc").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404
    r = client.get("/api/runs", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get(
        f"/api/runs/{tiny_run[0].name}/arithmetic",
        params=dict(token="forgotten", layer="conv1", channel=0, i=0, j=0),
    )
    assert r.status_code == 400 and "no longer remembered" in r.json()["detail"]
    r = client.get(f"/api/runs/{tiny_run[0].name}/filter", params=dict(layer="conv9", channel=0))
    assert r.status_code == 400 and "layers: conv1, maxpool1" in r.json()["detail"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_run):
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        create_app(tiny_run[0]), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.goto(server)
        pg.wait_for_function("document.querySelector('#run-info').textContent.length > 0")
        yield pg
        browser.close()


@pytest.mark.slow
def test_browser_draw_predict_and_arithmetic(page, tmp_path):
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 190)
    page.mouse.down()
    for k in range(12):
        page.mouse.move(box["x"] + 200 + 4 * k, box["y"] + 190 + 5 * k)
    page.mouse.up()
    page.wait_for_selector(".bar.top")
    page.wait_for_selector(".map img")
    assert page.locator(".layer").count() == 4
    page.screenshot(path=str(tmp_path / "drawn.png"))
    page.locator('.map[data-layer="conv2"][data-channel="1"]').click()
    page.wait_for_selector("#filter table.grid")
    zoom = page.locator("#zoom").bounding_box()
    page.mouse.click(zoom["x"] + zoom["width"] * 0.5, zoom["y"] + zoom["height"] * 0.5)
    page.wait_for_selector("#arith .sum b")
    text = page.locator("#arith").inner_text()
    assert "of conv2 map 1" in text and "bias" in text and "after ReLU" in text
    page.screenshot(path=str(tmp_path / "arith.png"), full_page=True)


@pytest.mark.slow
def test_browser_upload(page, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(drawing())
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.querySelector('#note').textContent.includes('inverted')")
    assert page.locator(".bar").count() == 5
    page.screenshot(path=str(tmp_path / "upload-shot.png"))
