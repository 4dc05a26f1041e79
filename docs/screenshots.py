"""The README's explorer screenshots, taken in Debian's headless Chromium from a real run.

    .venv/bin/python docs/screenshots.py [RUN]     # default runs/digits (`make serve` makes it)

Writes docs/explorer-overview.png, explorer-formula.png, explorer-images.png,
explorer-training.png and explorer-playground.png. Look at them before committing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from convlens.api.explore import ExplorerServer, browser_page
from convlens.engine.runs import load_run

DOCS = Path(__file__).parent


def main(run: str = "runs/digits") -> None:
    # the server `run.explore()` starts: a free port on 127.0.0.1, in a background thread;
    # the browser `server.screenshot()` uses (headless Chromium), on a laptop's screen
    with ExplorerServer(load_run(run)) as server, browser_page(width=1280, height=800) as page:
        page.goto(server.url)
        page.wait_for_selector("#panes .empty")  # a digit model starts on its empty pad
        page.locator('#tabs button[data-tab="images-tab"]').click()
        page.locator('#samples figure[data-index="3"]').click()  # back to the overview with it
        page.wait_for_selector('[data-map="conv1:0"]')
        page.locator('[data-map="conv2:12"]').hover()  # its links to the maps it reads
        page.screenshot(path=DOCS / "explorer-overview.png")
        page.locator('[data-map="conv2:12"]').click()
        big = page.locator("#formula-map").bounding_box()
        assert big is not None
        page.mouse.click(big["x"] + big["width"] * 0.45, big["y"] + big["height"] * 0.6)
        page.wait_for_selector("#formula #formula-value")
        page.locator("#formula-play").click()
        page.locator("#formula-step").fill("999")
        page.locator("#formula").screenshot(path=DOCS / "explorer-formula.png")
        for tab, name in (
            ("images-tab", "images"),
            ("training-tab", "training"),
            ("playground", "playground"),
        ):
            page.locator(f'#tabs button[data-tab="{tab}"]').click()
            if tab == "images-tab":
                page.wait_for_selector("table.confusion")
                _most_confused(page).click()
                page.wait_for_selector("#cell figure")
                page.locator("#load-mistakes").click()
                page.wait_for_selector("#mistakes figure")
            if tab == "training-tab":
                page.wait_for_selector("#history canvas")
            time.sleep(0.5)
            page.screenshot(path=DOCS / f"explorer-{name}.png", clip=_box(page, "main", 1400))
    print(
        "wrote",
        ", ".join(
            f"docs/explorer-{n}.png"
            for n in ("overview", "formula", "images", "training", "playground")
        ),
    )


def _most_confused(page):
    """The confusion table's largest off-diagonal cell (any model has one, unless perfect)."""
    cells = page.locator("table.confusion td[data-true]:not(.zero)")
    best, count = None, 0
    for i in range(cells.count()):
        cell = cells.nth(i)
        if cell.get_attribute("data-true") != cell.get_attribute("data-pred"):
            n = int(cell.inner_text())
            if n > count:
                best, count = cell, n
    if best is None:
        raise SystemExit("the run makes no mistakes on its test images: nothing to show")
    return best


def _box(page, selector: str, height: int) -> dict[str, float]:
    """The page from its top to the bottom of `selector` (at most `height` pixels)."""
    b = page.locator(selector).bounding_box()
    assert b is not None
    return {"x": 0, "y": 0, "width": 1280, "height": min(height, b["y"] + b["height"] + 12)}


if __name__ == "__main__":
    main(*sys.argv[1:])
