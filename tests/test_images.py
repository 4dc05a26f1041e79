"""Tests of convlens.images.load_image: every kind of image, and every refusal."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from convlens.data.images import MAX_PIXELS, image_info, image_to_array, load_image, pixel_limit
from convlens.errors import ConfigError, ImageError


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
        r"limit of 16,000,000 \(a possible decompression bomb\); raise the limit with "
        r"CONVLENS_MAX_PIXELS=N or, for kernels and serve, --max-pixels N$",
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


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 1-bit pixels, with no pixel data to speak
    of: what a decompression bomb looks like to anything that reads only the header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\n"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "ICO", "PPM"])
def test_the_formats_users_mean_are_read(fmt):
    img = Image.new("RGB", (16, 12), (200, 30, 30))
    out = load_image(save(img, fmt))
    assert out.size == (16, 12) and out.mode == "RGB"
    assert image_info(save(img, fmt)).format == fmt


def test_other_formats_are_refused_and_never_reach_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    called = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: called.append(a))
    allowed = "it opens PNG, JPEG, GIF, BMP, WebP, TIFF, ICO, PPM/PGM"
    for name, data in [
        ("figure.eps", EPS),
        ("page.ps", EPS),
        ("image.pcx", save(Image.new("RGB", (8, 8)), "PCX")),
        ("image.tga", save(Image.new("RGB", (8, 8)), "TGA")),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        for read in (load_image, image_info):
            with pytest.raises(ImageError) as err:
                read(path)
            assert str(err.value) == (
                f"{path}: not an image (or a format convlens does not open; {allowed})"
            )
    assert called == []


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    a = np.random.default_rng(0).integers(0, 255, (1000, 2000, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    path.write_bytes(save(Image.fromarray(a), "JPEG"))  # 2 megapixels
    assert load_image(path).size == (2000, 1000)
    assert load_image(path, max_pixels=600_000).size == (1000, 500)  # 1/2 per side
    with pytest.raises(ImageError, match=r"2000x1000 = 2,000,000 pixels is over the limit of 400,"):
        load_image(path, max_pixels=400_000)  # 1/4 would fit, but only 4x the limit is read
    png_path = tmp_path / "photo.png"
    png_path.write_bytes(save(Image.fromarray(a), "PNG"))
    with pytest.raises(ImageError, match="2,000,000 pixels is over the limit of 600,000"):
        load_image(png_path, max_pixels=600_000)  # no reduced decoding for PNG: refused


def test_reduce_to_keeps_at_least_the_size_asked(tmp_path):
    a = np.random.default_rng(0).integers(0, 255, (1000, 2000, 3), dtype=np.uint8)
    jpeg = save(Image.fromarray(a), "JPEG")
    assert load_image(jpeg, reduce_to=250).size == (250, 125)  # 1/8 while decoding
    assert load_image(jpeg, reduce_to=300).size == (500, 250)  # 1/4: 1/8 would be too small
    assert load_image(save(Image.fromarray(a), "PNG"), reduce_to=600).size == (667, 334)  # 1/3
    assert load_image(jpeg, reduce_to=5000).size == (2000, 1000)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to view
    rotated = save(Image.fromarray(a), "JPEG", exif=exif)
    assert load_image(rotated, reduce_to=250).size == (125, 250)  # upright, reduced
    with pytest.raises(ConfigError, match="Expected reduce_to of at least 1. Received: 0"):
        load_image(jpeg, reduce_to=0)


def test_the_limit_is_per_call_from_the_environment(monkeypatch):
    small = save(Image.new("L", (20, 10)), "PNG")
    monkeypatch.setenv("CONVLENS_MAX_PIXELS", "150")
    assert pixel_limit() == 150 and pixel_limit(500) == 500
    with pytest.raises(
        ImageError,
        match=r"200 pixels is over the limit of 150 \(a possible decompression bomb\); raise the",
    ):
        load_image(small)
    assert load_image(small, max_pixels=200).size == (20, 10)
    monkeypatch.setenv("CONVLENS_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="Expected CONVLENS_MAX_PIXELS to be a whole number"):
        load_image(small)
    monkeypatch.delenv("CONVLENS_MAX_PIXELS")
    assert pixel_limit() == MAX_PIXELS == 16_000_000
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own guard, untouched


def test_header_bombs_are_one_line_before_any_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(100_000, 100_000))  # over Pillow's own limit too
    for read in (load_image, image_info):
        with pytest.raises(ImageError) as err:
            read(path)
        assert str(err.value).startswith(f"{path}: too many pixels (a possible decompression bomb)")
    path.write_bytes(png_header(5000, 4000))
    with pytest.raises(ImageError, match="5000x4000 = 20,000,000 pixels is over the limit of 16,"):
        image_info(path)
    assert image_info(path, max_pixels=20_000_000)[:2] == (5000, 4000)  # header only
