"""The shape of the code: layer contracts, no import cycles, one module per mechanism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).parent.parent / "src" / "convlens"
MAX_LINES = 400


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("convlens")


def test_no_import_cycles(graph):
    """No module reaches itself through its imports (lazy, function-level imports count)."""
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            # a package's __init__ re-exporting its own submodules is not a cycle
            if imported.startswith(importer + ".") or importer.startswith(imported + "."):
                continue
            if graph.chain_exists(imported=importer, importer=imported):
                cycles.append(f"{importer} -> {imported}")
    assert cycles == []


def test_layer_contracts_hold():
    """import-linter's contracts from pyproject.toml (also run by `make test`)."""
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run(
        [str(lint), "--no-cache"], capture_output=True, text=True, cwd=SRC.parent.parent
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Contracts: 5 kept, 0 broken." in out.stdout


def test_one_module_registers_forward_hooks():
    users = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "register_forward_hook" in p.read_text()
    )
    assert users == ["models/hooks.py"]


def test_no_module_over_the_size_guide():
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_the_engine_never_draws():
    drawing = sorted(
        str(p.relative_to(SRC))
        for p in (SRC / "engine").rglob("*.py")
        if "matplotlib" in p.read_text()
    )
    assert drawing == []
