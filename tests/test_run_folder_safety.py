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
from convlens.engine import checkpoint, train
from convlens.errors import CheckpointError

from conftest import TOY_SPEC, install_toy_data, one_line_error, toy_config

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


# ----------------------------------------------------------------------------- lost manifest
@pytest.fixture
def toy_data(monkeypatch):
    install_toy_data(monkeypatch)


def test_a_lost_manifest_never_costs_the_weights(cli, tmp_path, toy_data):
    """checkpoint.json gone, the weights and state there: every door refuses in one line
    and no weight or state file is deleted or changed."""
    out = tmp_path / "run"
    train.train(toy_config(out=str(out), epochs=2), log=None)
    (out / checkpoint.MANIFEST).unlink()
    kept = {
        p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith(("weights.", "state."))
    }
    assert kept
    words = ("holds weights or training state (", "but no checkpoint.json", "nothing was changed")
    one_line_error(cli("train", "--resume", out), f"run folder '{out}'", *words)
    one_line_error(cli("train", "--model", TOY_SPEC, "--data", "quadrants", "--out", out), *words)
    one_line_error(cli("eval", out), *words)
    with pytest.raises(CheckpointError, match="move those files away to start the run over"):
        train.resume(out, log=None)
    with pytest.raises(CheckpointError, match="but no checkpoint.json"):
        cl.load(out)
    assert {n: (out / n).read_bytes() for n in kept if (out / n).exists()} == kept


# ----------------------------------------------------------------------------- YAML bombs
def yaml_bomb(levels: int = 9, width: int = 9) -> str:
    """A billion-laughs document under a valid key: `levels` lists of `width` aliases of
    the previous list (9 levels of 9: 387 million values from under 300 bytes)."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lists = ["&a [" + ",".join("x" * width) + "]"]
    for i in range(1, levels):
        lists.append(f"&{names[i]} [" + ",".join([f"*{names[i - 1]}"] * width) + "]")
    return "epochs: [" + ",".join(lists) + "]\n"


MEASURE = """
import resource, sys, time, tracemalloc
import yaml  # imported before the clock starts: the time is the reading's
tracemalloc.start()
from {module} import {function} as read  # reads the file and turns it into settings
from convlens.errors import ConvlensError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    read(sys.argv[1])
    print("loaded")
except ConvlensError as exc:
    print(exc)
_, peak = tracemalloc.get_traced_memory()
rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # kB on Linux
print(f"{{time.perf_counter() - start:.3f}} {{peak}} {{rss}}")
"""


@pytest.mark.parametrize(
    "module, function, words",
    [
        ("convlens.config", "resolve_config", "config file '{path}' expands to more than"),
        ("convlens.models.spec", "parse", "spec file '{path}' expands to more than"),
    ],
)
def test_a_yaml_bomb_is_refused_at_once_in_little_memory(tmp_path, module, function, words):
    import subprocess

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(yaml_bomb())
    assert len(bomb.read_bytes()) < 300
    code = MEASURE.format(module=module, function=function)
    done = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=60
    )
    message, numbers = done.stdout.strip().splitlines()
    seconds, peak, rss = map(float, numbers.split())
    assert message.startswith(words.format(path=bomb)) and len(message) < 200, message
    assert seconds < 2 and peak < 200e6 and rss < 200e6, numbers


def test_every_yaml_door_is_bounded(cli, tiny_run, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(yaml_bomb())
    one_line_error(cli("train", "--config", bomb), f"config file '{bomb}' expands to more than")
    one_line_error(cli("summary", bomb, "--input", "1x28x28"), "expands to more than 100,000")
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    shutil.copy(bomb, run / "config.yaml")
    one_line_error(cli("eval", run), "run config unusable", "expands to more than 100,000")
    deep = tmp_path / "deep.yaml"
    deep.write_text("epochs: " + "[" * 5000 + "]" * 5000 + "\n")
    one_line_error(cli("train", "--config", deep), "nests deeper than 100 levels")
    loop = tmp_path / "loop.yaml"
    loop.write_text("epochs: &a [*a]\n")
    one_line_error(cli("train", "--config", loop), "alias that contains itself")


def test_a_huge_value_is_cut_in_the_message(cli, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(yaml_bomb(levels=5))  # 59,049 values: within the limits, a wrong type
    res = cli("train", "--config", big, "--data", "mnist")
    one_line_error(res, "epochs", "characters cut")
    assert len(res.err) < 1100, len(res.err)


# ----------------------------------------------------------------------------- run files
def _edit_json(path, **changes):
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if value is DROP:
            raw.pop(key, None)
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))


DROP = object()


@pytest.mark.parametrize(
    "file, change, words",
    [
        ("config.yaml", b"epochs: 3\nmodel: caf\xe9\n", "is not UTF-8 text (byte 0xe9 at offset"),
        (
            "run.json",
            {"num_classes": "ten"},
            "num_classes must be a whole number in 1..100000. Received: num_classes='ten'",
        ),
        ("run.json", {"seed": 2**70}, "seed must be a whole number in 0..2**64-1 or null"),
        ("run.json", {"classes": ["a"]}, "classes must be a list of num_classes=10 names"),
        ("run.json", {"mean": [0.1, 0.2]}, "mean must be a list of 1 numbers (one per channel)"),
        (
            "run.json",
            {"convlens_run": 99},
            "was made by a newer convlens (format 99; this one reads format 1); upgrade convlens",
        ),
        ("run.json", {"convlens_run": 0}, "has an unknown format version convlens_run=0"),
        ("run.json", {"convlens_run": "abc"}, "unknown format version convlens_run='abc'"),
        ("run.json", {"convlens_run": DROP}, "has no format version (convlens_run)"),
        ("checkpoint.json", {"convlens_checkpoint": 99}, "made by a newer convlens (format 99"),
        ("metrics.json", b'{"a": 1}', "the file must be a list of one mapping per epoch"),
        ("metrics.json", b'[{"a": 1}]', "row 1 epoch must be a whole number >= 1"),
        ("metrics.json", b"", "is not readable JSON (empty or cut short)"),
        ("metrics.json", b'[{"epoch": 1, "test_', "is not readable JSON (empty or cut short)"),
    ],
)
def test_a_bad_run_file_is_named_in_one_line(cli, tiny_run, tmp_path, file, change, words):
    run = tmp_path / "r"
    shutil.copytree(tiny_run[0], run)
    if isinstance(change, bytes):
        (run / file).write_bytes(change)
    else:
        _edit_json(run / file, **change)
    one_line_error(cli("eval", run), f"{run}/{file}", words)
    with pytest.raises(CheckpointError):
        cl.load(run)


def test_the_explorer_answers_a_bad_run_file_with_400_and_no_server_path(tiny_run, tmp_path):
    from fastapi.testclient import TestClient

    from convlens.web.app import create_app

    run = tmp_path / "r"
    shutil.copytree(tiny_run[0], run)
    (run / "metrics.json").write_text('{"a": 1}')
    page = TestClient(create_app(run), base_url="http://127.0.0.1:8000")
    r = page.get(f"/api/runs/{run.name}/history")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert (
        detail.startswith("'metrics.json': the file must be a list") and str(tmp_path) not in detail
    )


def test_an_out_folder_holding_a_foreign_run_json_says_what_it_is(cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "run.json").write_text('{"name": "my web app"}')
    res = cli("train", "--model", TOY_SPEC, "--data", "mnist", "--out", out)
    one_line_error(res, f"--out '{out}' is not a convlens run folder (", "not a convlens run descr")
    assert (out / "run.json").read_text() == '{"name": "my web app"}'


def test_huge_values_make_short_messages_fast(cli):
    import time

    start = time.perf_counter()
    with pytest.raises(cl.errors.ModelError) as err:
        cl.build("x" * 1_000_000)
    assert time.perf_counter() - start < 2
    assert len(str(err.value)) <= 1000 and "characters cut" in str(err.value)
    one_line_error(cli("train", "--seed", str(2**64), "--data", "mnist"), "seed an integer in 0..")
    one_line_error(cli("train", "--seed", "9" * 5000, "--data", "mnist"), "--seed")


def test_a_killed_writes_temp_file_is_cleaned_by_the_next_write(tmp_path):
    import os
    import time

    from convlens.io import STALE_TEMP_SECONDS, atomic_write_text

    stale, fresh = tmp_path / ".report.html.0123abcd.tmp", tmp_path / ".report.html.4567cdef.tmp"
    other = tmp_path / ".notes.txt.0123abcd.tmp"
    for path in (stale, fresh, other):
        path.write_text("half a page")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic_write_text(tmp_path / "report.html", "<html></html>")
    assert not stale.exists()  # left by a killed `report`: cleaned
    assert fresh.exists() and other.exists()  # a write in progress, another file's: kept


# ----------------------------------------------------------------------------- images
def icon_around(png: bytes) -> bytes:
    """An ICO file whose one directory entry says 256x256 and holds `png`."""
    import struct

    directory = struct.pack("<HHH", 0, 1, 1) + struct.pack(
        "<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22
    )
    return directory + png


def test_an_icon_wrapping_a_huge_png_is_refused_before_decoding(monkeypatch):
    import io

    from PIL import Image, PngImagePlugin

    from convlens.data.images import load_image
    from convlens.errors import ImageError

    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")
    ico = icon_around(buffer.getvalue())

    def no_decoding(self):
        raise AssertionError("the embedded PNG was decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    with pytest.raises(
        ImageError,
        match=r"icon image 1\): 3000x3000 = 9,000,000 pixels is over "
        r"the limit of 1,000,000",
    ):
        load_image(ico, max_pixels=1_000_000)
    monkeypatch.undo()
    small = io.BytesIO()
    Image.new("L", (32, 32), 200).save(small, "PNG")
    assert load_image(icon_around(small.getvalue())).size == (32, 32)


def test_a_float_image_full_of_nan_is_refused(recwarn):
    import io

    import numpy as np
    from PIL import Image

    from convlens.data.images import load_image
    from convlens.errors import ImageError

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), np.nan, np.float32), "F").save(buffer, "TIFF")
    with pytest.raises(ImageError, match="a floating-point image with NaN or infinite pixels"):
        load_image(buffer.getvalue())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ----------------------------------------------------------------------------- image folders
def image_folder(root, classes, n=5, rgb=()):
    """`root`/<class>/<i>.png: 8x8 gray images, RGB for the (class, i) pairs in `rgb`."""
    from PIL import Image

    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            mode = "RGB" if (c, i) in rgb else "L"
            Image.new(mode, (8, 8), (40 * i,) * len(mode)).save(root / c / f"{i}.png")
    return root


def test_a_one_class_image_folder_is_refused(cli, tmp_path):
    root = image_folder(tmp_path / "cats", ["cat"])
    with pytest.raises(cl.errors.DataError, match=r"only one class folder has images \('cat'\)"):
        cl.load_dataset(f"imagefolder:{root}", "train")


def test_a_gray_folder_with_one_colour_image_gets_one_channel_count(tmp_path):
    from convlens.data.folders import ImageFolderWarning

    root = image_folder(tmp_path / "shapes", ["a", "b"], n=10, rgb={("b", 7)})
    with pytest.warns(ImageFolderWarning, match=r"19 of 20 sampled images are gray and 1 colour"):
        train = cl.load_dataset(f"imagefolder:{root}", "train")
        test = cl.load_dataset(f"imagefolder:{root}", "test")
    assert train.input_shape == test.input_shape == (3, 8, 8)


def test_a_run_inside_another_run_is_refused(cli, tiny_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(tiny_run[0], run)
    res = cli("train", "--model", TOY_SPEC, "--data", "mnist", "--out", run / "sub")
    one_line_error(res, f"--out '{run}/sub' is inside the run folder '{run}'")
    assert not (run / "sub").exists()


# ----------------------------------------------------------------------------- slow clients
def test_a_crowd_of_slow_senders_does_not_shut_out_other_requests(tiny_run):
    """31 clients that start an upload and then send a byte now and then (with the page,
    the server's 32 connections): the explorer keeps answering the page."""
    import socket
    import threading
    import time

    import httpx

    from convlens.web.app import create_app
    from test_web import serving

    name, stop = tiny_run[0].name, threading.Event()

    def dribble(port: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(
                    f"POST /api/runs/{name}/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Content-Length: 100000\r\n\r\n".encode()
                )
                while not stop.is_set() and s.send(b"x"):
                    time.sleep(0.5)
        except OSError:  # cut off by the server: what it should do
            pass

    with serving(create_app(tiny_run[0])) as url:
        assert httpx.get(f"{url}/api/runs/{name}", timeout=60).status_code == 200  # loaded
        port = int(url.rsplit(":", 1)[1])
        crowd = [threading.Thread(target=dribble, args=(port,)) for _ in range(31)]
        for t in crowd:
            t.start()
        try:
            time.sleep(1.0)
            answers = []
            for _ in range(6):  # over the next few seconds, while they keep dribbling
                start = time.perf_counter()
                r = httpx.get(f"{url}/api/runs/{name}", timeout=30)
                answers.append((r.status_code, round(time.perf_counter() - start, 2)))
                time.sleep(0.5)
        finally:
            stop.set()
            for t in crowd:
                t.join(10)
    assert all(code == 200 and seconds < 3 for code, seconds in answers), answers


def test_a_spec_naming_a_huge_value_gives_a_short_message(cli):
    for spec in ("conv " + "9" * 2_000_000, "conv 8 3 pad=" + "y" * 2_000_000):
        with pytest.raises(cl.errors.SpecError) as err:
            cl.build(spec, (1, 28, 28))
        assert len(str(err.value)) <= 1000 and "characters cut" in str(err.value)
        assert str(err.value).startswith("layer 1 'conv ")


def test_a_gif_whose_frame_outgrows_its_screen_is_refused_before_decoding(monkeypatch):
    import io
    import struct

    from PIL import GifImagePlugin, Image

    from convlens.data.images import load_image
    from convlens.errors import ImageError

    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", 10, 10)  # the screen says 10x10, the frame is 3000x3000

    def no_decoding(self):
        raise AssertionError("the frame was decoded")

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match=r"3000x3000 = 9,000,000 pixels is over the limit"):
        load_image(bytes(data), max_pixels=1_000_000)


def test_convlens_runs_names_a_bad_metrics_file(cli, tiny_run, tmp_path):
    shutil.copytree(tiny_run[0], tmp_path / "r")
    (tmp_path / "r" / "metrics.json").write_text('{"a": 1}')
    r = cli("runs", tmp_path)
    assert r.code == 0 and "(unreadable)" in r.out and "the file must be a list" in r.out, r
