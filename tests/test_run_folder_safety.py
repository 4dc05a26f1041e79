"""A run folder from anyone is safe to open (issue 23): opening one never imports the code it
names unless the user opts in, a missing file never costs the files that are there, and
no file of it (YAML included) can make a command hang, eat the memory or crash with a
traceback. The README's "Safety" section states these promises."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml

import convlens as cl
from convlens.errors import CheckpointError

from conftest import one_line_error

# A module shipped inside a run folder: importing it writes a marker file. Its Net builds
# the run's own spec (so a trusted load fills it with the run's weights).
EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from convlens.models.build import build
_model = build({spec!r}, {shape!r}, num_classes={n})


class Net(type(_model)):
    def __new__(cls):
        return _model
"""


@pytest.fixture
def evil_run(tiny_run, tmp_path):
    """(run folder whose run.json and config.yaml name `RUN/evil.py:Net`, marker path)."""
    run, marker = tmp_path / "shared-run", tmp_path / "marker"
    shutil.copytree(tiny_run[0], run)
    info = json.loads((run / "run.json").read_text())
    shape, n = tuple(info["input_shape"]), info["num_classes"]
    evil = run / "evil.py"
    evil.write_text(EVIL.format(marker=str(marker), spec=info["spec_text"], shape=shape, n=n))
    info.update(model=f"{evil}:Net", spec_text=None)
    (run / "run.json").write_text(json.dumps(info))
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "model": f"{evil}:Net"}))
    return run, marker


@pytest.mark.parametrize(
    "command",
    [
        ("eval", "{run}"),
        ("predict", "{run}", "--index", "0"),
        ("show", "filters", "{run}", "--out", "{run}/f.png"),
        ("report", "{run}"),
        ("doctor", "{run}"),
        ("train", "--resume", "{run}"),
    ],
)
def test_no_command_imports_the_code_a_run_names(cli, evil_run, command):
    run, marker = evil_run
    res = cli(*(part.format(run=run) for part in command))
    one_line_error(res, f"its model '{run}/evil.py:Net' would import the file", "--trust-code")
    assert not marker.exists()


def test_the_explorer_and_the_api_import_no_code_of_a_run(evil_run):
    from fastapi.testclient import TestClient

    from convlens.web.app import create_app

    run, marker = evil_run
    with pytest.raises(CheckpointError, match=r"opt in with trust_code=True"):
        cl.load(run)
    page = TestClient(create_app(run), base_url="http://127.0.0.1:8000")  # `convlens serve`
    r = page.get(f"/api/runs/{run.name}")
    assert r.status_code == 400 and "cl.load(path, model=Net())" in r.json()["detail"], r.text
    assert not marker.exists()


def test_a_module_a_run_names_is_not_imported_either(tiny_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(tiny_run[0], run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "model": "this:Net", "spec_text": None}))
    had_this = "this" in sys.modules
    with pytest.raises(CheckpointError, match=r"would import the module 'this'"):
        cl.load(run)
    assert ("this" in sys.modules) == had_this


def test_trusting_a_runs_code_imports_it(cli, evil_run):
    run, marker = evil_run
    loaded = cl.load(run, trust_code=True)
    assert marker.read_text() == "imported" and loaded.model is not None
    marker.unlink()
    res = cli("eval", run, "--trust-code")
    assert res.code == 0 and "accuracy" in res.out, res


def test_a_fresh_instance_needs_no_trust(evil_run):
    run, marker = evil_run
    info = json.loads((run / "run.json").read_text())
    spec = (run / "model.txt").read_text().strip()
    fresh = cl.build(spec, tuple(info["input_shape"]), num_classes=info["num_classes"])
    assert cl.load(run, model=fresh).model is fresh and not marker.exists()
