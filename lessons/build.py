"""Generate (and optionally run) the lesson notebooks from their Jupytext sources.

    .venv/bin/python lessons/build.py             # write lessons/NN_*.ipynb without outputs
    .venv/bin/python lessons/build.py --execute   # run them fully and save their outputs
    .venv/bin/python lessons/build.py --prose     # new text or code layout: keep the outputs
    .venv/bin/python lessons/build.py 03 05       # only the lessons whose name contains these

Each lesson is one MyST Markdown file, `lessons/NN_slug.md`, that a teacher edits as a
document (Jupytext pairs it with `NN_slug.ipynb` in Jupyter too). Any `NN_*.md` in this folder
is a lesson: adding one needs no change here. The committed notebooks carry outputs from a full
run on a 2-core CPU; CONVLENS_QUICK=1 (the tests) shrinks data and epochs so every lesson runs
in seconds.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).parent
FORMAT = "md:myst"
NAME = re.compile(r"^\d\d_[a-z0-9_]+$")  # 01_convolution_and_pooling
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources() -> list[Path]:
    """Every lesson source, `lessons/NN_slug.md`, in lesson order."""
    return sorted(p for p in HERE.glob("*.md") if NAME.match(p.stem))


def read(source: Path) -> nbformat.NotebookNode:
    """The notebook a lesson source describes, without outputs."""
    nb = jupytext.read(source, fmt=FORMAT)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["jupytext"] = {"formats": f"ipynb,{FORMAT}"}  # paired in Jupyter
    return nb


def execute(path: Path, *, timeout: int = 900) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in lessons/ and return it with outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    return nb


def meaning(code: str) -> tuple[list[str], set[tuple[str, ...]]]:
    """What a code cell does, apart from its layout: its statements (ast, imports left out)
    and the names it imports. Comments, line breaks and import order do not count."""
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.startswith("%")))
    statements, imports = [], set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imports |= {("", a.name, a.asname or "") for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports |= {(node.module or "", a.name, a.asname or "") for a in node.names}
        else:
            statements.append(ast.dump(node))
    return statements, imports


def same_code(old: str, new: str) -> bool:
    """True when `new` only lays `old` out differently (or drops some of its imports)."""
    if old == new:
        return True
    (run_old, imp_old), (run_new, imp_new) = meaning(old), meaning(new)
    return run_old == run_new and imp_new <= imp_old


def with_new_prose(source: Path, path: Path) -> nbformat.NotebookNode:
    """The executed notebook at `path` with its markdown, and the layout of its code, taken
    from `source`; its code must do what `source` says (`same_code`), or the notebook has to
    be run again."""
    old = nbformat.read(path, as_version=4)
    new = read(source)
    kinds = [c.cell_type for c in old.cells] == [c.cell_type for c in new.cells]
    if not kinds or not all(
        same_code(a.source, b.source) for a, b in zip(old.cells, new.cells) if a.cell_type == "code"
    ):
        sys.exit(f"{path.name}: its code cells differ from {source.name}; run --execute instead")
    for before, after in zip(old.cells, new.cells):
        before.source = after.source
    old.metadata.update(new.metadata)
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run them and keep outputs")
    parser.add_argument(
        "--prose",
        action="store_true",
        help="replace the text and the code's layout only, keeping the outputs",
    )
    parser.add_argument("names", nargs="*", help="only these lessons (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for source in sources():
        if args.names and not any(n in source.stem for n in args.names):
            continue
        path = source.with_suffix(".ipynb")
        if args.prose:
            nbformat.write(with_new_prose(source, path), path)
            print(f"wrote the text of {path}", file=sys.stderr)
            continue
        nbformat.write(read(source), path)
        if args.execute:
            nbformat.write(execute(path, timeout=3600), path)  # a cell may train for minutes
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
