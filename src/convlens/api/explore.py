"""The explorer on a local server in a background thread: what `run.explore()` starts.

The server listens on 127.0.0.1 on a port the system picks (or the one asked for), runs
uvicorn in a daemon thread (its own event loop; no signal handlers, which only the main
thread may install) and stops with `stop()`. In Jupyter it displays as the explorer page in
an IFrame. `server.screenshot()` photographs the page in headless Chromium (Playwright
drives Debian's `chromium`); `browser_page` is that browser, for scripts that click through
the page first (docs/screenshots.py).
"""

from __future__ import annotations

import html
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from convlens.engine.runs import Run as EngineRun
from convlens.errors import ConfigError, ConvlensError
from convlens.io import atomic_write_bytes

__all__ = ["ExplorerServer", "Screenshot", "browser_page", "in_notebook", "interactive"]

START_TIMEOUT = 20.0  # seconds for the server to start listening
# the page is ready when the first image's maps are drawn, or (a digit model) the empty pad
READY = "#panes canvas[data-map], #panes .empty"


class ExplorerServer:
    """The explorer of one run, served from a background thread.

    Attributes:
        url: the page's address, e.g. "http://127.0.0.1:50123/".
        port: the port it listens on.

    Example:
        >>> server = run.explore()       # in Jupyter: the page inline
        >>> server.url
        >>> server.stop()
    """

    def __init__(self, run: EngineRun, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        from convlens.web.app import create_app
        from convlens.web.server import listen

        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ConfigError(f"Expected port in 0..65535 (0: any free one). Received: {port!r}")
        self.run = run
        self._socket = listen(host, port, flag="port=")
        self.host, self.port = host, int(self._socket.getsockname()[1])
        config = uvicorn.Config(create_app(run), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"convlens-explorer-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConvlensError(f"the explorer did not start on {self.url}")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread.is_alive() and not self._server.should_exit

    def stop(self) -> None:
        """Stop serving and wait for the thread to end (a no-op when stopped)."""
        self._server.should_exit = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._socket.close()

    close = stop

    def wait(self) -> None:
        """Serve until Ctrl-C, then stop (what a script does after `run.explore()`)."""
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def screenshot(
        self,
        path: str | Path | None = None,
        *,
        width: int = 1280,
        height: int = 800,
        missing: str = "raise",
    ) -> Screenshot:
        """The explorer page as headless Chromium shows it once the first image's maps are
        drawn (a digit model: its empty drawing pad), `width` x `height` pixels.

        Args:
            path: also write the PNG there.
            width: the browser window's width in pixels (1280: a laptop screen).
            height: its height.
            missing: without Chromium or Playwright, "raise" a ConvlensError, or "say" it:
                return a Screenshot without a PNG that shows as that one line (a notebook
                cell then prints why instead of failing).

        Raises:
            ConvlensError: no Chromium or no Playwright on this machine, in one line.
        """
        if missing not in ("raise", "say"):
            raise ConfigError(f"Expected missing='raise' or 'say'. Received: missing={missing!r}")

        def shoot() -> bytes:
            with browser_page(width=width, height=height) as page:
                page.goto(self.url)
                page.wait_for_selector(READY, timeout=60_000)
                page.wait_for_timeout(300)  # the maps' last frame
                return page.screenshot()

        # in a thread of its own: Playwright's sync API refuses to run inside a running
        # asyncio loop, and a Jupyter kernel runs every cell inside one
        try:
            with ThreadPoolExecutor(1) as pool:
                png = pool.submit(shoot).result()
        except ConvlensError as exc:
            if missing == "raise":
                raise
            return Screenshot(None, str(exc))
        shot = Screenshot(png, f"the explorer of {self.run.path.name}")
        if path is not None:
            shot.save(path)
        return shot

    def __enter__(self) -> ExplorerServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"<ExplorerServer {self.run.path.name} at {self.url} ({state}); .stop() ends it>"

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>explorer stopped ({html.escape(self.url)})</p>"
        url = html.escape(self.url)
        return (
            f'<iframe src="{url}" width="100%" height="720" style="border: 1px solid #ddd">'
            f"</iframe><p>explorer of {html.escape(self.run.path.name)}: "
            f'<a href="{url}" target="_blank">{url}</a></p>'
        )


class Screenshot:
    """A PNG of a web page: displays in Jupyter, saves with `save`.

    Attributes:
        png: the PNG bytes; None when there is no browser to take it.
        title: what it shows, or (without a PNG) why there is none.
    """

    def __init__(self, png: bytes | None, title: str = "") -> None:
        self.png = png
        self.title = title

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, read from the PNG header; (0, 0) without one."""
        if self.png is None:
            return 0, 0
        return int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")

    def save(self, path: str | Path) -> Path:
        """Write the PNG to `path` (atomically)."""
        if self.png is None:
            raise ConvlensError(self.title)
        atomic_write_bytes(Path(path), self.png)
        return Path(path)

    def _repr_png_(self) -> bytes | None:
        return self.png  # None: Jupyter shows the repr, the one line that says why

    def __repr__(self) -> str:
        if self.png is None:
            return self.title
        width, height = self.size
        return f"<Screenshot {self.title}: {width}x{height} PNG>"


@contextmanager
def browser_page(*, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A Playwright page in headless Chromium (`chromium` on PATH, --no-sandbox), closed on
    exit. ConvlensError, in one line, when Chromium or Playwright is missing.

    Example:
        >>> with browser_page() as page:
        ...     page.goto(server.url)
        ...     page.screenshot(path="explorer.png")
    """
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise ConvlensError(
            "no screenshot: Playwright is not installed (pip install playwright)"
        ) from None
    chromium = shutil.which("chromium")
    if chromium is None:
        raise ConvlensError("no screenshot: no `chromium` on PATH (Debian: apt install chromium)")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConvlensError(f"no screenshot: Chromium did not start ({first})") from None
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def in_notebook() -> bool:
    """True inside a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def interactive() -> bool:
    """True in Jupyter, IPython or the Python prompt (where a call should not block)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None or hasattr(sys, "ps1") or bool(sys.flags.interactive)
