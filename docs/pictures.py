"""The README's "look inside" pictures, drawn by `convlens show` from the demo run.

    .venv/bin/python docs/pictures.py [RUN]     # default runs/demo (`make demo` makes it)

Writes docs/filters.png, evolution.png, features.png, gradcam.png and mistakes.png with the
same function each door uses (`run.show`). Look at them before committing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import convlens as cl

DOCS = Path(__file__).parent
INDEX = 0  # test image 0 of Fashion-MNIST: an ankle boot
PICTURES = {  # docs file: (kind, options)
    "filters.png": ("filters", {}),
    "features.png": ("features", {"index": INDEX}),
    "gradcam.png": ("gradcam", {"index": INDEX}),
    "mistakes.png": ("mistakes", {}),
    "evolution.png": ("evolution", {}),  # an animation: its still, the strip of epochs
}


def main(run_dir: str = "runs/demo") -> None:
    if not (Path(run_dir) / "run.json").exists():
        sys.exit(f"no run in {run_dir!r}: make it first (make demo)")
    run = cl.load(run_dir)
    for name, (kind, options) in PICTURES.items():
        print(f"{kind}: {run.show(kind, **options).savefig(DOCS / name)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
