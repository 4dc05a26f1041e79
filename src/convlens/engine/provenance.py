"""Where a run came from: library versions and the git commit of the source tree, recorded in
every run folder's run.json (`convlens.engine.runs.create_run`)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy
import torch

from convlens._version import __version__


def versions() -> dict[str, str]:
    """Versions of python and the libraries that decide the numbers (torchvision's from its
    package metadata: importing it took 1 to 16 s of every run's start on 2 busy cores)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _installed("torchvision"),
        "numpy": numpy.__version__,
        "convlens": __version__,
    }


def _installed(package: str) -> str:
    """The installed version of `package` ("not installed" when it is not)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(path: str | Path | None = None) -> str | None:
    """The git commit of the source tree (None outside a git repository)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
