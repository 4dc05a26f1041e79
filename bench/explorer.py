"""Explorer speed: one image through the whole network, as the overview asks for it.

For fastcnn (1x28x28) and the 8.6M-parameter cifar_vgg (3x32x32), with untrained weights
(the timing does not depend on them): the server time of `Explorer.overview` for one image
with every layer's maps (median of 30 calls), the payload size of its JSON answer, the HTTP
round trip of an upload, and the time from an upload in headless Chromium to the overview
drawn on the page (median of 10). Targets: under 50 ms server time for fastcnn, under 300 ms
for cifar_vgg, under 200 ms to a drawn overview for fastcnn.

    .venv/bin/python bench/explorer.py
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from fastapi.testclient import TestClient
from machine import describe
from PIL import Image

from convlens.config import TrainConfig
from convlens.engine.runs import Run
from convlens.models.build import build
from convlens.web.app import create_app
from convlens.web.explorer import Explorer
from convlens.web.server import server_config

MODELS = {"fastcnn": (1, 28, 28), "cifar_vgg": (3, 32, 32)}


def timed(fn, n: int = 30) -> float:
    """Median wall time of `n` calls (after 3 warm-up calls), in ms."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def untrained_run(name: str, folder: Path) -> Run:
    shape = MODELS[name]
    torch.manual_seed(0)
    model = build(name, shape, num_classes=10).eval()
    c = shape[0]
    return Run(
        path=folder / name,
        config=TrainConfig(model=name, data="digits"),
        info={"data": "digits", "model": name},
        classes=tuple(str(k) for k in range(10)),
        mean=(0.5,) * c,
        std=(0.25,) * c,
        input_shape=shape,
        model=model,
        weights="untrained",
    )


def picture(shape: tuple[int, int, int]) -> bytes:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (64, 64, 3) if shape[0] == 3 else (64, 64), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@contextlib.contextmanager
def serving(app):
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(server_config(app, "127.0.0.1", port))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True


def drawn_ms(run: Run, upload: Path, n: int = 10) -> float | None:
    """Median ms from choosing a file in the page to the overview drawn (None: no Chromium)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with serving(create_app(run)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_function("document.querySelector('#run-info').textContent.length > 0")
        times = []
        for _ in range(n + 2):
            before = page.evaluate("document.body.dataset.drawn || ''")
            start = time.perf_counter()
            page.set_input_files("#file", str(upload))
            page.wait_for_function(f"(document.body.dataset.drawn || '') !== {before!r}")
            times.append(time.perf_counter() - start)
        browser.close()
    return 1000 * statistics.median(times[2:])


def main() -> None:
    print(f"{describe(torch.get_num_threads())}, torch {torch.__version__}; untrained weights")
    print(
        "| model | params | server ms (overview) | payload KiB | HTTP upload ms "
        "| drawn in Chromium ms |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in MODELS.items():
            run = untrained_run(name, Path(tmp))
            ex = Explorer(run)
            pixels = torch.randint(0, 255, shape, dtype=torch.uint8)
            server = timed(lambda ex=ex, pixels=pixels: ex.overview(pixels))
            payload = len(json.dumps(ex.overview(pixels)).encode()) / 1024
            png = picture(shape)
            client = TestClient(create_app(run), base_url="http://127.0.0.1:8000")
            url = f"/api/runs/{name}/overview"
            http = timed(lambda client=client, url=url, png=png: client.post(url, content=png))
            upload = Path(tmp) / f"{name}.png"
            upload.write_bytes(png)
            drawn = drawn_ms(run, upload)
            params = sum(p.numel() for p in run.model.parameters())
            shown = f"{drawn:.0f}" if drawn is not None else "no chromium"
            print(f"| {name} | {params:,} | {server:.1f} | {payload:.0f} | {http:.1f} | {shown} |")


if __name__ == "__main__":
    main()
