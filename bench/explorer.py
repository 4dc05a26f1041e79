"""Explorer latency: one prediction with every activation, as the page asks for it.

Rows, measured in one run: the plain forward pass (the floor), `Explorer.predict_image`
(hooks, feature-map PNGs, top-k), and the whole HTTP round trip through FastAPI's test
client with a PNG upload. Target: under 50 ms for the 28x28 models.

    .venv/bin/python bench/explorer.py [RUN ...]     # default: runs/digits and runs/demo
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from fastapi.testclient import TestClient
from PIL import Image

from convlens.web.app import create_app
from convlens.web.explorer import Explorer


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


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]] or [
        p for p in (Path("runs/digits"), Path("runs/demo")) if p.is_dir()
    ]
    drawing = np.full((280, 280), 255, np.uint8)
    drawing[60:220, 130:150] = 0
    buf = io.BytesIO()
    Image.fromarray(drawing).save(buf, format="PNG")
    payload, img = buf.getvalue(), Image.fromarray(drawing)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of 30 calls")
    print("| run | model | forward only ms | predict + activations ms | HTTP round trip ms |")
    print("|---|---|---:|---:|---:|")
    for run in runs:
        ex = Explorer(run)
        x = torch.zeros(1, *ex.run.input_shape)
        with torch.inference_mode():
            forward = timed(lambda ex=ex, x=x: ex.model(x))
        full = timed(lambda ex=ex: ex.predict_image(img))
        client = TestClient(create_app(run))
        url = f"/api/runs/{run.name}/predict"
        http = timed(lambda client=client, url=url: client.post(url, content=payload))
        print(
            f"| {run.name} | {ex.run.info.get('model')} | {forward:.1f} | {full:.1f} | {http:.1f} |"
        )


if __name__ == "__main__":
    main()
