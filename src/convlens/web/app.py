"""The explorer's web app: FastAPI routes over `Explorer`, a page in `static/`.

Safety:
- runs are chosen by name among the folders the server itself lists (no route takes a path
  from the client); nothing is written to the run folder; no CORS.
- the Host header must name this computer as the client reached it: by default only
  LOOPBACK_NAMES (127.0.0.1, localhost, [::1], any port), so a web page elsewhere cannot
  reach the explorer through DNS rebinding; other names get 400 with one line.
- uploads (`uploads.py`): a raw body or a multipart form with one file, capped in size
  (413), time and parts, through the same image loader as everything else (400 with its
  one-line message; `max_pixels`, else $CONVLENS_MAX_PIXELS, else 16 megapixels).
- model work (decoding uploads, predict, pictures) runs in worker threads, at most WORKERS
  at a time, one input at a time through a run's model (its forward hooks are shared);
  waiting requests hold no thread, and cheap routes (the page, run info, filters, the
  arithmetic of one pixel) keep answering meanwhile; the formula view's numbers take
  their turn with the model (a block's formula runs its parts again).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image
from starlette.types import ASGIApp, Receive, Scope, Send

from convlens.data.images import load_image, pixel_limit
from convlens.engine.catalog import list_runs
from convlens.engine.runs import Run
from convlens.errors import ConvlensError
from convlens.web.explorer import Explorer
from convlens.web.testset import TestSet, filter_history
from convlens.web.uploads import MAX_UPLOAD, form_parts, read_body, upload_slots

STATIC = Path(__file__).parent / "static"
PICTURES = ("curves", "filters", "evolution")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WORKERS = 2  # model and drawing work at once
PREDICT_SIDE = 1024  # uploads are reduced to about this many pixels on the longer side
INVERT = ("auto", "yes", "no")
_DRAWING = threading.Lock()  # matplotlib's pyplot is not thread-safe
T = TypeVar("T")


def host_name(value: str) -> str:
    """The name in a Host header or an address, lower case, without the port; IPv6 in
    brackets: 'LocalHost:8000' -> 'localhost', '[::1]:80' and '::1' -> '[::1]'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    if value.count(":") > 1:  # a bare IPv6 address (as --host takes it)
        return f"[{value}]"
    name, colon, port = value.rpartition(":")
    return name if colon and port.isdigit() else value


class HostCheck:
    """ASGI middleware: 400 unless the Host header names one of `allowed` ('*': any)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) if h != "*" else h for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "*" not in self.allowed:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed:
                names = ", ".join(sorted(self.allowed))
                detail = (
                    f"Host {host!r} is not one this explorer answers to ({names}); "
                    f"open it at http://127.0.0.1, or start convlens serve with "
                    f"--allow-host NAME"
                )
                await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[^\s'\"()]+")


def without_paths(message: str) -> str:
    """`message` with each absolute path cut to its last part: the page's user need not
    learn where the server keeps its files."""
    return ABSOLUTE_PATH.sub(lambda m: Path(m[0]).name or m[0], message)


def create_app(
    run: str | Path | Run | None = None,
    *,
    runs_root: str | Path = "runs",
    allowed_hosts: Iterable[str] = LOOPBACK_NAMES,
    max_pixels: int | None = None,
    trust_code: bool = False,
) -> FastAPI:
    """The app for one run (a folder, or a loaded Run), or for every run under `runs_root`.

    Args:
        run: one run folder or loaded Run; None: every run under `runs_root`.
        allowed_hosts: the names the Host header may carry (any port); "*": any.
        max_pixels: the pixel limit of uploads (see `convlens.data.images`).
        trust_code: import the code a run names to rebuild its model (see
            `convlens.engine.runs.load_run`); without it such a run answers 400.
    """
    if max_pixels is not None:
        pixel_limit(max_pixels)  # a bad limit fails now, not at the first upload
    runs: dict[str, Path | Run]
    if isinstance(run, Run):
        runs = {run.path.name: run}
    else:  # names are paths below runs_root: no route reads a path from the client
        runs = {} if run else dict(list_runs(Path(runs_root)))
        if run:  # the run first, then the runs beside it (to compare with)
            runs[Path(run).name] = Path(run)
            for name, path in list_runs(Path(run).parent, depth=1).items():
                runs.setdefault(name, path)
    app = FastAPI(title="convlens explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(HostCheck, allowed=list(allowed_hosts))
    workers = anyio.CapacityLimiter(WORKERS)
    arriving = upload_slots()  # bodies arrive before a worker is taken, a few at once
    loading = threading.Lock()
    forward = {name: anyio.Lock() for name in runs}  # a model's hooks serve one input at a time

    @lru_cache(maxsize=4)
    def load(name: str) -> Explorer:
        return Explorer(runs[name], trust_code=trust_code)

    @lru_cache(maxsize=4)
    def test_set(name: str) -> TestSet:
        return TestSet(load(name).run)

    def tests(name: str) -> TestSet:
        get(name)  # 404 for an unknown run
        with loading:
            return test_set(name)

    def get(name: str) -> Explorer:
        if name not in runs:
            raise HTTPException(404, f"no run {name!r}; runs: {', '.join(runs) or 'none'}")
        with loading:
            return load(name)

    async def work(fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a worker thread, at most WORKERS at once."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=workers)

    def decode(data: BinaryIO) -> Image.Image:
        return load_image(data, max_bytes=MAX_UPLOAD, max_pixels=max_pixels, reduce_to=PREDICT_SIDE)

    @app.exception_handler(ConvlensError)
    async def bad_input(request: Request, exc: ConvlensError) -> JSONResponse:
        return JSONResponse({"detail": without_paths(str(exc))}, status_code=400)

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        files = {p.name: p for p in STATIC.iterdir()}
        if name not in files:
            raise HTTPException(404, "not found")
        return FileResponse(files[name])

    @app.get("/api/runs")
    def run_names() -> dict[str, Any]:
        return {"runs": list(runs)}

    async def uploaded(name: str, request: Request, invert: str | None) -> tuple[Any, Any, str]:
        """The run's Explorer, the decoded image of the request and the invert setting."""
        if name not in runs:
            raise HTTPException(404, f"no run {name!r}; runs: {', '.join(runs) or 'none'}")
        body = await read_body(request, arriving)
        data, fields = form_parts(request.headers.get("content-type", ""), body)
        invert = invert or fields.get("invert") or "auto"
        if invert not in INVERT:
            raise HTTPException(400, f"Expected invert auto, yes or no. Received: {invert!r}")
        return await work(get, name), await work(decode, data), invert

    @app.post("/api/runs/{name:path}/predict")
    async def predict(name: str, request: Request, invert: str | None = None) -> dict[str, Any]:
        """The image as the raw body, or as the one file of a multipart form (whose
        `invert` field counts when the query has none)."""
        ex, img, invert = await uploaded(name, request, invert)
        async with forward[name]:  # waits without holding a worker
            return await work(partial(ex.predict_image, img, invert=invert))

    @app.get("/api/runs/{name:path}/filter")
    def kernel(name: str, layer: str, channel: int) -> dict[str, Any]:
        return get(name).filter(layer, channel)

    @app.get("/api/runs/{name:path}/arithmetic")
    def arithmetic(
        name: str, token: str, layer: str, channel: int, i: int, j: int
    ) -> dict[str, Any]:
        return get(name).arithmetic(token, layer, channel, i, j)

    @app.get("/api/runs/{name:path}/picture/{kind}")
    async def picture(name: str, kind: str) -> Response:
        if kind not in PICTURES:
            raise HTTPException(404, f"Expected one of {', '.join(PICTURES)}")
        png = await work(lambda: _picture(get(name), kind))
        return Response(png, media_type="image/png")

    @app.post("/api/runs/{name:path}/overview")
    async def overview(name: str, request: Request, invert: str | None = None) -> dict[str, Any]:
        """Everything the overview draws for the image in the body (raw or a form's file)."""
        ex, img, invert = await uploaded(name, request, invert)
        async with forward[name]:
            return await work(partial(ex.overview_image, img, invert=invert))

    @app.get("/api/runs/{name:path}/overview")
    async def test_overview(name: str, index: int) -> dict[str, Any]:
        """The overview of test image `index`, with its true label."""
        ex = await work(get, name)
        pixels, label = await work(tests(name).pixels, index)
        async with forward[name]:
            return await work(partial(ex.overview, pixels, true=label, index=index))

    @app.get("/api/runs/{name:path}/formula")
    async def formula(
        name: str, token: str, layer: str, channel: int, i: int = 0, j: int = 0
    ) -> Any:
        """The numbers behind one value; a block's formula runs its parts again, so it
        takes its turn with the model like an overview."""
        ex = await work(get, name)
        async with forward[name]:
            return await work(partial(ex.formula, token, layer, channel, i, j))

    @app.get("/api/runs/{name:path}/samples")
    async def samples(name: str, n: int = 24, offset: int = 0) -> dict[str, Any]:
        return await work(tests(name).samples, n, offset)

    @app.get("/api/runs/{name:path}/mistakes")
    async def mistakes(name: str, n: int = 12) -> dict[str, Any]:
        if not 1 <= n <= 100:
            raise HTTPException(400, f"Expected n in 1..100. Received: {n}")
        return await work(tests(name).mistakes, n)

    @app.get("/api/runs/{name:path}/confusion")
    async def confusion(name: str) -> dict[str, Any]:
        return await work(tests(name).confusion)

    @app.get("/api/runs/{name:path}/cell")
    async def cell(name: str, true: int, predicted: int, n: int = 24) -> dict[str, Any]:
        """The test images of one confusion cell, most confident first."""
        if not 1 <= n <= 100:
            raise HTTPException(400, f"Expected n in 1..100. Received: {n}")
        return await work(tests(name).cell, true, predicted, n)

    @app.get("/api/runs/{name:path}/history")
    async def history(name: str) -> dict[str, Any]:
        return await work(lambda: filter_history(get(name).run))

    @app.get("/api/runs/{name:path}")  # last: the routes above end in a word of their own
    def info(name: str) -> dict[str, Any]:
        return get(name).info()

    return app


def _picture(ex: Explorer, kind: str) -> bytes:
    """PNG bytes of a run picture (an animation as its still), drawn once per run."""
    cache = ex.__dict__.setdefault("_pictures", {})
    if kind not in cache:
        from convlens.io import figure_bytes
        from convlens.look.inspector import Inspector
        from convlens.look.kinds import Ask, kind_of

        with _DRAWING:
            fig = kind_of(kind).draw(Inspector(ex.run), Ask())
            cache[kind] = figure_bytes(fig, dpi=90)
    return cache[kind]
