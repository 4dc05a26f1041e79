"""Tests of `convlens kernels`, `conv-explain` and `pool-explain`: files, pictures, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convlens.look.explain import (
    PAD_COLOUR,
    conv_explain_frames,
    conv_transpose_explain_frames,
    input_title,
    pool_explain_frames,
)

from conftest import one_line_error


def not_blank(path) -> np.ndarray:
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    assert a.std() > 10 and len(np.unique(a.reshape(-1, 3), axis=0)) > 20
    return a


def test_kernels_on_the_sample_photo(cli, tmp_path):
    out = tmp_path / "k.png"
    result = cli("kernels", "--out", out, "--kernel", "sobel_x", "sharpen")
    assert result.code == 0 and f"wrote {out}" in result.out
    a = not_blank(out)
    assert a.shape[1] > 900  # original + two kernels side by side


def test_kernels_on_a_user_photo_in_colour(cli, tmp_path):
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "k.png"
    assert cli("kernels", photo, "--color", "--kernel", "box_blur", "--out", out).code == 0
    not_blank(out)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"plain text, not an image", "not an image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "truncated or corrupt image"),
    ],
)
def test_kernels_refuses_bad_images(cli, tmp_path, content, fragment):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    one_line_error(cli("kernels", bad, "--out", tmp_path / "k.png"), "bad.png", fragment)
    assert not (tmp_path / "k.png").exists()


def test_kernels_errors(cli, tmp_path):
    one_line_error(cli("kernels", tmp_path / "missing.png"), "missing.png: no such file")
    one_line_error(
        cli("kernels", "--kernel", "sobelx", "--out", tmp_path / "k.png"),
        "unknown kernel 'sobelx' (did you mean 'sobel_x'?)",
    )


def test_conv_explain_gif(cli, tmp_path):
    out = tmp_path / "c.gif"
    result = cli(
        "conv-explain",
        "--input",
        "7x7",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "1",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "floor((7 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 4" in result.out
    gif = Image.open(out)
    assert gif.n_frames == 1 + 16  # title frame + one per output cell
    gif.seek(8)
    not_blank(gif.convert("RGB").save(tmp_path / "f.png") or tmp_path / "f.png")
    assert out.stat().st_size < 2_000_000


def test_conv_explain_named_kernel_and_same_padding(cli, tmp_path):
    out = tmp_path / "c.gif"
    result = cli(
        "conv-explain",
        "--input",
        "4x5",
        "--kernel-name",
        "sobel_x",
        "--padding",
        "same",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert Image.open(out).n_frames == 1 + 20


def test_pool_explain_gif(cli, tmp_path):
    out = tmp_path / "p.gif"
    result = cli("pool-explain", "--input", "4x6", "--size", "2", "--mode", "mean", "--out", out)
    assert result.code == 0 and Image.open(out).n_frames == 1 + 6


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("--input", "7by7"), ("argument --input: Expected HxW like 7x7. Received: '7by7'",)),
        (("--input", "0x7"), ("Expected HxW like 7x7. Received: '0x7'",)),
        (
            ("--input", "3x3", "--kernel", "5"),
            ("kernel 5x5 does not fit in input 3x3", "use padding='same'"),
        ),
        (("--stride", "0"), ("Expected stride an integer >= 1. Received: stride=0",)),
        (("--padding", "sam"), ("(did you mean 'same'?)",)),
        (("--out", "x.png"), ("Expected --out ending in .gif",)),
    ],
)
def test_conv_explain_errors(cli, tmp_path, args, fragments):
    one_line_error(cli("conv-explain", *args), *fragments)


def test_conv_explain_animates_the_students_own_matrix(cli, tmp_path):
    out = tmp_path / "c.gif"
    result = cli(
        "conv-explain",
        "--values",
        "1 2 3; 4 5 6; 7 8 9",
        "--kernel-values",
        "1, 0; 0, -1",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "floor((3 + 2*0 - 1*(2-1) - 1) / 1) + 1 = 2" in result.out
    assert Image.open(out).n_frames == 1 + 4


def test_conv_explain_per_axis_stride_and_dilation(cli, tmp_path):
    out = tmp_path / "c.gif"
    result = cli(
        "conv-explain",
        "--input",
        "6x7",
        "--stride",
        "2x1",
        "--dilation",
        "1x2",
        "--padding",
        "1x0",
        "--out",
        out,
    )
    assert result.code == 0, result
    rows, cols = result.out.splitlines()[:2]
    assert rows.startswith("rows: out = floor((n + 2p - d(k-1) - 1) / s) + 1 = ")
    assert rows.endswith("floor((6 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 3")
    assert cols.startswith("cols: ") and cols.endswith("floor((7 + 2*0 - 2*(3-1) - 1) / 1) + 1 = 3")
    assert Image.open(out).n_frames == 1 + 9


def test_conv_explain_transposed(cli, tmp_path):
    out = tmp_path / "t.gif"
    result = cli(
        "conv-explain",
        "--transposed",
        "--values",
        "1 2; 3 4",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "1",
        "--output-padding",
        "1",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "2*(2-1) - 2*1 + 1*(3-1) + 1 + 1 = 4" in result.out
    gif = Image.open(out)
    assert gif.n_frames == 1 + 4 + 1  # title, one per input cell, the cropped output
    gif.seek(3)
    not_blank(gif.convert("RGB").save(tmp_path / "f.png") or tmp_path / "f.png")


def test_pool_explain_ceil_mode_dilation_and_excluded_padding(cli, tmp_path):
    out = tmp_path / "p.gif"
    args = ("--input", "5x5", "--size", "2", "--padding", "1", "--ceil-mode", "--out", out)
    result = cli("pool-explain", *args, "--mode", "mean", "--exclude-pad")
    assert result.code == 0, result
    assert "ceil((5 + 2*1 - 1*(2-1) - 1) / 2) + 1 = 4 - 1 = 3" in result.out
    assert Image.open(out).n_frames == 1 + 9
    result = cli("pool-explain", "--input", "6x6", "--size", "2", "--dilation", "2", "--out", out)
    assert result.code == 0 and Image.open(out).n_frames == 1 + 4


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ("--values", "1 2 3; 4 5"),
            ("Expected --values as rows of numbers", "Received: '1 2 3; 4 5' (rows of 3, 2)"),
        ),
        (
            ("--values", "1 2; a 4"),
            ("Expected --values as rows of numbers", "Received: '1 2; a 4' ('a' is not a number)"),
        ),
        (("--kernel-values", "1 0;;0 1"), ("Expected --kernel-values", "(an empty row)")),
        (("--values", "1 2; 3 4", "--kernel-values", "1 0 1"), ("kernel 1x3 does not fit",)),
        (("--stride", "2y1"), ("Expected an integer or RxC like 2x1. Received: '2y1'",)),
        (("--output-padding", "1"), ("--output-padding needs --transposed. Received: 1",)),
        (
            ("--transposed", "--padding", "same"),
            ("Expected --padding an integer or RxC with --transposed. Received: 'same'",),
        ),
        (
            ("--transposed", "--output-padding", "1"),
            ("output_padding must be smaller than stride or dilation",),
        ),
    ],
)
def test_conv_explain_own_values_and_transposed_errors(cli, tmp_path, args, fragments):
    one_line_error(cli("conv-explain", *args, "--out", tmp_path / "x.gif"), *fragments)


def test_pool_explain_errors(cli, tmp_path):
    out = tmp_path / "p.gif"
    one_line_error(
        cli("pool-explain", "--mode", "mean", "--dilation", "2", "--out", out),
        "mean pooling has no dilation",
    )
    one_line_error(cli("pool-explain", "--values", "1 x", "--out", out), "('x' is not a number)")


def test_kernels_pixel_limit_and_its_flag(cli, tmp_path):
    from convlens.data.images import MAX_PIXELS

    scan = tmp_path / "scan.png"
    Image.new("L", (4500, 4000), 128).save(scan)  # 18 megapixels, a PNG: no reduced reading
    out = tmp_path / "k.png"
    one_line_error(
        cli("kernels", scan, "--out", out),
        f"{scan}: 4500x4000 = 18,000,000 pixels is over the limit of 16,000,000 (a possible "
        f"decompression bomb); raise the limit with CONVLENS_MAX_PIXELS=N or, for kernels "
        f"and serve, --max-pixels N",
    )
    result = cli("kernels", scan, "--max-pixels", "20000000", "--kernel", "sobel_x", "--out", out)
    assert result.code == 0 and out.exists()
    one_line_error(
        cli("kernels", scan, "--max-pixels", "-1", "--out", out),
        "Expected max_pixels (--max-pixels) of at least 1. Received: -1",
    )
    assert f"else {MAX_PIXELS}" in " ".join(cli("kernels", "--help").out.split())


def test_kernels_figure_downscales_large_photos_first():
    from convlens.look.kernels import MAX_SIDE, draw_kernels, fit

    big = np.zeros((3000, 2000), np.uint8)
    big[:, 1000:] = 255
    small = fit(big)
    assert small.shape == (MAX_SIDE, 683) == (1024, 683)
    assert small[:, :300].max() == 0 and small[:, -300:].min() == 255  # averaged, not cropped
    photo = np.zeros((50, 80, 3), np.uint8)
    assert fit(photo) is photo
    fig = draw_kernels(big, ["box_blur"])
    assert fig.axes[0].get_title() == "original, downscaled to 683x1024"
    assert fig.axes[0].get_images()[0].get_array().shape == (1024, 683)
    assert draw_kernels(photo, ["box_blur"]).axes[0].get_title() == "original"


def _panels_box(frame: Image.Image) -> tuple[int, int, int, int]:
    """Where the panels are: the box of non-white pixels below the frame's text."""
    a = np.asarray(frame.convert("L"))
    top = a.shape[0] // 5  # below the text (at most 3 lines on top)
    rows, cols = np.nonzero(a[top:] < 250)
    return int(rows.min()) + top, int(rows.max()) + top, int(cols.min()), int(cols.max())


@pytest.mark.parametrize(
    "make",
    [
        lambda x, k: conv_explain_frames(x, k, stride=2, padding=1),
        lambda x, k: conv_explain_frames(x, k, stride=(2, 1), padding=(1, 0)),
        lambda x, k: pool_explain_frames(x, 2, padding=1, ceil_mode=True),
        lambda x, k: conv_transpose_explain_frames(x[:3, :3], k, stride=2),
    ],
)
def test_explain_frames_keep_one_layout(make):
    x = np.arange(35, dtype=float).reshape(7, 5) % 10
    frames = make(x, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]))
    boxes = {_panels_box(f) for f in frames}
    assert len({f.size for f in frames}) == 1
    assert len(boxes) == 1, boxes  # frame 0 (the formula) lays out like the others


def test_explain_says_grey_is_padding_only_when_there_is_padding():
    assert input_title((0, 0, 0, 0)) == "input"
    assert input_title((0, 1, 0, 1)) == "padded input (grey = padding)"
    x = np.arange(16, dtype=float).reshape(4, 4)
    grey = tuple(int(PAD_COLOUR[i : i + 2], 16) for i in (1, 3, 5))

    def has_grey(frames: list[Image.Image]) -> bool:
        a = np.asarray(frames[0].convert("RGB")).reshape(-1, 3)
        return int((a == grey).all(1).sum()) > 1000  # cells, not anti-aliased text

    assert not has_grey(pool_explain_frames(x, 2))
    assert has_grey(pool_explain_frames(x, 2, padding=1))
