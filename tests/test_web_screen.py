"""The explorer on a laptop screen and a large one (1280x800, 1920x1080), in headless
Chromium: the whole network fits, the formula view highlights what was chosen, bad input
clears the old answer, the confusion matrix opens its images, and a photo into a digit model
is called unlike the training data."""

from __future__ import annotations

import dataclasses
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")

from convlens import data as datamod  # noqa: E402
from convlens.api.images import photo  # noqa: E402
from convlens.engine.familiar import unlike_training  # noqa: E402
from convlens.engine.runs import load_run  # noqa: E402
from convlens.models.build import build  # noqa: E402
from convlens.web.app import create_app  # noqa: E402
from convlens.web.explorer import Explorer  # noqa: E402

SCREENS = [(1280, 800), (1920, 1080)]


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_unlike_the_training_data_names_its_rule(tiny_run):
    ex = Explorer(tiny_run[0])
    cat = ex.overview_image(Image.fromarray(photo("chelsea")))
    assert cat["unlike"].startswith("Unlike the training data: its mean brightness")
    assert "(the rule: more than 0.8)" in cat["unlike"]
    ds = datamod.load_dataset("mnist", "test", data_dir=tiny_run[1])
    for k in range(20):  # the model's own test images are like its training data
        assert unlike_training(ds.images[k], ex.run.mean, ex.run.std, top_prob=0.9) == ""
    # the confidence rule, and the contrast rule, each in its words
    flat = torch.full((1, 28, 28), 33, dtype=torch.uint8)
    line = unlike_training(flat, (0.13,), (0.3,), top_prob=0.31)
    assert "its contrast (std 0.00) is 0.00 times the training data's 0.30" in line
    assert "the model's top class has only 31% (the rule: under 50%)" in line


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tiny_run):
    from test_web import serving

    with serving(create_app(tiny_run[0])) as url:
        yield url


def open_at(browser, url: str, size: tuple[int, int]):
    from test_web_overview import pick_test_image

    pg = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url + "/")
    pick_test_image(pg, 0)
    return pg, errors


def inside(box: dict, size: tuple[int, int]) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size[0]
        and box["y"] + box["height"] <= size[1]
    )


@pytest.mark.slow
@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_whole_network_and_the_answer_fit_the_screen(browser, served, size):
    pg, errors = open_at(browser, served, size)
    softmax = pg.locator('.col[data-layer="softmax"]').bounding_box()
    assert inside(softmax, size), softmax
    assert pg.evaluate("document.documentElement.scrollWidth") <= size[0]  # no sideways scroll
    # the chosen class's row of the softmax formula is highlighted
    pg.locator('.cls[data-cls="2"]').click()
    pg.wait_for_selector("#formula tr.win")
    row = pg.locator("#formula tr.win")
    assert (
        row.locator("td").first.inner_text()
        == pg.locator('.cls[data-cls="2"] span').first.inner_text()
    )
    colour = row.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert colour == "rgb(253, 235, 208)"
    assert pg.locator("#formula-play").count() == 0  # one step: no Play controls
    pg.close()
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_non_image_clears_the_answer_and_says_why_in_red(browser, served, size, tmp_path):
    pg, errors = open_at(browser, served, size)
    assert pg.locator("#top-class").inner_text() != ""
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    pg.set_input_files("#file", str(bad))
    pg.wait_for_selector("#note.error")
    assert "not" in pg.locator("#note").inner_text().lower()
    assert pg.locator("#note").evaluate("e => getComputedStyle(e).color") == "rgb(192, 57, 43)"
    assert pg.locator("#top-class").inner_text() == ""
    assert pg.locator(".col").count() == 0
    pg.close()
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_confusion_cell_opens_its_images_and_one_returns_to_the_overview(
    browser, served, tiny_run, size
):
    pg, errors = open_at(browser, served, size)
    pg.locator('#tabs button[data-tab="images-tab"]').click()
    pg.wait_for_selector("table.confusion")
    cell = pg.locator("table.confusion td:not(.zero)").nth(1)
    true, pred, count = (
        int(cell.get_attribute("data-true")),
        int(cell.get_attribute("data-pred")),
        int(cell.inner_text()),
    )
    cell.click()
    pg.wait_for_selector("#cell figure")
    figures = pg.locator("#cell figure")
    assert figures.count() == min(count, 24)
    run = load_run(tiny_run[0])
    captions = figures.evaluate_all("fs => fs.map(f => f.textContent)")
    assert all(c.startswith(f"{run.classes[true]} → {run.classes[pred]}") for c in captions)
    sure = [int(c.rsplit(" ", 1)[1].rstrip("%")) for c in captions]
    assert sure == sorted(sure, reverse=True)  # the most confident first
    index = figures.first.get_attribute("data-index")
    figures.first.click()
    pg.wait_for_function(
        f"document.querySelector('#true-label').textContent.startsWith('test image {index},')"
    )
    assert pg.locator("#overview-tab").is_visible()
    pg.close()
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_photo_into_a_digit_model_is_unlike_its_training_data(browser, served, size, tmp_path):
    pg, errors = open_at(browser, served, size)
    assert pg.locator("#unlike").is_hidden()
    cat = tmp_path / "chelsea.png"
    cat.write_bytes(png(photo("chelsea")))
    pg.set_input_files("#file", str(cat))
    pg.wait_for_selector("#unlike:not([hidden])")
    text = pg.locator("#unlike").inner_text()
    assert text.startswith("Unlike the training data:") and "the rule:" in text
    assert pg.locator("#top-class").inner_text() != ""  # the answer stays, with the warning
    pg.close()
    assert errors == []


@pytest.mark.slow
def test_a_wide_network_is_zoomed_to_fit_and_the_zoom_menu_enlarges_it(browser, tiny_run):
    from test_web import serving

    torch.manual_seed(0)
    run = load_run(tiny_run[0])
    model = build("resnet_small", run.input_shape, num_classes=len(run.classes))
    app = create_app(dataclasses.replace(run, model=model.eval()))
    size = (1280, 800)
    with serving(app) as url:
        pg, errors = open_at(browser, url, size)
        assert inside(pg.locator('.col[data-layer="softmax"]').bounding_box(), size)
        pg.select_option("#zoom", "2")
        pg.wait_for_selector('[data-map="conv1:0"]')
        box = pg.locator(".netbox")
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # larger: scrolls sideways
        pg.close()
    assert errors == []


def _pair(tiny_run, tmp_path, classes=None):
    """Two copies of the tiny run under tmp_path (a, b); b's classes renamed when given."""
    import json

    for where in ("a", "b"):
        shutil.copytree(tiny_run[0], tmp_path / where)
    if classes:
        info = json.loads((tmp_path / "b" / "run.json").read_text())
        info["classes"] = classes(info["classes"])
        (tmp_path / "b" / "run.json").write_text(json.dumps(info))
    return tmp_path


def test_serve_run_offers_the_runs_beside_it(tiny_run, tmp_path):
    from fastapi.testclient import TestClient

    root = _pair(tiny_run, tmp_path)
    page = TestClient(create_app(root / "b"), base_url="http://127.0.0.1:8000")
    assert page.get("/api/runs").json() == {"runs": ["b", "a"]}  # its own first


def test_convlens_runs_prints_a_table(cli, tiny_run, tmp_path):
    root = _pair(tiny_run, tmp_path)
    (root / "notes").mkdir()  # not a run: not listed
    r = cli("runs", root)
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["run", "data", "model", "epochs", "best", "accuracy"]
    best = max(m["test_accuracy"] for m in load_run(tiny_run[0]).metrics)
    assert [line.split()[0] for line in lines[1:]] == ["a", "b"]
    assert lines[1].split()[1] == "mnist" and lines[1].split()[-2:] == ["3", f"{best:.2%}"]
    one_line = cli("runs", tmp_path / "nowhere")
    assert one_line.code == 2
    assert "no folder" in one_line.err and "give a folder of run folders" in one_line.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no runs under" in cli("runs", empty).out


@pytest.mark.slow
def test_pairing_runs_of_other_classes_says_so(browser, tiny_run, tmp_path):
    from test_web import serving

    root = _pair(tiny_run, tmp_path, classes=lambda names: [f"c{k}" for k in range(len(names))])
    with serving(create_app(runs_root=root)) as url:
        pg, errors = open_at(browser, url, (1920, 1080))
        pg.select_option("#compare", "b")
        pg.wait_for_selector("#pair:not([hidden])")
        text = pg.locator("#pair").inner_text()
        assert text.startswith("These two runs were not trained on the same kind of data")
        assert "their classes differ (a: 0, 1, 2, 3, 4, …; b: c0, c1, c2, c3, c4, …)" in text
        pg.wait_for_function("document.querySelectorAll('#panes .pane').length === 2")
        softmax = pg.locator('.pane:nth-child(2) .col[data-layer="softmax"]').bounding_box()
        assert inside(softmax, (1920, 1080))  # side by side, both fit
        pg.close()
    assert errors == []


def test_formula_text_writes_each_sign_once():
    """Batch norm of a value with a negative running mean and shift: '+ 0.12', not '- -0.12'."""
    from torch import nn

    from convlens.web.formula import norm_step

    bn = nn.BatchNorm2d(1).eval()
    bn.running_mean.fill_(-0.1225)
    bn.bias.data.fill_(-0.5)
    step = norm_step(bn, 0, 1.0)
    assert step["text"] == "(1 + 0.1225) / sqrt(1 + 1e-05) * 1 - 0.5"
    assert "- -" not in step["text"] and "+ -" not in step["text"]
    assert step["value"] == pytest.approx(1.1225 / (1 + 1e-5) ** 0.5 - 0.5)


@pytest.mark.slow
def test_value_under_the_cursor_colour_scales_and_the_window_that_follows_it(browser, served):
    pg, errors = open_at(browser, served, SCREENS[0])
    first = pg.locator('[data-layer="conv2"] canvas[data-map]').first  # the most active
    name = first.get_attribute("data-map")
    first.hover()
    assert pg.locator("#readout").inner_text().startswith(f"conv2 map {name[6:]} (")
    before = first.evaluate("c => c.toDataURL()")
    pg.select_option("#scale", "map")  # each map on its own scale: other colours
    pg.wait_for_selector('.legend:has-text("each map on its own scale")')
    assert pg.locator(f'[data-map="{name}"]').evaluate("c => c.toDataURL()") != before
    pg.select_option("#scale", "network")
    pg.locator(f'[data-map="{name}"]').click()
    assert "A convolution slides a small grid" in pg.locator("#formula .about").inner_text()
    pg.wait_for_selector("#formula-input")  # the input map, with the kernel's window on it
    window = pg.locator("#formula-input").evaluate("c => c.toDataURL()")
    big = pg.locator("#formula-map").bounding_box()
    pg.mouse.move(big["x"] + big["width"] * 0.8, big["y"] + big["height"] * 0.8)
    assert "pixel (11, 11) = " in pg.locator("#formula-at").inner_text()
    assert pg.locator("#formula-input").evaluate("c => c.toDataURL()") != window  # it moved
    pg.close()
    assert errors == []
