"""Tests of the explorer: API (FastAPI's test client) and the page in headless Chromium."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens.engine.runs import load_run  # noqa: E402
from convlens.models.build import build  # noqa: E402
from convlens.web import server as web_server  # noqa: E402
from convlens.web import uploads  # noqa: E402
from convlens.web.app import MAX_UPLOAD, PICTURES, create_app, host_name  # noqa: E402
from convlens.web.explorer import Explorer  # noqa: E402
from convlens.web.server import GuardedH11Protocol, server_config  # noqa: E402

from conftest import one_line_error  # noqa: E402


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
    return TestClient(create_app(tiny_run[0]), base_url="http://127.0.0.1:8000")


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


@contextlib.contextmanager
def serving(app):
    """`app` served by uvicorn as `convlens serve` configures it, on a free port."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def server(tiny_run):
    with serving(create_app(tiny_run[0])) as url:
        yield url + "/"


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
def test_browser_draw_predict_and_formula(page, tmp_path):
    # a digit model opens on its empty drawing pad, black, and nothing drawn yet
    page.wait_for_selector("#panes .empty")
    assert page.locator("#pad").is_visible() and page.locator(".col").count() == 0
    assert "Draw a digit" in page.locator("#panes").inner_text()
    corner = "c => Array.from(c.getContext('2d').getImageData(5, 5, 1, 1).data.slice(0, 3))"
    assert page.locator("#pad").evaluate(corner) == [0, 0, 0]
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 160, box["y"] + 150)
    page.mouse.down()
    for k in range(12):
        page.mouse.move(box["x"] + 160 + 3 * k, box["y"] + 150 + 4 * k)
    page.mouse.up()
    page.wait_for_selector('[data-map="conv1:0"]')  # the drawing, through every layer
    assert page.locator("#true-label").inner_text() == ""
    assert page.locator("#top-class").inner_text() != ""
    assert page.locator(".col").count() == 7  # input, 4 conv/pool layers, dense, softmax
    assert page.locator("#note").inner_text() == ""  # white on black: nothing to invert
    page.screenshot(path=str(tmp_path / "drawn.png"))
    page.locator('[data-map="conv2:1"]').click()
    big = page.locator("#formula-map").bounding_box()
    page.mouse.click(big["x"] + big["width"] * 0.5, big["y"] + big["height"] * 0.5)
    page.wait_for_selector("#formula-value")
    page.locator("#formula-step").fill("999")
    text = page.locator("#formula").inner_text()
    assert "conv2, map 1" in text and "bias" in text and "ReLU" in text
    page.screenshot(path=str(tmp_path / "formula.png"), full_page=True)


@pytest.mark.slow
def test_browser_upload(page, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(drawing())
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.querySelector('#note').textContent.includes('inverted')")
    assert page.locator(".cls").count() == 10  # every class of the softmax
    page.screenshot(path=str(tmp_path / "upload-shot.png"))


# ----------------------------------------------------------------------------- under load
def test_one_slow_predict_does_not_block_the_others(tiny_run, tmp_path, monkeypatch):
    import httpx

    for name in ("a", "b", "c"):
        shutil.copytree(tiny_run[0], tmp_path / name)
    running: dict[str, int] = {}
    most = {"all": 0, "one run": 0}
    lock = threading.Lock()

    def slow(self, img, *, invert="auto", top_k=5):  # a model that takes its time
        name = self.run.path.name
        with lock:
            running[name] = running.get(name, 0) + 1
            most["all"] = max(most["all"], sum(running.values()))
            most["one run"] = max(most["one run"], running[name])
        time.sleep(2.0)
        with lock:
            running[name] -= 1
        return {"top": []}

    monkeypatch.setattr(Explorer, "predict_image", slow)
    with serving(create_app(runs_root=tmp_path)) as url, ThreadPoolExecutor(4) as pool:
        for name in "abc":  # the runs are loaded before the clock starts
            assert httpx.get(f"{url}/api/runs/{name}").status_code == 200
        posts = [
            pool.submit(httpx.post, f"{url}/api/runs/{name}/predict", content=drawing(), timeout=30)
            for name in "aabc"
        ]
        time.sleep(0.3)
        start = time.perf_counter()
        info = httpx.get(f"{url}/api/runs/a", timeout=30)
        waited = time.perf_counter() - start
        assert info.status_code == 200 and waited < 1.2, waited  # not after the predictions
        assert [p.result().status_code for p in posts] == [200] * 4
    # at most two predictions at once, and one at a time through a run's model
    assert most == {"all": 2, "one run": 1}


def _until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start, received = time.perf_counter(), b""
    while chunk := sock.recv(4096):
        received += chunk
    return received, time.perf_counter() - start


def test_slow_senders_are_cut_off(tiny_run, monkeypatch):
    monkeypatch.setattr(GuardedH11Protocol, "head_seconds", 0.5)
    monkeypatch.setattr(uploads, "UPLOAD_SECONDS", 0.5)
    name = tiny_run[0].name
    with serving(create_app(tiny_run[0])) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as silent:
            assert _until_closed(silent)[1] < 10  # never sent a byte: closed
        with socket.create_connection(("127.0.0.1", port), timeout=20) as dribbler:
            dribbler.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never end
            assert _until_closed(dribbler)[0] == b""
        with socket.create_connection(("127.0.0.1", port), timeout=20) as uploader:
            uploader.sendall(
                f"POST /api/runs/{name}/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: 1000\r\n\r\n".encode()
                + b"x" * 10  # then nothing
            )
            reply = _until_closed(uploader)[0]
            assert reply.startswith(b"HTTP/1.1 408") and b"longer than 0.5 s" in reply


def test_server_limits():
    config = server_config(None, "127.0.0.1", 8000)
    assert config.limit_concurrency == web_server.LIMIT_CONCURRENCY == 32
    assert config.timeout_keep_alive == 5 and config.h11_max_incomplete_event_size == 16384
    assert config.http is GuardedH11Protocol


# ----------------------------------------------------------------------------- Host header
@pytest.mark.parametrize(
    "value, name",
    [
        ("LocalHost:8000", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8000", "[::1]"),
        ("::1", "[::1]"),
        ("evil.example:80", "evil.example"),
        ("", ""),
    ],
)
def test_host_name(value, name):
    assert host_name(value) == name


def test_host_header_must_name_this_computer(client, tiny_run):
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:1234", "[::1]:8000"):
        assert client.get("/api/runs", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "[::2]"):
        r = client.get("/api/runs", headers={"Host": host})
        assert r.status_code == 400, host
        detail = r.json()["detail"]
        assert f"Host {host!r} is not one this explorer answers to" in detail
        assert "--allow-host NAME" in detail and "\n" not in detail
    r = client.post(
        f"/api/runs/{tiny_run[0].name}/predict", content=drawing(), headers={"Host": "evil"}
    )
    assert r.status_code == 400  # before any work
    anyone = TestClient(create_app(tiny_run[0], allowed_hosts=["*"]), base_url="http://x.example")
    assert anyone.get("/api/runs").status_code == 200
    lan = TestClient(
        create_app(tiny_run[0], allowed_hosts=["192.168.1.5"]), base_url="http://192.168.1.5:8000"
    )
    assert lan.get("/api/runs").status_code == 200


# ----------------------------------------------------------------------------- uploads
def test_multipart_upload_is_accepted(client, tiny_run):
    url = f"/api/runs/{tiny_run[0].name}/predict"
    raw = client.post(url, content=drawing()).json()
    form = client.post(url, files={"file": ("shoe.png", drawing(), "image/png")})
    assert form.status_code == 200, form.text
    assert form.json()["top"] == raw["top"] and form.json()["inverted"]
    kept = client.post(url, files={"file": ("d.png", drawing())}, data={"invert": "no"}).json()
    assert not kept["inverted"]  # the form's invert field
    # curl --data-binary sends a raw body as application/x-www-form-urlencoded
    typed = client.post(
        url, content=drawing(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert typed.status_code == 200


@pytest.mark.parametrize(
    "files, data, status, fragment",
    [
        ({"a": ("a.png", b"1"), "b": ("b.png", b"2")}, None, 400, "Received: 2 files"),
        (
            {"invert": (None, "no")},  # a form field, no file
            None,
            400,
            "Expected one image file, e.g. curl -F file=@shoe.png URL. Received: 0 files",
        ),
        (
            {"file": ("d.png", b"1")},
            {f"f{i}": "x" for i in range(8)},
            400,
            "Expected at most 8 parts. Received: more",
        ),
        ({"file": ("d.png", b"1")}, {"note": "x" * 2000}, 413, "over the limit of 1,024 bytes"),
        ({"file": ("big.png", b"\0" * MAX_UPLOAD)}, None, 413, "over the limit of 5,242,880"),
    ],
)
def test_multipart_limits(client, tiny_run, files, data, status, fragment):
    r = client.post(f"/api/runs/{tiny_run[0].name}/predict", files=files, data=data)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"] and "\n" not in r.json()["detail"]


def test_broken_multipart_is_one_line(client, tiny_run):
    url = f"/api/runs/{tiny_run[0].name}/predict"
    r = client.post(url, files={"file": ("shoe.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n")})
    assert r.status_code == 400 and r.json()["detail"].startswith("shoe.eps: not an image")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\tb\x1b.png"\r\n'
        b"\r\njunk\r\n--b--\r\n"
    )
    r = client.post(url, content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.json()["detail"].startswith("ab.png: not an image")  # control characters dropped
    r = client.post(url, content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "no boundary" in r.json()["detail"]
    r = client.post(
        url, content=b"--b\r\nnonsense", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 400 and r.json()["detail"].startswith("multipart upload:")


def test_upload_pixel_limit(tiny_run):
    small = TestClient(create_app(tiny_run[0], max_pixels=50_000), base_url="http://localhost")
    url = f"/api/runs/{tiny_run[0].name}/predict"
    assert small.post(url, content=drawing()).status_code == 200  # 200 x 200
    r = small.post(url, content=png(np.zeros((300, 300), np.uint8)))
    assert r.status_code == 400
    assert "300x300 = 90,000 pixels is over the limit of 50,000" in r.json()["detail"]


# ----------------------------------------------------------------------------- convlens serve
@pytest.fixture
def served(monkeypatch):
    """What `convlens serve` would serve: [(app, host, port)], nothing bound or started."""
    calls = []
    monkeypatch.setattr(web_server, "listen", lambda host, port: (host, port))
    monkeypatch.setattr(web_server, "serve", lambda app, sock: calls.append((app, *sock)))
    return calls


def test_serve_on_a_busy_port_says_so_in_one_line_before_anything_else(cli, tiny_run, monkeypatch):
    calls = []
    monkeypatch.setattr(web_server, "serve", lambda app, sock: calls.append(sock))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", tiny_run[0], "--port", port)
        free = web_server._free_port("127.0.0.1", port)
    assert calls == [] and result.out == ""  # no address announced
    one_line_error(result, f"port {port} is in use; try --port {free}")
    assert free > port
    result = cli("serve", tiny_run[0], "--port", free)  # the port it names is free
    assert result.code == 0 and f"http://127.0.0.1:{free}/" in result.out
    calls.pop().close()


def test_explore_on_a_busy_port_names_a_free_one(tiny_run):
    from convlens.api.explore import ExplorerServer
    from convlens.errors import ConfigError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as exc:
            ExplorerServer(load_run(tiny_run[0]), port=port)
    assert re.fullmatch(rf"port {port} is in use; try port=\d+", str(exc.value)), exc.value


def test_serve_on_loopback_says_nothing_more(cli, tiny_run, served):
    result = cli("serve", tiny_run[0], "--port", "8123")
    assert result.code == 0 and "warning" not in result.err
    assert "http://127.0.0.1:8123/" in result.out
    app, host, port = served[0]
    client = TestClient(app, base_url="http://localhost:8123")
    assert client.get("/api/runs").status_code == 200
    assert client.get("/api/runs", headers={"Host": "192.168.1.5:8123"}).status_code == 400


def test_serve_on_another_address_warns_and_answers_to_it(cli, tiny_run, served):
    result = cli("serve", tiny_run[0], "--host", "192.168.1.5")
    assert result.code == 0
    assert result.err.count("\n") == 1 and (
        "convlens serve: warning: --host 192.168.1.5 is not a loopback address: anyone who "
        "can reach this computer on port 8000 can use the explorer" in result.err
    )
    client = TestClient(served[0][0], base_url="http://192.168.1.5:8000")
    assert client.get("/api/runs").status_code == 200
    assert client.get("/api/runs", headers={"Host": "evil.example"}).status_code == 400


def test_serve_on_every_address_needs_the_names(cli, tiny_run, served):
    result = cli("serve", tiny_run[0], "--host", "0.0.0.0", "--allow-host", "pc.lan")
    assert "--host 0.0.0.0 is not a loopback address" in result.err
    assert "127.0.0.1, localhost, [::1], pc.lan" in result.err
    assert "add the name others use with --allow-host NAME" in result.err
    client = TestClient(served[0][0], base_url="http://pc.lan:8000")
    assert client.get("/api/runs").status_code == 200
    assert client.get("/api/runs", headers={"Host": "0.0.0.0:8000"}).status_code == 400


def test_serve_refuses_a_bad_pixel_limit(cli, tiny_run, served):
    result = cli("serve", tiny_run[0], "--max-pixels", "0")
    assert result.code == 2 and served == []
    assert "Expected max_pixels (--max-pixels) of at least 1. Received: 0" in result.err


def test_run_pictures_come_from_the_kinds_table(client, tiny_run):
    """The explorer's run pictures are the table's drawings; an animation shows its still."""
    name = tiny_run[0].name
    for kind in PICTURES:
        r = client.get(f"/api/runs/{name}/picture/{kind}")
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG"), kind
        assert Image.open(io.BytesIO(r.content)).size[0] >= 300
    assert client.get(f"/api/runs/{name}/picture/mistakes").status_code == 404
