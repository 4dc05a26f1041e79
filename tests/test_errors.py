"""Errors read as one line at every door: in IPython and Jupyter (the `_render_traceback_`
hook of `ConvlensError`), and for an input of the wrong shape (the layer, what it expects)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convlens as cl
from convlens import errors
from convlens.errors import ConvlensError, ModelError


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def test_ipython_shows_every_convlens_error_as_its_one_line():
    kinds = _subclasses(ConvlensError)
    assert len(kinds) >= 9 and errors.ModelError in kinds
    for kind in kinds:
        exc = kind("Expected kernel >= 1. Received: kernel=0")
        assert exc._render_traceback_() == [
            f"{kind.__name__}: Expected kernel >= 1. Received: kernel=0"
        ]
    # ModelError is a KeyError too, whose str() would quote the message
    assert ModelError("no model 'x'")._render_traceback_() == ["ModelError: no model 'x'"]


def test_feature_maps_of_a_wrong_shape_name_the_layer_and_what_it_expects():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    with pytest.raises(ModelError) as exc:
        cl.feature_maps(net, torch.zeros(3, 28, 28))
    assert (
        str(exc.value)
        == "layer '0' (Conv2d, kernel 3x3) expects 1 input channel; it received 3x28x28"
    )
    with pytest.raises(ModelError) as exc:
        cl.feature_maps(net, torch.zeros(1, 32, 32))
    assert str(exc.value) == (
        "layer '3' (Linear) expects 2704 features; it received 3600 from input 1x32x32"
    )
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


@pytest.mark.slow
def test_a_notebook_shows_a_convlens_error_as_one_line_without_its_frames(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import convlens as cl",
        'cl.summary(cl.build("keras_mnist"), (3, 32, 32))',
        "1 / 0",  # other errors keep IPython's traceback
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    (ours,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert ours.ename == "ModelError"
    assert ours.traceback == [
        "ModelError: layer 'conv1' (Conv2d, kernel 3x3) expects 1 input channel; it received "
        "3x32x32; the model takes 1x28x28"
    ]
    (theirs,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert theirs.ename == "ZeroDivisionError" and len(theirs.traceback) > 1
