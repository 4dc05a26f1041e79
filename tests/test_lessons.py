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
        if EPOCH.search(_text(before)):
            assert EPOCH.findall(_text(after)) == [("1", "1")], (path.name, i, _text(after))
