"""Tests of convlens.io: atomic writes, permissions, pictures as bytes."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from convlens.io import (
    atomic_write_bytes,
    atomic_write_json,
    data_url,
    figure_bytes,
    gif_bytes,
    save_figure,
    save_gif,
    to_uint8,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_new_files_follow_the_umask_of_the_moment(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        os.umask(0o002)
        atomic_write_json(tmp_path / "b.json", {"x": 2})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664


def test_importing_convlens_changes_no_process_state():
    code = (
        "import os, PIL.Image as I; u = os.umask(0o077); before = I.MAX_IMAGE_PIXELS; "
        "import convlens, convlens.cli, convlens.data, convlens.engine.runs, "
        "convlens.data.images, convlens.look.inspector; "
        "print(oct(os.umask(u)), I.MAX_IMAGE_PIXELS == before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0o77", "True"]


def test_figures_and_gifs_become_bytes(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    png = figure_bytes(fig)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert data_url(png).startswith("data:image/png;base64,iVBOR")
    fig2, _ = plt.subplots(figsize=(2, 1))
    out = save_figure(fig2, tmp_path / "sub" / "f.svg")
    assert out.read_bytes().lstrip().startswith(b"<?xml")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    gif = Image.open(io.BytesIO(gif_bytes(frames, ms=100)))
    assert gif.format == "GIF" and gif.n_frames == 3
    assert Image.open(save_gif(frames, tmp_path / "a.gif")).n_frames == 3


def test_to_uint8_scales_min_to_0_and_max_to_255():
    a = to_uint8(np.array([[-1.0, 0.0], [1.0, 3.0]]))
    assert a.dtype == np.uint8 and a.min() == 0 and a.max() == 255 and a[0, 1] == 64
    assert not to_uint8(np.full((2, 2), 5.0)).any()
    same = np.arange(4, dtype=np.uint8)
    assert to_uint8(same) is same
