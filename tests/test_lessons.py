"""Every lesson notebook runs top to bottom (quick mode) and matches its Jupytext source."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

LESSONS = Path(__file__).parent.parent / "lessons"
NOTEBOOKS = sorted(p for p in LESSONS.glob("*.ipynb") if re.match(r"\d\d_", p.name))
EPOCH = re.compile(r"^epoch (\d+)/(\d+) ", re.MULTILINE)  # a training epoch's line
# the last line of a cell is a call that returns a Picture (or draws one), or an IPython
# Image of GIF bytes (the animations), not an assignment
PICTURE = re.compile(
    r"^(?!\w+\s*=[^=]).*(\bcl\.(draw|Picture)|\.show|\.show_batch|\.plot|\bImage)\("
)
# an absolute path of the machine that ran the lesson (outputs name run folders relatively)
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|tmp|root|home|Users|private|var)/")
DETAILS = re.compile(r"<details>\s*<summary>\s*Answer\s*</summary>(.+?)</details>", re.DOTALL)
SOLUTION = re.compile(
    r"<details><summary>Reference solution</summary>\s*```python\n(.+?)```", re.DOTALL
)
# what every check cell may use without defining it (the lessons' first cells import these)
PRELUDE = """import numpy as np
import torch
import torch.nn.functional as F
import convlens as cl
"""
# a typical wrong answer for each build-it exercise: (reference text, wrong text, what the
# check says); a new exercise needs its row here
WRONG = {
    "corr2d": (
        "(X[i:i + h, j:j + w] * K)",
        "(X[i:i + h, j:j + w] * K[::-1, ::-1])",
        "not yet: the kernel is flipped: that is convolution; a conv layer slides K as it is",
    ),
    "corr2d_sp": (
        "X = np.pad(X, padding)",
        "X = X",
        "not yet: shape (2, 2), expected (3, 3)",
    ),
    "maxpool2d": (
        "window.max()",
        "window.mean()",
        "not yet: that is mean pooling: keep the largest value",
    ),
    "kernel_grad": (
        "cl.conv2d(X, G)",
        "cl.conv2d(X, G, flip=True)",
        "not yet: the flip: this gradient is a cross-correlation (flip=False)",
    ),
    "conv_rgb": (
        "out = out + cl.conv2d(X[c], W[c])",
        "out = cl.conv2d(X[c], W[c])",
        "not yet: only the last channel is left: add each channel's map to the running sum",
    ),
    "train_epoch": (
        "        optimizer.zero_grad()\n",
        "",
        "not yet: the gradients add up over the batches: call optimizer.zero_grad() before "
        "loss.backward()",
    ),
}


def _text(cell) -> str:
    """A code cell's printed text."""
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def builder():
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_source_has_its_committed_notebook_with_outputs_and_in_sync():
    build = builder()
    sources = build.sources()
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in sources] and len(sources) >= 5
    for path, source in zip(NOTEBOOKS, sources):
        nb = nbformat.read(path, as_version=4)
        expected = build.read(source)
        assert [(c.cell_type, c.source) for c in nb.cells] == [
            (c.cell_type, c.source) for c in expected.cells
        ], f"{path.name} differs from {source.name}: run lessons/build.py"
        code = [c for c in nb.cells if c.cell_type == "code"]
        # every cell ran, and every cell but a build-it exercise's (it only defines the
        # function the student writes) shows an output
        assert all(c.execution_count for c in code), f"{path.name} was not run"
        silent = [c for c in code[1:] if not c.get("outputs") and "TODO" not in c.source]
        assert not silent, f"{path.name} lacks outputs: {silent[0].source[:80]}"


def test_lessons_are_found_by_file_name(tmp_path, monkeypatch):
    build = builder()
    monkeypatch.setattr(build, "HERE", tmp_path)
    for name in ("06_colour.md", "README.md", "notes.md", "01_intro.md"):
        (tmp_path / name).write_text("# a lesson\n")
    assert [p.name for p in build.sources()] == ["01_intro.md", "06_colour.md"]
    nb = build.read(tmp_path / "06_colour.md")
    assert [(c.cell_type, c.source) for c in nb.cells] == [("markdown", "# a lesson")]
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_prose_keeps_outputs_only_when_the_code_does_the_same(tmp_path, monkeypatch):
    """`build.py --prose` takes new text and a new code layout (lines split, imports sorted or
    an unused one dropped) but refuses code that does something else."""
    build = builder()
    old = "import torch\nimport numpy as np\nx = np.ones(3); y = torch.tensor(x * 2)\ny"
    laid_out = (
        "import numpy as np\n\n# two lines now\nx = np.ones(3)\ny = torch.tensor(\n    x * 2\n)\ny"
    )
    assert build.same_code(old, "import numpy as np\nimport torch\n" + laid_out.split("\n", 1)[1])
    assert build.same_code(old, laid_out)  # `import torch` dropped: fewer imports only
    assert not build.same_code(old, old.replace("x * 2", "x * 3"))  # another number
    assert not build.same_code(old, "import scipy\n" + old)  # a new import
    assert not build.same_code(old, old + "\nprint(y)")  # one more statement
    monkeypatch.setattr(build, "HERE", tmp_path)
    source = tmp_path / "01_intro.md"
    cell = "```{code-cell}\n%s\n```\n"
    source.write_text("# a lesson\n\n" + cell % old)
    nb = build.read(source)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    nbformat.write(nb, source.with_suffix(".ipynb"))
    source.write_text("# a lesson, reworded\n\n" + cell % laid_out)
    kept = build.with_new_prose(source, source.with_suffix(".ipynb"))
    assert kept.cells[0].source == "# a lesson, reworded" and kept.cells[1].source == laid_out
    assert kept.cells[1].outputs[0].text == "ran\n"
    source.write_text("# a lesson\n\n" + cell % old.replace("x * 2", "x * 3"))
    with pytest.raises(SystemExit, match="run --execute instead"):
        build.with_new_prose(source, source.with_suffix(".ipynb"))


def test_every_lesson_opens_with_goals_and_ends_with_three_answered_exercises():
    build = builder()
    for source in build.sources():
        name = source.stem
        markdown = [c.source for c in build.read(source).cells if c.cell_type == "markdown"]
        assert "What you will be able to do" in markdown[0], name
        answers = [a for src in markdown for a in DETAILS.findall(src)]
        assert len(answers) >= 3, (name, len(answers))
        assert all(a.strip() for a in answers), name  # no empty answer
        assert "## Exercises" in markdown[-1] and DETAILS.search(markdown[-1]), name


def build_it_exercises():
    """(lesson, function name, student cell, check cell, reference code) of every exercise
    whose check cell is followed by a folded reference solution."""
    build = builder()
    for source in build.sources():
        cells = build.read(source).cells
        for i, cell in enumerate(cells):
            found = SOLUTION.search(cell.source) if cell.cell_type == "markdown" else None
            if found:  # the two code cells above it: the student's, then the check
                student, check = [c for c in cells[:i] if c.cell_type == "code"][-2:]
                name = re.search(r"^def (\w+)", found.group(1), re.MULTILINE).group(1)
                yield source.stem, name, student.source, check.source, found.group(1)


def _verdict(code: str, check: str):
    """Run `code` then the check cell; the value of the check cell's last expression."""
    namespace: dict = {}
    exec(PRELUDE + code, namespace)
    tree = ast.parse(check)
    last = tree.body.pop()
    assert isinstance(last, ast.Expr), check  # the check cell ends with the verdict
    exec(compile(tree, "<check>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<check>", "eval"), namespace)


EXERCISES = list(build_it_exercises())


def test_each_lesson_with_build_it_exercises_has_a_wrong_answer_for_each():
    assert {name for _, name, *_ in EXERCISES} == set(WRONG)
    assert {lesson for lesson, *_ in EXERCISES} >= {
        "01_convolution_and_pooling", "07_training_loop"
    }  # fmt: skip


@pytest.mark.parametrize(("lesson", "name", "student", "check", "reference"), EXERCISES,
                         ids=[f"{e[0][:2]}-{e[1]}" for e in EXERCISES])  # fmt: skip
def test_build_it_check_passes_the_reference_and_names_a_typical_mistake(
    lesson, name, student, check, reference, monkeypatch
):
    monkeypatch.syspath_prepend(str(LESSONS))  # checks.py, as in the notebook
    assert "TODO" in student and "TODO" not in reference
    assert not _verdict(student, check)  # the cell as the student finds it: not yet
    verdict = _verdict(reference, check)
    assert verdict.ok, (lesson, name, verdict.message)
    right, wrong, message = WRONG[name]
    assert right in reference, (name, right)
    verdict = _verdict(reference.replace(right, wrong), check)
    assert not verdict.ok and verdict.message == message, (name, verdict.message)


def _picture_cells(nb):
    """(index, cell) of the code cells whose last line is a picture-producing call."""
    for i, cell in enumerate(nb.cells):
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if cell.cell_type == "code" and lines and PICTURE.search(lines[-1]):
            yield i, cell


def _check_outputs(nb, name):
    """Every picture cell saved a PNG (or GIF); no output is a Figure repr, a traceback or
    an absolute path of the machine that ran it."""
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
            where = MACHINE_PATH.search(text)
            assert not where, (name, i, text[max(0, where.start() - 60) : where.end() + 60])


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
