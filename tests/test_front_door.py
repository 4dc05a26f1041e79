"""The front door as tools read it: the names `import convlens as cl` offers, the signatures
type checkers and editors see, and the version's own module."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import convlens as cl
from convlens import _version

ROOT = Path(__file__).parent.parent
INIT = ROOT / "src" / "convlens" / "__init__.py"


def _front_door_lists() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(TYPE_CHECKING imports {name: module}, _FRONT_DOOR, __all__) as written in __init__.py."""
    tree = ast.parse(INIT.read_text())
    typed: dict[str, str] = {}
    front: dict[str, str] = {}
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                typed.update({alias.name: imp.module for alias in imp.names})
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_FRONT_DOOR":
            front = ast.literal_eval(node.value)
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            names = ast.literal_eval(node.value)
    return typed, front, names


def test_the_type_checking_block_the_lazy_table_and_all_name_the_same_things():
    typed, front, names = _front_door_lists()
    assert typed == front  # each name from the same module, for mypy and at run time
    assert sorted(names) == sorted(["ConvlensError", "__version__", *front])
    assert names == cl.__all__
    for name, module in front.items():  # and the lazy loading finds each where it says
        value = getattr(cl, name)
        assert value is getattr(sys.modules[module], name), name


def test_mypy_sees_the_real_signatures_and_refuses_a_misspelt_name():
    """`cl.train` was `Any` to type checkers (a module __getattr__); now its signature. Each
    line of typecheck/front_door.py says in its comment what mypy says about it."""
    probe = ROOT / "tests" / "typecheck" / "front_door.py"
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}  # this checkout's convlens
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports=silent", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,  # its .mypy_cache (a first run takes a minute or two) and settings
        env=env,
        timeout=600,
    ).stdout
    said = {int(line.split(":")[1]): line for line in out.splitlines() if ".py:" in line}
    expected = {
        number: line.split("  # ")[-1]
        for number, line in enumerate(probe.read_text().splitlines(), 1)
        if line.startswith(("reveal_type", "cl."))
    }
    assert len(expected) == 9
    for number, words in expected.items():
        assert words in said.get(number, ""), (number, words, out)


def test_list_models_is_a_plain_function_and_models_a_plain_package():
    assert inspect.isfunction(cl.list_models) and cl.list_models.__module__ == "convlens.api.models"
    import convlens.models.registry as registry  # a submodule imports as any package's would

    assert [row.name for row in cl.list_models()] == [i.name for i in registry.list_models()]
    assert inspect.ismodule(cl.models) and not callable(cl.models)


def test_the_version_lives_in_its_own_module_and_provenance_reads_it_there():
    assert cl.__version__ == _version.__version__
    assert cl.__version__ == _installed_version()
    for module in ("engine/provenance.py", "cli/__init__.py"):
        text = (ROOT / "src" / "convlens" / module).read_text()
        assert "from convlens._version import __version__" in text, module
    from convlens.engine.provenance import versions

    assert versions()["convlens"] == _version.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "convlens._version.__version__" }' in pyproject


def _installed_version() -> str:
    from importlib.metadata import version

    return version("convlens")
