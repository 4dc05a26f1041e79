"""convlens.convmath against the libraries people trust: torch, numpy, scipy."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal

from convlens.errors import ConvMathError
from convlens.primer.convmath import (
    conv1d,
    conv2d,
    conv2d_steps,
    explain_output_size,
    output_size,
    pad2d,
    pool2d,
    pool2d_steps,
    window,
)
from convlens.primer.kernels import KERNELS, get_kernel
from convlens.primer.transposed import (
    conv_transpose2d,
    conv_transpose2d_steps,
    explain_transposed_output_size,
    transposed_canvas,
    transposed_output_size,
)

METHODS = ("fast", "loop")


# ----------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("method", METHODS)
def test_notebook_1d_example(method):
    out = conv1d([1, 3, 2, 4, 5, 6, 1, 3], [1, 0, 3, 1, 2], padding=2, flip=True, method=method)
    assert out.tolist() == [5, 14, 16, 26, 24, 34, 19, 22]


@pytest.mark.parametrize("method", METHODS)
def test_notebook_2d_examples(method):
    x = [[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]]
    w = [[1, 0, 3], [1, 2, 1], [0, 1, 1]]
    assert conv2d(x, w, flip=True, method=method).tolist() == [[25, 24], [28, 25]]
    assert conv2d(x, w, flip=True, padding="same", method=method).tolist() == [
        [11, 25, 32, 13],
        [19, 25, 24, 13],
        [13, 28, 25, 17],
        [11, 17, 14, 9],
    ]


def test_notebook_horizontal_edge():
    image = np.zeros((6, 5))
    image[:3] = 200  # bright above dark
    out = conv2d(image, get_kernel("horizontal_edge").weights)
    assert out[:, 0].tolist() == [0, 6000, 6000, 0]


# ----------------------------------------------------------------------------- vs torch
CASES = list(itertools.product((1, 2, 3), (0, 1, 2), (1, 2), (3, 2)))  # stride, pad, dil, k


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stride, pad, dil, k", CASES)
def test_conv2d_matches_torch(method, stride, pad, dil, k):
    rng = np.random.default_rng(stride * 100 + pad * 10 + dil + k)
    x = rng.normal(size=(2, 9, 8))
    w = rng.normal(size=(3, 2, k, k))
    expected = F.conv2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), stride=stride, padding=pad, dilation=dil
    )[0].numpy()
    out = conv2d(x, w, stride=stride, padding=pad, dilation=dil, method=method)
    np.testing.assert_allclose(out, expected, atol=1e-10)
    assert expected.shape[1] == output_size(9, k, stride=stride, padding=pad, dilation=dil)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k, dil", [(3, 1), (4, 1), (3, 2), (2, 3)])
def test_same_padding_matches_torch(k, dil):
    rng = np.random.default_rng(k + dil)
    x, w = rng.normal(size=(1, 7, 6)), rng.normal(size=(2, 1, k, k))
    expected = F.conv2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), padding="same", dilation=dil
    )[0].numpy()
    np.testing.assert_allclose(conv2d(x, w, padding="same", dilation=dil), expected, atol=1e-10)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (5, 2)])
def test_conv2d_matches_scipy(mode, kshape):
    rng = np.random.default_rng(len(mode) + kshape[0])
    x, w = rng.normal(size=(6, 7)), rng.normal(size=kshape)
    for method in METHODS:
        np.testing.assert_allclose(
            conv2d(x, w, padding=mode, flip=True, method=method),
            signal.convolve2d(x, w, mode=mode),
            atol=1e-10,
        )
        np.testing.assert_allclose(
            conv2d(x, w, padding=mode, method=method),
            signal.correlate2d(x, w, mode=mode),
            atol=1e-10,
        )


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n, k", [(8, 3), (8, 4), (5, 5), (9, 2)])
def test_conv1d_matches_numpy(mode, n, k):
    rng = np.random.default_rng(n * k)
    a, v = rng.normal(size=n), rng.normal(size=k)
    np.testing.assert_allclose(
        conv1d(a, v, padding=mode, flip=True), np.convolve(a, v, mode), atol=1e-10
    )


@pytest.mark.parametrize("stride, dil", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_conv1d_matches_torch(stride, dil):
    rng = np.random.default_rng(stride + 10 * dil)
    a, v = rng.normal(size=12), rng.normal(size=3)
    expected = F.conv1d(
        torch.from_numpy(a)[None, None],
        torch.from_numpy(v)[None, None],
        stride=stride,
        padding=1,
        dilation=dil,
    )[0, 0].numpy()
    np.testing.assert_allclose(
        conv1d(a, v, stride=stride, padding=1, dilation=dil), expected, atol=1e-10
    )


def test_kernel_shapes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 5))
    k2 = rng.normal(size=(3, 3))
    per_channel = conv2d(x, k2)
    assert per_channel.shape == (3, 3, 3)
    np.testing.assert_allclose(per_channel[1], conv2d(x[1], k2))
    one_filter = conv2d(x, np.stack([k2] * 3))  # (C, kh, kw) sums channels
    np.testing.assert_allclose(one_filter, per_channel.sum(0))


# ----------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("size, stride, pad", [(2, None, 0), (3, 2, 1), (2, 1, 0), (3, 3, 1)])
def test_pool2d_matches_torch(size, stride, pad):
    x = np.random.default_rng(size).normal(size=(2, 7, 9))
    t = torch.from_numpy(x)[None]
    np.testing.assert_allclose(
        pool2d(x, size, stride=stride, padding=pad, mode="max"),
        F.max_pool2d(t, size, stride, pad)[0].numpy(),
    )
    np.testing.assert_allclose(
        pool2d(x, size, stride=stride, padding=pad, mode="mean"),
        F.avg_pool2d(t, size, stride, pad)[0].numpy(),
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "size, stride, pad",
    [((2, 3), None, 0), ((3, 2), None, (1, 1)), ((2, 4), (1, 2), (1, 2)), ((3, 1), None, 0)],
)
def test_pool2d_tuple_window_matches_torch(size, stride, pad):
    x = np.random.default_rng(sum(size)).normal(size=(2, 9, 11))
    t = torch.from_numpy(x)[None]
    np.testing.assert_allclose(
        pool2d(x, size, stride=stride, padding=pad, mode="max"),
        F.max_pool2d(t, size, stride, pad)[0].numpy(),
    )
    np.testing.assert_allclose(
        pool2d(x, size, stride=stride, padding=pad, mode="mean"),
        F.avg_pool2d(t, size, stride, pad)[0].numpy(),
        atol=1e-12,
    )
    steps = list(pool2d_steps(x[0], size, stride=stride, padding=pad))
    np.testing.assert_allclose(
        [s.value for s in steps], F.max_pool2d(t, size, stride, pad)[0, 0].numpy().ravel()
    )


@pytest.mark.parametrize("size, pad", [(3, 2), (2, 2), ((3, 4), (2, 1)), (4, 3)])
def test_pool2d_refuses_padding_over_half_the_window_like_torch(size, pad):
    x = np.ones((7, 9))
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(torch.from_numpy(x)[None, None], size, padding=pad)
    for mode in ("max", "mean"):
        with pytest.raises(ConvMathError) as err:
            pool2d(x, size, padding=pad, mode=mode)
        message = str(err.value)
        assert "\n" not in message and "at most half of the window" in message
        assert "pad <= size // 2" in message and f"padding={pad!r}" in message


# ----------------------------------------------------------------------------- explain
def test_output_size_and_explanation():
    assert output_size(28, 3) == 26 and output_size(26, 2, stride=2) == 13
    assert output_size(7, 3, padding="full") == 9 and output_size(7, 4, padding="same") == 7
    assert explain_output_size(7, 3, stride=2, padding=1) == (
        "out = floor((n + 2p - d(k-1) - 1) / s) + 1 = floor((7 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 4"
    )


@pytest.mark.parametrize(
    "n, k, s, p",
    [(1, 2, 2, 0), (2, 3, 2, 0), (5, 2, 2, 1), (6, 3, 2, 1), (7, 3, 3, 1), (9, 4, 3, 2)],
)
def test_ceil_mode_output_size_matches_torch(n, k, s, p):
    expected = torch.nn.MaxPool2d(k, s, p, ceil_mode=True)(torch.zeros(1, 1, n, n)).shape[-1]
    assert output_size(n, k, stride=s, padding=p, ceil_mode=True) == expected
    text = explain_output_size(n, k, stride=s, padding=p, ceil_mode=True)
    assert text.startswith("out = ceil((n + 2p - d(k-1) - 1) / s) + 1 = ceil((")
    assert "ceil_mode" in text and text.split(" (ceil_mode")[0].endswith(f"= {expected}")


def test_ceil_mode_drops_a_window_that_starts_past_the_input():
    # ceil((5 + 2 - 1 - 1) / 2) + 1 = 4, but the 4th window would start in the right padding
    assert torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5, 5)).shape[-1] == 3
    assert explain_output_size(5, 2, stride=2, padding=1, ceil_mode=True) == (
        "out = ceil((n + 2p - d(k-1) - 1) / s) + 1 = ceil((5 + 2*1 - 1*(2-1) - 1) / 2) + 1 = "
        "4 - 1 = 3 (ceil_mode; the last window would start past the input, so it is dropped)"
    )


@pytest.mark.parametrize(
    "kind, kernel, stride, padding, dilation",
    [
        ("conv", (3, 3), 1, 1, 1),
        ("conv", (4, 2), (2, 1), (1, 0), (1, 2)),
        ("conv", (4, 4), 1, "same", 1),
        ("conv", 3, 2, 2, 2),
        ("max", (3, 3), (2, 2), (1, 1), 1),
        ("mean", (2, 3), (2, 3), (1, 1), 1),
    ],
)
def test_window_reads_the_cells_torch_uses(kind, kernel, stride, padding, dilation):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 7, 8))
    t = torch.from_numpy(x)[None]
    if kind == "conv":
        w = rng.normal(size=(1, 2) + ((kernel, kernel) if isinstance(kernel, int) else kernel))
        out = F.conv2d(t, torch.from_numpy(w), stride=stride, padding=padding, dilation=dilation)[
            0, 0
        ]
    elif kind == "max":
        out = F.max_pool2d(t, kernel, stride, padding)[0]
    else:
        out = F.avg_pool2d(t, kernel, stride, padding)[0]
    for i, j in itertools.product(range(out.shape[-2]), range(out.shape[-1])):
        win = window(
            x.shape[1:],
            kernel,
            (i, j),
            stride=stride,
            padding=padding,
            dilation=dilation if kind == "conv" else 1,
        )
        if kind == "conv":
            assert float((win.read(x) * w[0]).sum()) == pytest.approx(float(out[i, j]))
        elif kind == "max":
            patch = win.read(x, fill=-np.inf)
            np.testing.assert_allclose(patch.max(axis=(1, 2)), out[:, i, j].numpy())
        else:
            np.testing.assert_allclose(win.read(x).mean(axis=(1, 2)), out[:, i, j].numpy())
    with pytest.raises(
        ConvMathError,
        match=r"Expected an output cell inside \d+x\d+. "
        r"Received: out_index=\(9, 0\)",
    ):
        window(x.shape[1:], kernel, (9, 0), stride=stride, padding=padding)


def test_window_of_a_ceil_mode_pool():
    x = np.arange(25.0).reshape(5, 5)
    out = F.max_pool2d(torch.from_numpy(x)[None, None], 2, 2, ceil_mode=True)[0, 0]
    assert out.shape == (3, 3)
    win = window(x.shape, 2, (2, 2), stride=2, ceil_mode=True)
    assert win.rows == (4, 5) and win.cols == (4, 5)
    patch = win.read(x, beyond=np.nan)
    assert np.nanmax(patch) == float(out[2, 2]) and np.isnan(patch).sum() == 3


def test_steps_show_the_arithmetic():
    x = np.arange(16).reshape(4, 4)
    w = np.ones((3, 3))
    steps = list(conv2d_steps(x, w, stride=1, padding=1))
    assert len(steps) == 16 and steps[0].out_index == (0, 0)
    assert steps[0].rows == (0, 1, 2) and steps[0].patch[0].tolist() == [0, 0, 0]  # padding
    np.testing.assert_allclose([s.value for s in steps], conv2d(x, w, padding=1).ravel())
    pools = list(pool2d_steps(x, 2))
    assert [p.value for p in pools] == [5, 7, 13, 15]
    assert pad2d(x, 1).shape == (6, 6)


def test_kernel_library():
    assert {
        "identity",
        "box_blur",
        "gaussian_blur",
        "sharpen",
        "sobel_x",
        "sobel_y",
        "prewitt_x",
        "prewitt_y",
        "laplacian",
        "outline",
        "emboss",
    } <= set(KERNELS)
    assert KERNELS["outline"].weights.sum() == 0 and KERNELS[
        "box_blur"
    ].weights.sum() == pytest.approx(1)
    with pytest.raises(ConvMathError, match="unknown kernel 'sobelx' \\(did you mean 'sobel_x'"):
        get_kernel("sobelx")


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: conv2d(np.ones((3, 3)), np.ones((5, 5))),
            "conv2d: kernel 5x5 does not fit in input 3x3 with padding=0; use padding='same' or a "
            "kernel <= 3x3",
        ),
        (
            lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), stride=0),
            "conv2d: Expected stride an integer >= 1. Received: stride=0",
        ),
        (
            lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), dilation=-1),
            "Expected dilation an integer >= 1. Received: dilation=-1",
        ),
        (
            lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), padding="sam"),
            "Received: padding='sam' (did you mean 'same'?)",
        ),
        (
            lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), padding="same", stride=2),
            "padding='same' with stride=2 is ambiguous",
        ),
        (
            lambda: conv2d(np.ones((2, 5, 5)), np.ones((4, 3, 3, 3))),
            "kernel has 3 input channels, x has 2",
        ),
        (lambda: conv2d(np.ones(5), np.ones((3, 3))), "Expected x of shape (H, W) or (C, H, W)"),
        (lambda: conv2d([["a", "b"]], np.ones((1, 1))), "Expected numbers"),
        (lambda: pool2d(np.ones((4, 4)), 2, mode="median"), "Expected mode 'max' or 'mean'"),
        (lambda: conv1d([1, 2], [1, 2, 3]), "conv1d: kernel"),
    ],
)
def test_errors_say_what_and_why(call, message):
    with pytest.raises(ConvMathError) as err:
        call()
    assert message in str(err.value)


# ------------------------------------------------------------------ random cases vs torch
def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("method", METHODS)
def test_groups_and_per_axis_stride_dilation_match_torch_on_random_cases(method):
    rng = np.random.default_rng(16)
    for _ in range(40 if method == "fast" else 12):
        groups = int(rng.integers(1, 4))
        c, o = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 4))
        ph, pw = (int(v) for v in rng.integers(0, 3, 2))
        h = int(rng.integers(dh * (kh - 1) + 1, 9))
        w = int(rng.integers(dw * (kw - 1) + 1, 9))
        x, k = rng.normal(size=(c, h, w)), rng.normal(size=(o, c // groups, kh, kw))
        ours = conv2d(
            x, k, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups, method=method
        )
        theirs = F.conv2d(
            _t(x)[None], _t(k), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups
        )[0]
        np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-10)


def test_depthwise_conv2d_matches_torch():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(3, 6, 7)), rng.normal(size=(3, 1, 3, 3))
    theirs = F.conv2d(_t(x)[None], _t(k), groups=3, padding=1)[0].numpy()
    np.testing.assert_allclose(conv2d(x, k, groups=3, padding=1), theirs, atol=1e-10)
    # a 2-D kernel with groups == C: the same depthwise filter on every channel
    k2 = rng.normal(size=(3, 3))
    theirs = F.conv2d(_t(x)[None], _t(np.stack([k2[None]] * 3)), groups=3)[0].numpy()
    np.testing.assert_allclose(conv2d(x, k2, groups=3), theirs, atol=1e-10)


def test_grouped_conv1d_matches_torch_on_random_cases():
    rng = np.random.default_rng(2)
    for _ in range(30):
        groups = int(rng.integers(1, 4))
        c, o = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        k, s, d, p = (int(v) for v in rng.integers(1, 4, 4))
        n = int(rng.integers(d * (k - 1) + 1, 12))
        x, w = rng.normal(size=(c, n)), rng.normal(size=(o, c // groups, k))
        ours = conv1d(x, w, stride=s, padding=p, dilation=d, groups=groups)
        theirs = F.conv1d(_t(x)[None], _t(w), stride=s, padding=p, dilation=d, groups=groups)[0]
        np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-10)


@pytest.mark.parametrize(
    "c, o, groups, kshape, fragment",
    [
        (3, 4, 2, (4, 1, 3, 3), "conv2d: in_channels=3 is not divisible by groups=2"),
        (4, 3, 2, (3, 2, 3, 3), "conv2d: out_channels=3 (kernel.shape[0]) is not divisible by "),
        (4, 4, 2, (4, 4, 3, 3), "kernel has 4 input channels, x has 4 (groups=2 needs 2 per"),
        (4, 4, 0, (4, 4, 3, 3), "Expected groups an integer >= 1. Received: groups=0"),
    ],
)
def test_groups_errors_follow_torch(c, o, groups, kshape, fragment):
    with pytest.raises(ConvMathError, match=re.escape(fragment)) as info:
        conv2d(np.zeros((c, 5, 5)), np.zeros(kshape), groups=groups)
    assert "\n" not in str(info.value)


def test_pooling_matches_torch_on_random_cases():
    rng = np.random.default_rng(3)
    for case in range(150):
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        ceil = bool(rng.integers(0, 2))
        mode = ("max", "mean")[case % 2]
        dh, dw = (int(v) for v in rng.integers(1, 3, 2)) if mode == "max" else (1, 1)
        h = int(rng.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 10))
        w = int(rng.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 10))
        x = rng.normal(size=(2, h, w))
        kw_args = dict(stride=(sh, sw), padding=(ph, pw), ceil_mode=ceil)
        include = True
        if mode == "max":
            theirs = F.max_pool2d(_t(x)[None], (kh, kw), dilation=(dh, dw), **kw_args)[0]
            ours = pool2d(x, (kh, kw), mode="max", dilation=(dh, dw), **kw_args)
        else:
            include = bool(rng.integers(0, 2))
            theirs = F.avg_pool2d(_t(x)[None], (kh, kw), count_include_pad=include, **kw_args)[0]
            ours = pool2d(x, (kh, kw), mode="mean", count_include_pad=include, **kw_args)
        assert ours.shape == tuple(theirs.shape), (case, kh, kw, sh, sw, ph, pw, ceil)
        np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-10)
        steps = pool2d_steps(
            x[0], (kh, kw), mode=mode, dilation=(dh, dw), count_include_pad=include, **kw_args
        )
        np.testing.assert_allclose([s.value for s in steps], ours[0].ravel(), atol=1e-10)


def test_mean_pool_refuses_dilation():
    with pytest.raises(ConvMathError, match=r"mean pooling has no dilation .* dilation=2"):
        pool2d(np.zeros((4, 4)), 2, mode="mean", dilation=2)


# ----------------------------------------------------------------------------- transposed
@pytest.mark.parametrize("method", METHODS)
def test_conv_transpose2d_matches_torch_on_random_cases(method):
    rng = np.random.default_rng(4)
    for _ in range(60 if method == "fast" else 15):
        groups = int(rng.integers(1, 3))
        c, per_out = groups * int(rng.integers(1, 3)), int(rng.integers(1, 3))
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 4))
        h, w = (int(v) for v in rng.integers(1, 6, 2))
        ah, aw = int(rng.integers(0, max(sh, dh))), int(rng.integers(0, max(sw, dw)))
        canvas = (sh * (h - 1) + dh * (kh - 1) + 1 + ah, sw * (w - 1) + dw * (kw - 1) + 1 + aw)
        ph, pw = (
            int(rng.integers(0, (canvas[0] + 1) // 2)),
            int(rng.integers(0, (canvas[1] + 1) // 2)),
        )
        x, k = rng.normal(size=(c, h, w)), rng.normal(size=(c, per_out, kh, kw))
        args = dict(stride=(sh, sw), padding=(ph, pw), output_padding=(ah, aw), dilation=(dh, dw))
        ours = conv_transpose2d(x, k, groups=groups, method=method, **args)
        theirs = F.conv_transpose2d(_t(x)[None], _t(k), groups=groups, **args)[0].numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-10)
        for axis in (0, 1):
            n, kk, s, p, a, d = (h, w), (kh, kw), (sh, sw), (ph, pw), (ah, aw), (dh, dw)
            size = transposed_output_size(
                n[axis],
                kk[axis],
                stride=s[axis],
                padding=p[axis],
                output_padding=a[axis],
                dilation=d[axis],
            )
            assert size == theirs.shape[1 + axis]


def test_conv_transpose2d_steps_add_up_to_the_output():
    x, k = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, -1.0], [2.0, 0.0]])
    args = dict(stride=2, padding=1, output_padding=1)
    (ch, cw), (oh, ow), (top, left) = transposed_canvas(x.shape, k.shape, **args)
    canvas = np.zeros((ch, cw))
    for step in conv_transpose2d_steps(x, k, **args):
        canvas[np.ix_(step.rows, step.cols)] += step.products
    out = canvas[top : top + oh, left : left + ow]
    np.testing.assert_allclose(out, conv_transpose2d(x, k, **args))
    theirs = F.conv_transpose2d(_t(x)[None, None], _t(k)[None, None], **args)[0, 0].numpy()
    np.testing.assert_allclose(out, theirs)


def test_transposed_output_size_explained():
    # Dumoulin & Visin's o' = s(i'-1) + a + k - 2p: i'=3, s=2, a=1, k=3, p=1 -> 6
    assert transposed_output_size(3, 3, stride=2, padding=1, output_padding=1) == 6
    text = explain_transposed_output_size(3, 3, stride=2, padding=1, output_padding=1)
    assert text.endswith("= 2*(3-1) - 2*1 + 1*(3-1) + 1 + 1 = 6"), text


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), output_padding=1),
            "output_padding must be smaller than stride or dilation (as in PyTorch). "
            "Received: output_padding=1 (rows) with stride=1, dilation=1",
        ),
        (
            lambda: conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), padding=3),
            "padding=3 (rows) crops all of the 4 cells the kernel scatters into; use padding <= 1",
        ),
        (
            lambda: conv_transpose2d(np.ones((3, 2, 2)), np.ones((3, 1, 3, 3)), groups=2),
            "in_channels=3 is not divisible by groups=2",
        ),
        (
            lambda: conv_transpose2d(np.ones((2, 2, 2)), np.ones((3, 1, 3, 3))),
            "kernel has 3 input channels (kernel.shape[0]), x has 2",
        ),
        (
            lambda: transposed_output_size(3, 3, padding=-1),
            "Expected padding an integer >= 0 or a (rows, cols) pair of them. Received: padding=-1",
        ),
    ],
)
def test_transposed_errors_say_what_and_why(call, message):
    with pytest.raises(ConvMathError, match=re.escape(message)) as info:
        call()
    assert "\n" not in str(info.value)


def test_conv2d_steps_per_axis_match_torch_on_random_cases():
    rng = np.random.default_rng(5)
    for _ in range(25):
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        stride, dilation = tuple(int(v) for v in rng.integers(1, 3, 2)), (1, 2)
        padding = tuple(int(v) for v in rng.integers(0, 2, 2))
        x = rng.integers(-3, 4, size=(int(rng.integers(kh, 8)), int(rng.integers(2 * kw, 9))))
        k = rng.integers(-2, 3, size=(kh, kw))
        args = dict(stride=stride, padding=padding, dilation=dilation)
        steps = list(conv2d_steps(x, k, **args))
        theirs = F.conv2d(_t(x)[None, None], _t(k)[None, None], **args)[0, 0].numpy()
        assert steps[-1].out_index == (theirs.shape[0] - 1, theirs.shape[1] - 1)
        np.testing.assert_allclose([s.value for s in steps], theirs.ravel(), atol=1e-10)
