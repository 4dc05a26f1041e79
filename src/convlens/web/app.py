"""The explorer's web app: FastAPI routes over `Explorer`, a page in `static/`.

Safety: runs are chosen by name among the folders the server itself lists (no route takes a
path from the client); uploads are capped at MAX_UPLOAD bytes (413) and go through the same
image loader as everything else (400 with its one-line message); no CORS; nothing is
written to the run folder.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from convlens.data.images import load_image
from convlens.engine.runs import RUN_FILE, Run
from convlens.errors import ConvlensError
from convlens.web.explorer import Explorer

MAX_UPLOAD = 5 * 1024 * 1024
STATIC = Path(__file__).parent / "static"
PICTURES = ("curves", "filters", "evolution")


def list_runs(root: Path) -> dict[str, Path]:
    """Run folders directly under `root`, by name."""
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / RUN_FILE).is_file()}


def create_app(run: str | Path | Run | None = None, *, runs_root: str | Path = "runs") -> FastAPI:
    """The app for one run (a folder, or a loaded Run), or for every run under `runs_root`."""
    runs: dict[str, Path | Run]
    if isinstance(run, Run):
        runs = {run.path.name: run}
    else:
        runs = {Path(run).name: Path(run)} if run else dict(list_runs(Path(runs_root)))
    app = FastAPI(title="convlens explorer", docs_url=None, redoc_url=None, openapi_url=None)

    @lru_cache(maxsize=4)
    def explorer(name: str) -> Explorer:
        return Explorer(runs[name])

    def get(name: str) -> Explorer:
        if name not in runs:
            raise HTTPException(404, f"no run {name!r}; runs: {', '.join(runs) or 'none'}")
        try:
            return explorer(name)
        except ConvlensError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.exception_handler(ConvlensError)
    async def bad_input(request: Request, exc: ConvlensError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

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

    @app.get("/api/runs/{name}")
    def info(name: str) -> dict[str, Any]:
        return get(name).info()

    @app.post("/api/runs/{name}/predict")
    async def predict(name: str, request: Request, invert: str = "auto") -> dict[str, Any]:
        ex = get(name)
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_UPLOAD:
            raise HTTPException(
                413, f"upload of {int(size):,} bytes is over the limit of {MAX_UPLOAD:,} bytes"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD:
                raise HTTPException(413, f"upload over the limit of {MAX_UPLOAD:,} bytes")
        if invert not in ("auto", "yes", "no"):
            raise HTTPException(400, f"Expected invert auto, yes or no. Received: {invert!r}")
        img = load_image(io.BytesIO(bytes(body)), max_bytes=MAX_UPLOAD)
        return ex.predict_image(img, invert=invert)

    @app.get("/api/runs/{name}/filter")
    def kernel(name: str, layer: str, channel: int) -> dict[str, Any]:
        return get(name).filter(layer, channel)

    @app.get("/api/runs/{name}/arithmetic")
    def arithmetic(
        name: str, token: str, layer: str, channel: int, i: int, j: int
    ) -> dict[str, Any]:
        return get(name).arithmetic(token, layer, channel, i, j)

    @app.get("/api/runs/{name}/picture/{kind}")
    def picture(name: str, kind: str) -> Response:
        if kind not in PICTURES:
            raise HTTPException(404, f"Expected one of {', '.join(PICTURES)}")
        return Response(_picture(get(name), kind), media_type="image/png")

    return app


def _picture(ex: Explorer, kind: str) -> bytes:
    """PNG bytes of a run picture (evolution as its strip), drawn once per run."""
    cache = ex.__dict__.setdefault("_pictures", {})
    if kind not in cache:
        from convlens.io import figure_bytes
        from convlens.look.inspector import Inspector
        from convlens.look.weights import draw_evolution_strip

        look = Inspector(ex.run)
        fig = draw_evolution_strip(ex.run) if kind == "evolution" else look.picture(kind)
        cache[kind] = figure_bytes(fig, dpi=90)
    return cache[kind]
