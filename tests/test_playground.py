"""The explorer's Playground in headless Chromium: its output sizes and animated numbers
agree with the primer (`cl.output_size`, `cl.transposed_output_size`, `cl.conv2d`,
`cl.conv_transpose2d`), and impossible settings say why instead of showing NaN."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import convlens as cl
from convlens.errors import ConvMathError

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens.web.app import create_app  # noqa: E402

URL = "http://127.0.0.1:8000/"
SLIDERS = {
    "i": "#pg-input",
    "k": "#pg-kernel",
    "s": "#pg-stride",
    "p": "#pg-padding",
    "d": "#pg-dilation",
    "a": "#pg-output-padding",
}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The explorer page (no runs needed) with the Playground tab open. The browser's
    requests go to the real app through FastAPI's test client: no port, no thread."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    client = TestClient(create_app(runs_root=tmp_path_factory.mktemp("runs")), base_url=URL)

    def serve(route) -> None:
        r = client.request(route.request.method, route.request.url)
        route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.route("**/*", serve)
        pg.goto(URL)
        pg.locator('#tabs button[data-tab="playground"]').click()
        pg.wait_for_selector("#pg-output", state="visible")
        yield pg
        browser.close()
        assert errors == [], errors


def set_sliders(page, transposed: bool = False, **values: int) -> None:
    """Move the sliders (and the transposed switch) to `values`; a = output_padding."""
    page.locator("#pg-transposed").set_checked(transposed)
    for name, value in values.items():
        if page.locator(SLIDERS[name]).input_value() == str(value):
            continue  # already there (output_padding is disabled while it must be 0)
        page.locator(SLIDERS[name]).fill(str(value))
        assert page.locator(SLIDERS[name]).input_value() == str(value), name  # not clamped


def shown(page) -> tuple[str, str, str]:
    """(output size, formula, message) as the page shows them."""
    message = page.locator("#pg-message")
    text = message.inner_text() if message.is_visible() else ""
    return page.inner_text("#pg-output"), page.inner_text("#pg-formula"), text


CONV = [
    dict(i=7, k=3, s=2, p=1, d=1),  # conv-explain's example: 4
    dict(i=16, k=7, s=1, p=3, d=1),  # "same"
    dict(i=16, k=3, s=4, p=0, d=1),
    dict(i=10, k=3, s=3, p=4, d=2),
    dict(i=5, k=5, s=1, p=0, d=1),  # exactly one window
    dict(i=1, k=1, s=1, p=0, d=1),
    dict(i=3, k=5, s=1, p=0, d=1),  # does not fit
    dict(i=4, k=4, s=2, p=1, d=4),  # dilated reach 13 > 6: does not fit
]
TRANSPOSED = [
    dict(i=3, k=3, s=2, p=1, d=1, a=1),  # transposed_output_size's example: 6
    dict(i=7, k=4, s=2, p=1, d=1, a=0),  # the usual x2 upsampling: 14
    dict(i=5, k=3, s=1, p=0, d=3, a=2),  # output_padding < dilation is allowed
    dict(i=16, k=7, s=4, p=4, d=2, a=3),
    dict(i=1, k=1, s=1, p=1, d=1, a=0),  # padding crops everything
    dict(i=2, k=2, s=1, p=2, d=1, a=0),
]


def _random_settings(n: int) -> list[tuple[bool, dict[str, int]]]:
    rng = np.random.default_rng(17)
    out = []
    for _ in range(n):
        g = dict(
            i=int(rng.integers(1, 17)),
            k=int(rng.integers(1, 8)),
            s=int(rng.integers(1, 5)),
            p=int(rng.integers(0, 5)),
            d=int(rng.integers(1, 5)),
        )
        transposed = bool(rng.integers(0, 2))
        if transposed:
            g["a"] = int(rng.integers(0, max(g["s"], g["d"])))
        out.append((transposed, g))
    return out


def _expected(transposed: bool, g: dict[str, int]) -> int | None:
    """The primer's output size, None where it refuses the setting."""
    args = dict(stride=g["s"], padding=g["p"], dilation=g["d"])
    try:
        if transposed:
            return cl.transposed_output_size(g["i"], g["k"], output_padding=g["a"], **args)
        return cl.output_size(g["i"], g["k"], **args)
    except ConvMathError:
        return None


def filled(transposed: bool, g: dict[str, int]) -> str:
    """The formula with this setting's numbers, as the page writes it."""
    if transposed:
        return f"{g['s']}·({g['i']}−1) + {g['a']} + {g['d']}·({g['k']}−1) + 1 − 2·{g['p']}"
    return f"floor(({g['i']} + 2·{g['p']} − {g['d']}·({g['k']}−1) − 1) / {g['s']}) + 1"


@pytest.mark.slow
def test_output_size_agrees_with_the_primer(page):
    settings = [(False, g) for g in CONV] + [(True, g) for g in TRANSPOSED]
    for transposed, g in settings + _random_settings(40):
        set_sliders(page, transposed, **g)
        size, formula, message = shown(page)
        expected = _expected(transposed, g)
        where = f"transposed={transposed} {g}"
        assert "NaN" not in size + formula + message, where
        if expected is None:
            assert size == "none", where
            assert "< 1: no output" in message, where
            assert ("crops all" if transposed else "does not fit") in message, where
        else:
            assert size == str(expected), where
            assert formula.endswith(f"= {expected}"), where  # the numbers filled in
            assert filled(transposed, g) in formula and message == "", where


@pytest.mark.slow
def test_moving_a_slider_shows_the_new_output_size(page):
    set_sliders(page, i=7, k=3, s=1, p=1, d=1)
    assert page.inner_text("#pg-output") == "7"
    page.locator("#pg-stride").focus()
    page.keyboard.press("ArrowRight")  # stride 1 -> 2, as a user moves it
    assert page.locator("#pg-stride").input_value() == "2"
    assert page.inner_text("#pg-stride-value") == "2"
    assert page.inner_text("#pg-output") == str(cl.output_size(7, 3, stride=2, padding=1)) == "4"
    assert "floor((7 + 2·1 − 1·(3−1) − 1) / 2) + 1" in page.inner_text("#pg-formula")
    page.locator("#pg-kernel").focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")  # past the input: k = 7 at p = 1 reaches 7 of 9
    assert page.inner_text("#pg-output") == str(cl.output_size(7, 7, stride=2, padding=1))


@pytest.mark.slow
def test_output_padding_stays_below_stride_or_dilation(page):
    set_sliders(page, transposed=True, i=3, k=3, s=3, p=0, d=1, a=2)
    assert page.inner_text("#pg-output") == str(
        cl.transposed_output_size(3, 3, stride=3, output_padding=2)
    )
    set_sliders(page, transposed=True, s=1)  # a must drop below max(s, d) = 1, as PyTorch asks
    assert page.locator("#pg-output-padding").input_value() == "0"
    assert page.locator("#pg-output-padding").is_disabled()
    assert page.inner_text("#pg-output") == str(cl.transposed_output_size(3, 3))
    set_sliders(page, transposed=False)
    assert not page.locator("#pg-output-padding").is_visible()


def grid(page, svg: str) -> np.ndarray:
    """The numbers an animation panel shows (nan where blank)."""
    values = json.loads(page.get_attribute(svg, "data-values"))
    return np.array([[np.nan if v is None else v for v in row] for row in values], float)


@pytest.mark.slow
def test_conv_animation_steps_fill_the_primers_output(page):
    set_sliders(page, i=6, k=3, s=2, p=1, d=2)
    o = cl.output_size(6, 3, stride=2, padding=1, dilation=2)
    assert page.inner_text("#pg-progress") == f"step 0 / {o * o}"
    assert np.isnan(grid(page, "#pg-svg-out")).all()
    page.click("#pg-step")
    page.click("#pg-step")
    out = grid(page, "#pg-svg-out")
    assert (~np.isnan(out)).sum() == 2 and not np.isnan(out[0, :2]).any()
    assert page.inner_text("#pg-caption").startswith("output[0, 1] = ")
    page.click("#pg-back")
    assert (~np.isnan(grid(page, "#pg-svg-out"))).sum() == 1
    page.click("#pg-play")
    page.wait_for_function(
        "document.querySelector('#pg-progress').textContent.startsWith('step 3')"
    )
    page.click("#pg-play")  # pause
    held = page.inner_text("#pg-progress")
    page.wait_for_timeout(1000)
    assert page.inner_text("#pg-progress") == held
    page.click("#pg-end")
    x, kernel = grid(page, "#pg-svg-in"), grid(page, "#pg-svg-kernel")
    assert x.shape == (6 + 2, 6 + 2) and (x[0] == 0).all()  # padded, zeros round it
    expected = cl.conv2d(x[1:-1, 1:-1], kernel, stride=2, padding=1, dilation=2)
    np.testing.assert_array_equal(grid(page, "#pg-svg-out"), expected)
    assert page.is_disabled("#pg-step") and page.is_disabled("#pg-end")


@pytest.mark.slow
def test_transposed_animation_scatters_what_the_primer_computes(page):
    g = dict(i=3, k=3, s=2, p=1, d=1, a=1)
    set_sliders(page, transposed=True, **g)
    assert page.inner_text("#pg-progress") == "step 0 / 10"  # 9 input cells, then the crop
    page.click("#pg-step")
    first = grid(page, "#pg-svg-out")
    x, kernel = grid(page, "#pg-svg-in"), grid(page, "#pg-svg-kernel")
    np.testing.assert_array_equal(first[:3, :3], x[0, 0] * kernel)
    assert "adds" in page.inner_text("#pg-caption")
    page.click("#pg-end")
    canvas = grid(page, "#pg-svg-out")
    o = cl.transposed_output_size(3, 3, stride=2, padding=1, output_padding=1)
    assert canvas.shape == (2 * 2 + 3 + 1,) * 2 and o == 6
    expected = cl.conv_transpose2d(x, kernel, stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(np.nan_to_num(canvas[1 : 1 + o, 1 : 1 + o]), expected)
    assert "without its grey border: 6×6" in page.inner_text("#pg-caption")


@pytest.mark.slow
def test_impossible_settings_have_nothing_to_animate(page):
    set_sliders(page, i=3, k=5, s=1, p=0, d=1)
    assert page.inner_text("#pg-output") == "none"
    assert page.is_disabled("#pg-play") and page.is_disabled("#pg-step")
    assert page.inner_text("#pg-caption") == "Nothing to animate: change a slider."
    with pytest.raises(ConvMathError, match="does not fit"):
        cl.output_size(3, 5)


@pytest.mark.slow
def test_screenshot_shows_the_playground(page, tmp_path):
    set_sliders(page, i=7, k=3, s=2, p=1, d=1)
    for _ in range(5):
        page.click("#pg-step")
    shot = page.locator("#playground").screenshot(path=str(tmp_path / "playground.png"))
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert image.std() > 20  # grids, colours and text, not a blank panel
    colours = {tuple(c) for c in image.reshape(-1, 3)[::7]}
    assert (0xFF, 0xCF, 0x66) in colours  # the current output cell, in the primer's colour
