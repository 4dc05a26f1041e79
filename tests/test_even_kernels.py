"""Even kernels (2x2, 4x4) with pad=same: the output torch's own 'same' gives, without the raw
PyTorch UserWarning about a padded copy reaching the student."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

import convlens as cl


@pytest.mark.parametrize(("k", "dil"), [(2, 1), (4, 1), (4, 3), (3, 1), (5, 2)])
def test_same_padding_keeps_the_size_and_matches_torch(k, dil):
    model = cl.build(f"conv 3 {k} pad=same dil={dil}, flatten, dense 10", input_shape=(2, 9, 9))
    conv = model.conv1[0]
    assert isinstance(conv, nn.Conv2d) and conv.padding == "same"  # what readers of it see
    ref = nn.Conv2d(2, 3, k, padding="same", dilation=dil)
    ref.load_state_dict(conv.state_dict())  # the same weights under the same names
    x = torch.randn(4, 2, 9, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own even 'same' warns
        expected = ref(x)
    assert conv(x).shape == (4, 3, 9, 9)
    torch.testing.assert_close(conv(x), expected)
    assert cl.summary(model).rows[0].output_shape == (3, 9, 9)


def test_no_raw_pytorch_warning_leaks_from_an_even_kernel():
    # a fresh process: torch warns once per process, so an earlier test cannot hide it here
    code = (
        "import torch, convlens as cl\n"
        "for k in (2, 4):\n"
        "    m = cl.build(f'conv 4 {k} pad=same, maxpool 2, flatten, dense 10', "
        "input_shape=(1, 28, 28))\n"
        "    m(torch.zeros(2, 1, 28, 28)).sum().backward()\n"
        "    print(tuple(m.conv1[0](torch.zeros(1, 1, 28, 28)).shape))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.split("\n")[:2] == ["(1, 4, 28, 28)", "(1, 4, 28, 28)"]
