"""Tests of looking inside a run: pictures, hooks, filter history, Grad-CAM, report."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import convlens as cl
from convlens.engine.history import FILTERS_FILE, FilterHistory, read_history
from convlens.errors import ConfigError, ModelError
from convlens.look.inspector import Inspector
from convlens.look.kinds import KINDS
from convlens.models.hooks import capture_activations, forward_hooks

from conftest import one_line_error


def not_blank(path, min_width: int = 300) -> None:
    img = Image.open(path)
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    assert img.size[0] >= min_width and a.std() > 5, path


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_the_table_draws_through_run_show_and_the_cli(
    cli, tiny_run, mlp_run, tmp_path, kind
):
    """Both doors read the one table: the same kinds, an animation as GIF frames beside its
    still (the CLI writes both), nothing special-cased by name."""
    entry = KINDS[kind]
    run = mlp_run if entry.model == "mlp" else tiny_run[0]
    picture = cl.load(run).show(kind, index=2)
    assert picture.name == kind and picture._repr_png_().startswith(b"\x89PNG")
    assert (picture.frames is not None) == entry.animates
    out = tmp_path / f"{kind}.{'gif' if entry.animates else 'png'}"
    result = cli("show", kind, run, "--index", "2", "--out", out)
    assert result.code == 0 and f"wrote {out}" in result.out, result
    not_blank(out if not entry.animates else out.with_suffix(".png"))
    if entry.animates:
        assert Image.open(out).n_frames == len(picture.frames) > 1
        assert f"({len(picture.frames)} frames) and {out.with_suffix('.png')}" in result.out


def test_show_help_lists_exactly_the_tables_kinds(cli):
    result = cli("show", "--help")
    assert result.code == 0
    listed = result.out.split("kinds:\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(maxsplit=1) for line in listed.splitlines()]
    assert [name for name, _ in rows] == list(KINDS)
    assert [text for _, text in rows] == [entry.help for entry in KINDS.values()]
    wrong = cli("show", "filterz", "run")
    assert wrong.code == 2 and all(repr(name) in wrong.err for name in KINDS), wrong


def test_run_show_documents_every_kind():
    doc = " ".join((cl.Run.show.__doc__ or "").split())
    assert all(name in doc for name in KINDS)


def test_show_checks_n_and_the_out_suffix_for_both_doors(cli, tiny_run, tmp_path):
    one_line_error(
        cli("show", "mistakes", tiny_run[0], "--n", "0"), "Expected --n >= 1. Received: 0"
    )
    with pytest.raises(ConfigError, match=r"Expected --n >= 1\. Received: 0"):
        cl.load(tiny_run[0]).show("mistakes", n=0)
    one_line_error(
        cli("show", "evolution", tiny_run[0], "--out", tmp_path / "e.png"),
        "Expected --out ending in .gif. Received:",
    )
    one_line_error(
        cli("show", "filters", tiny_run[0], "--out", tmp_path / "f.gif"),
        "Expected --out ending in .png, .svg, .pdf. Received:",
    )


def test_evolution_gif_has_a_frame_per_epoch(cli, tiny_run, tmp_path):
    out = tmp_path / "evo.gif"
    result = cli("show", "evolution", tiny_run[0], "--out", out)
    assert result.code == 0, result
    assert Image.open(out).n_frames == 3 + 1  # initial weights + 3 epochs
    not_blank(out.with_suffix(".png"))
    history = read_history(tiny_run[0])
    assert list(history) == ["conv1"] and sorted(history["conv1"]) == [0, 1, 2, 3]
    assert history["conv1"][3].shape == (8, 1, 3, 3)
    assert not torch.equal(history["conv1"][0], history["conv1"][3])  # training moved them


def test_show_errors_say_what_is_possible(cli, tiny_run, tmp_path):
    run = tiny_run[0]
    r = cli("show", "filters", run, "--layer", "conv9")
    assert r.code == 2 and "no layer 'conv9'" in r.err and "conv1, conv2" in r.err
    r = cli("show", "features", run, "--index", "5000")
    assert r.code == 2 and "Expected an index in 0..199 (mnist test). Received: 5000" in r.err
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    (bare / FILTERS_FILE).unlink()
    r = cli("show", "evolution", bare)
    assert r.code == 2 and "no filter history" in r.err and "--record-filters" in r.err
    r = cli("show", "mlp", run)
    assert r.code == 2 and "needs an MLP run" in r.err
    assert all(len(x.err.splitlines()) == 1 for x in [r])


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_capture_removes_hooks_even_when_forward_fails_and_survives_inplace_relu():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )
    x = torch.randn(1, 1, 6, 6)
    acts = capture_activations(model, x, ["0"])
    assert _hooks(model) == 0
    assert (acts["0"] < 0).any()  # cloned before the in-place ReLU zeroed them
    with pytest.raises(RuntimeError):
        with forward_hooks(model, ["0", "1"]):
            model(torch.randn(1, 1, 7, 7))  # wrong size for the Linear layer
    assert _hooks(model) == 0


def test_gradcam_is_a_map_of_the_image_and_leaves_the_model_alone(tiny_run):
    from convlens.look.attribution import gradcam

    look = Inspector.open(tiny_run[0])
    flags = [p.requires_grad for p in look.run.model.parameters()]
    cams = {}
    for index in range(8):
        x, pixels, _ = look.one_image(index=index)
        cam, target, layer = gradcam(look.run.model, x)
        assert cam.shape == (28, 28) and layer == "conv2"
        assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
        img = pixels[0].float()
        where = max(
            ((r, c) for r in (0, 1) for c in (0, 1)),  # the bright blob's quadrant
            key=lambda rc: img[
                12 * rc[0] + 4 : 12 * rc[0] + 12, 12 * rc[1] + 4 : 12 * rc[1] + 12
            ].mean(),
        )
        cams.setdefault(where, cam)
    # the map follows the evidence: blobs in different places give different maps
    maps = list(cams.values())
    assert len(maps) >= 2 and np.abs(maps[0] - maps[1]).max() > 0.3
    assert _hooks(look.run.model) == 0
    assert all(p.grad is None for p in look.run.model.parameters())
    assert [p.requires_grad for p in look.run.model.parameters()] == flags
    with pytest.raises(ModelError, match="no layer 'conv7'.*conv1, conv2"):
        gradcam(look.run.model, x, "conv7")


def test_filter_history_survives_a_resume(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3))

    class State:
        def __init__(self, epoch):
            self.model, self.epoch = model, epoch

    first = FilterHistory(tmp_path, ["0"])
    first.on_fit_start(State(0))
    for epoch in (1, 2):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        first.on_epoch_end(State(epoch))
    initial = read_history(tmp_path)["0"][0].clone()
    again = FilterHistory(tmp_path, ["0"])  # what a resumed run creates,
    again.load_state_dict(first.state_dict())  # given its state from the checkpoint
    again.on_fit_start(State(2))
    again.on_epoch_end(State(3))
    history = read_history(tmp_path)["0"]
    assert sorted(history) == [0, 1, 2, 3] and torch.equal(history[0], initial)
    assert torch.allclose(history[3], initial + 2)


def test_mlp_weights_beside_cnn_filters(cli, tiny_run, tmp_path):
    from convlens.cli import main

    out_run = tmp_path / "mlp"
    assert (
        main(
            [
                "train",
                "--model",
                "mlp_small",
                "--data",
                "mnist",
                "--data-dir",
                str(tiny_run[1]),
                "--epochs",
                "1",
                "--batch-size",
                "50",
                "--no-progress",
                "--out",
                str(out_run),
            ]
        )
        == 0
    )
    out = tmp_path / "mlp.png"
    result = cli("show", "mlp", out_run, "--cnn", tiny_run[0], "--out", out)
    assert result.code == 0, result
    not_blank(out)


def test_report_has_every_section(tiny_run, tmp_path):
    from convlens.look.report import SECTIONS, write_report

    path = write_report(tiny_run[0], out=tmp_path / "report.html")
    text = path.read_text()
    for name in SECTIONS:
        assert f'<section id="{name}">' in text
    for title in ("Saliency", "Grad-CAM", "Integrated Gradients", "Occlusion"):
        assert f"<h2>{title}</h2>" in text
    assert text.count("data:image/png;base64,") >= 8 + 3 * 3 and "data:image/gif;base64," in text
    assert 'src="http' not in text  # self-contained
    assert "SpecModel" not in text and "Model: conv 8 3 pad=same, maxpool 2" in text
    # results first, a table of contents, a note per section, the configuration folded last
    order = re.findall(r'<section id="([^"]+)">', text)
    assert order[:4] == ["results", "curves", "evaluation", "mistakes"] and order[-1] == "config"
    assert all(f'<a href="#{name}">' in text for name in SECTIONS)
    assert "test accuracy, evaluated now</div>" in text and "<th>precision</th>" in text
    assert text.count('<p class="note">') >= len(SECTIONS)
    assert "<details><summary>show config.yaml</summary><pre>" in text


@pytest.fixture(scope="module")
def mlp_run(tiny_run, tmp_path_factory):
    """A 1-epoch run of the registry's mlp_small on the tiny data of `tiny_run`."""
    from convlens.cli import main

    out = tmp_path_factory.mktemp("runs") / "mlp"
    args = ["train", "--model", "mlp_small", "--data", "mnist", "--data-dir", str(tiny_run[1])]
    args += ["--epochs", "1", "--batch-size", "50", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    return out


def test_mlp_report_shows_its_weights_and_attributions(mlp_run, tmp_path):
    from convlens.look.report import MLP_SECTIONS, write_report

    text = write_report(mlp_run, out=tmp_path / "report.html").read_text()
    sections = re.findall(r'<section id="([^"]+)">', text)
    assert sections == list(MLP_SECTIONS)
    assert "mlp" in sections and "saliency" in sections and "occlusion" in sections
    assert not {"filters", "features", "gradcam"} & set(sections)
    assert "<h2>MLP weights</h2>" in text and "<h2>Integrated Gradients</h2>" in text
    assert "Model: mlp_small" in text and "SpecModel" not in text
    assert "<p>mlp_small on mnist: best test accuracy" in text


@pytest.mark.slow
def test_report_renders_in_chromium(tiny_run, tmp_path):
    chromium = shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from convlens.look.report import SECTIONS, write_report

    path = write_report(tiny_run[0], out=tmp_path / "report.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.as_uri())
        for name in SECTIONS:
            assert page.locator(f"section#{name} h2").is_visible()
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        count = page.evaluate("document.images.length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert count >= 9 and broken == 0
    not_blank(tmp_path / "report.png")


@pytest.mark.slow
def test_mlp_report_renders_in_chromium(mlp_run, tmp_path):
    chromium = shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from convlens.look.report import MLP_SECTIONS, write_report

    path = write_report(mlp_run, out=tmp_path / "report.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.as_uri())
        for name in MLP_SECTIONS:
            assert page.locator(f"section#{name} h2").is_visible()
        sizes = page.evaluate(
            "Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
        )
        browser.close()
    assert len(sizes) >= 1 + 1 + 2 + 1 + 1 + 3 and min(sizes) > 0, sizes


def test_compare_cnn_and_mlp_on_the_same_budget(cli, tiny_run, tmp_path):
    args = (
        "compare",
        "--data",
        "mnist",
        "--data-dir",
        tiny_run[1],
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--limit-test",
        "150",
        "--out",
        tmp_path / "cmp",
        "--no-progress",
    )
    result = cli(*args)
    assert result.code == 0, result
    configs = sorted((tmp_path / "cmp").glob("*/config.yaml"))
    assert len(configs) == 2 and all("limit_test: 150" in c.read_text() for c in configs)
    lines = [ln for ln in result.out.splitlines() if ln.startswith("| ")]
    # a comparison is a sweep over the model: the sweep's table, one row a model
    assert lines[0].startswith("| run | test acc | ± (seeds) | loss | params | mult-adds |")
    rows = [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines[1:]]
    assert [(r[0], r[4], r[5]) for r in rows] == [
        ("mlp", "93,834", "93,664"),
        ("keras_mnist", "93,322", "2,794,240"),
    ]
    assert (tmp_path / "cmp" / "compare.md").read_text().splitlines()[2] == lines[1]
    not_blank(tmp_path / "cmp" / "compare.png")
    again = cli(*args)  # finished runs are reused
    assert again.code == 0 and "epoch 1/1" not in again.out
