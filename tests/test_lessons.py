"""Every lesson notebook runs top to bottom (quick mode) and matches lessons/build.py."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

LESSONS = Path(__file__).parent.parent / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
EPOCH = re.compile(r"^epoch (\d+)/(\d+) ", re.MULTILINE)  # a training epoch's line
# the last line of a cell is a call that returns a Picture (or draws one), or an IPython
# Image of GIF bytes (the animations), not an assignment
PICTURE = re.compile(
    r"^(?!\w+\s*=[^=]).*(\bcl\.(draw|Picture)|\.show|\.show_batch|\.plot|\bImage)\("
)
DETAILS = re.compile(r"<details>\s*<summary>\s*Answer\s*</summary>(.+?)</details>", re.DOTALL)


def _text(cell) -> str:
    """A code cell's printed text."""
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def builder():
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_five_lessons_committed_with_outputs_and_in_sync_with_the_builder():
    build = builder()
    assert [p.stem for p in NOTEBOOKS] == list(build.LESSONS) and len(NOTEBOOKS) == 5
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert [c.source for c in nb.cells] == [src for _, src in build.LESSONS[path.stem]]
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("outputs") for c in code[1:]), f"{path.name} lacks outputs"


def test_every_lesson_opens_with_goals_and_ends_with_three_answered_exercises():
    for name, cells in builder().LESSONS.items():
        markdown = [src for kind, src in cells if kind == "md"]
        assert "What you will be able to do" in markdown[0], name
        answers = [a for src in markdown for a in DETAILS.findall(src)]
        assert len(answers) >= 3, (name, len(answers))
        assert all(a.strip() for a in answers), name  # no empty answer
        assert "## Exercises" in markdown[-1] and DETAILS.search(markdown[-1]), name


def _picture_cells(nb):
    """(index, cell) of the code cells whose last line is a picture-producing call."""
    for i, cell in enumerate(nb.cells):
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if cell.cell_type == "code" and lines and PICTURE.search(lines[-1]):
            yield i, cell


def _check_outputs(nb, name):
    """Every picture cell saved a PNG (or GIF); no output is a Figure repr or a traceback."""
    for i, cell in _picture_cells(nb):
        kinds = {k for o in cell.get("outputs", []) for k in o.get("data", {})}
        assert kinds & {"image/png", "image/gif"}, (name, i, cell.source[-80:], kinds)
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            text = o.get("text", "") + "".join(
                v for k, v in o.get("data", {}).items() if k.startswith("text/")
            )
            assert "<Figure size" not in text, (name, i)
            assert "Traceback" not in text and o.output_type != "error", (name, i)


def test_committed_pictures_are_images_and_no_output_is_a_figure_repr_or_traceback():
    notebooks = {path.name: nbformat.read(path, as_version=4) for path in NOTEBOOKS}
    for name, nb in notebooks.items():
        _check_outputs(nb, name)
    # the check above has something to check: the lessons draw many pictures, and show
    # the animations as GIFs
    assert sum(len(list(_picture_cells(nb))) for nb in notebooks.values()) >= 20
    gifs = [o for nb in notebooks.values() for c in nb.cells for o in c.get("outputs", [])
            if "image/gif" in o.get("data", {})]  # fmt: skip
    assert len(gifs) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lesson_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("CONVLENS_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    quick_runs = LESSONS.parent / "runs" / "lessons-quick"
    try:
        nb = builder().execute(path, timeout=300)
    finally:
        shutil.rmtree(quick_runs, ignore_errors=True)
    committed = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in ran] == list(range(1, len(ran) + 1))  # every cell ran
    for i, (before, after) in enumerate(zip(committed, ran)):
        outputs = after.get("outputs", [])
        assert not [o for o in outputs if o.output_type == "error"], (path.name, i, outputs)
        assert not any("Traceback" in o.get("text", "") for o in outputs), (path.name, i)
        # every cell shows the same kinds of output as the committed full run
        kinds = {o.output_type for o in before.get("outputs", [])}
        assert kinds <= {o.output_type for o in outputs}, (path.name, i, kinds)
        # and a cell that trained for several epochs in the full run trained for one here
        # (a cell may train several runs: each of them trained for one epoch)
        if EPOCH.search(_text(before)):
            found = EPOCH.findall(_text(after))
            assert found and set(found) == {("1", "1")}, (path.name, i, _text(after))
    _check_outputs(nb, path.name)
