"""What convlens promises under hostile images and requests.

Images (every command, image folders included, through one loader):
- at most 16 megapixels are decoded (CONVLENS_MAX_PIXELS or --max-pixels raise it); a JPEG
  up to 4 times larger is decoded at reduced scale instead; anything larger is refused
  from its header, before decoding, in one line naming the file;
- only PNG, JPEG, GIF, BMP, WebP, TIFF, ICO and PPM/PGM are opened: an EPS never reaches
  Ghostscript;
- `convlens kernels` downscales a photo to 1024 pixels before any kernel runs;
- in an image folder, hidden files and folders are skipped and empty classes dropped, each
  said in one warning line; a bomb in it is one line naming the file, exit 2.

The explorer (`convlens serve`):
- answers only requests addressed to this computer by a loopback name (DNS rebinding);
- takes an image as a raw body or as the one file of a multipart form, 5 MB at most, in at
  most 8 parts; refuses the rest with one line;
- runs model work in worker threads: a slow prediction does not stall the page;
- closes connections whose request head does not arrive within 10 s.
"""

from __future__ import annotations

import io
import tracemalloc

import pytest
from PIL import Image, ImageDraw

from test_images import EPS, png_header

from conftest import one_line_error

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from convlens.web.app import create_app  # noqa: E402


def photo(width: int, height: int) -> Image.Image:
    img = Image.new("L", (width, height), 200)
    ImageDraw.Draw(img).ellipse((width // 4, height // 4, width // 2, height // 2), fill=30)
    return img


def test_a_huge_jpeg_costs_what_the_figure_shows(cli, tmp_path):
    path = tmp_path / "camera.jpg"
    photo(6000, 4000).save(path, quality=80)  # 24 megapixels: over the limit, under 4x
    tracemalloc.start()
    try:
        result = cli("kernels", path, "--out", tmp_path / "k.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.code == 0, result.err
    # the figure of a 1024-pixel photo, whatever the photo: about 5 GiB at full size
    assert peak < 300 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_a_postscript_file_never_reaches_ghostscript(cli, tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    ran = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a))
    path = tmp_path / "shoe.png"  # the name says PNG, the content is PostScript
    path.write_bytes(EPS)
    one_line_error(
        cli("kernels", path, "--out", tmp_path / "k.png"),
        f"{path}: not an image (or a format convlens does not open; it opens PNG, JPEG, GIF, "
        f"BMP, WebP, TIFF, ICO, PPM/PGM)",
    )
    assert ran == []


@pytest.mark.parametrize(
    "width, height, fragment",
    [
        (5000, 4000, "5000x4000 = 20,000,000 pixels is over the limit of 16,000,000"),
        (20000, 10000, "too many pixels (a possible decompression bomb)"),  # Pillow's limit too
    ],
)
def test_a_bomb_in_an_image_folder_is_one_line(cli, tmp_path, width, height, fragment):
    root = tmp_path / "pets"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            photo(12, 12).save(root / c / f"{i}.png")
    (root / "dog" / "0.png").write_bytes(png_header(width, height))
    one_line_error(
        cli("train", "--data", f"imagefolder:{root}", "--out", tmp_path / "run", "--epochs", "1"),
        f"image folder: {root / 'dog' / '0.png'}: ",
        fragment,
    )


@pytest.fixture(scope="module")
def explorer(tiny_run):
    return TestClient(create_app(tiny_run[0]), base_url="http://127.0.0.1:8000"), tiny_run[0].name


def upload() -> bytes:
    buf = io.BytesIO()
    photo(60, 60).save(buf, format="PNG")
    return buf.getvalue()


def test_a_rebinding_page_gets_nothing(explorer):
    client, name = explorer
    for path in ("/", "/api/runs", f"/api/runs/{name}"):
        r = client.get(path, headers={"Host": "attacker.example:8000"})
        assert r.status_code == 400 and "not one this explorer answers to" in r.json()["detail"]


def test_what_an_upload_may_be(explorer):
    client, name = explorer
    url = f"/api/runs/{name}/predict"
    assert client.post(url, content=upload()).status_code == 200
    assert client.post(url, files={"file": ("shoe.png", upload())}).status_code == 200
    refusals = [
        (client.post(url, content=b"\0" * (5 * 2**20 + 1)), 413, "over the limit of 5,242,880"),
        (
            client.post(url, files=[(f"f{i}", (f"{i}.png", upload())) for i in range(20)]),
            400,
            "multipart upload: ",
        ),
        (client.post(url, content=png_header(5000, 4000)), 400, "over the limit of 16,000,000"),
        (client.post(url, content=EPS), 400, "not an image"),
    ]
    for r, status, fragment in refusals:
        assert r.status_code == status and fragment in r.json()["detail"], r.text
        assert "\n" not in r.json()["detail"]
