"""Every lesson notebook runs top to bottom (quick mode) and matches lessons/build.py."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

LESSONS = Path(__file__).parent.parent / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))


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
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert os.environ.get("CONVLENS_QUICK") == "1"
