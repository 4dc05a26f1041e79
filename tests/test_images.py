"""Tests of convlens.images.load_image: every kind of image, and every refusal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from convlens.data.images import image_to_array, load_image
from convlens.errors import ImageError


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    img = Image.new("RGB", (40, 20), "white")  # wide as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = tmp_path / "phone.jpg"
    path.write_bytes(save(img, "JPEG", exif=exif))
    assert load_image(path).size == (20, 40)  # tall as viewed


def test_palette_and_transparency_on_white():
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    assert load_image(save(p, "PNG")).getpixel((0, 0)) == (255, 0, 0)
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    out = load_image(save(rgba, "PNG"))
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (10, 20, 30)
    gray_alpha = Image.new("LA", (4, 4), (0, 0))
    assert load_image(save(gray_alpha, "PNG")).mode == "L"


def test_16_bit_grayscale_scaled_to_8_bit():
    a = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    img = Image.fromarray(a)
    out = load_image(save(img, "PNG"))
    assert out.mode == "L" and np.asarray(out).tolist() == [[0, 255], [128, 1]]


def test_cmyk_and_modes():
    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # red in CMYK
    r, g, b = load_image(save(cmyk, "JPEG")).getpixel((2, 2))
    assert r > 200 and g < 60 and b < 60
    assert load_image(save(cmyk, "JPEG"), mode="L").mode == "L"
    gray = Image.new("L", (3, 3), 7)
    assert load_image(save(gray, "PNG"), mode="RGB").getpixel((0, 0)) == (7, 7, 7)
    assert image_to_array(load_image(save(gray, "PNG"))).max() == pytest.approx(7 / 255)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: p.write_text("hello, not an image"), "not an image"),
        (
            lambda p: p.write_bytes(save(Image.new("RGB", (64, 64), "red"), "PNG")[:80]),
            "truncated or corrupt image",
        ),
        (
            lambda p: p.write_bytes(save(Image.new("RGB", (64, 64), "red"), "JPEG")[:200]),
            "truncated or corrupt image",
        ),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_refusals_name_the_file(tmp_path, make, fragment):
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(ImageError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(str(path)) and fragment in message and "\n" not in message


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    # A 1-bit PNG of 10,000 x 10,000 pixels is tiny on disk; the limit stops it.
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda img: decoded.append(img.size) or real_load(img)
    )
    big = Image.new("1", (10_000, 10_000))
    path = tmp_path / "bomb.png"
    path.write_bytes(save(big, "PNG"))
    with pytest.raises(
        ImageError,
        match=r"bomb.png: 10000x10000 = 100,000,000 pixels is over the "
        r"limit of 16,000,000 \(a possible decompression bomb\); raise it with --max-pixels "
        r"or CONVLENS_MAX_PIXELS",
    ):
        load_image(path)
    small = tmp_path / "small.png"
    small.write_bytes(save(Image.new("L", (20, 10)), "PNG"))
    with pytest.raises(ImageError, match="20x10 = 200 pixels is over the limit of 100"):
        load_image(small, max_pixels=100)
    assert decoded == []  # refused from the header alone
    assert load_image(small).size == (20, 10) and decoded  # (a loaded image is decoded)


def test_byte_cap_for_uploads():
    data = save(Image.new("RGB", (50, 50), "red"), "PNG")
    with pytest.raises(ImageError, match="over the limit of 10 bytes"):
        load_image(io.BytesIO(data), max_bytes=10)
    assert load_image(data, max_bytes=len(data)).size == (50, 50)
