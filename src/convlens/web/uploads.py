"""Uploads to the explorer: a request's body, capped and timed, and the image in it.

The predict route takes the image as the raw body (`curl --data-binary @shoe.png URL`, what
the page sends) or as the one file of a multipart/form-data form (`curl -F file=@shoe.png
URL`, what HTML forms and most clients send). Limits, each refused with one line:
MAX_UPLOAD bytes in all (413); the whole body within UPLOAD_SECONDS, and at MIN_RATE bytes
per second on average after the first GRACE_SECONDS (408); at most UPLOADS_AT_ONCE bodies
arriving at once (503: a crowd of slow senders cannot take every connection); at most
MAX_PARTS parts (400), exactly one of them a file (400), each other field at most
MAX_FIELD bytes (413). The body is parsed in memory: nothing is written to disk.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:  # a TypedDict python-multipart defines for type checkers only
    from python_multipart.multipart import MultipartCallbacks

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one request body
UPLOAD_SECONDS = 30  # to send it
MAX_PARTS = 8  # parts of a multipart form: the image and a few small fields
MAX_FIELD = 1024  # bytes of a form field that is not a file
EXAMPLE = "curl -F file=@shoe.png URL"
MIN_RATE = 16 * 1024  # bytes per second, on average, after the first GRACE_SECONDS
GRACE_SECONDS = 2.0
UPLOADS_AT_ONCE = 8  # bodies arriving at the same time (of LIMIT_CONCURRENCY connections)


def upload_slots() -> anyio.CapacityLimiter:
    """The slots of bodies arriving at once (one per app)."""
    return anyio.CapacityLimiter(UPLOADS_AT_ONCE)


async def read_body(request: Request, slots: anyio.CapacityLimiter | None = None) -> bytes:
    """The body, at most MAX_UPLOAD bytes, arrived within UPLOAD_SECONDS at MIN_RATE after
    GRACE_SECONDS; with `slots`, one of them is held while it arrives (503 when none is
    free): a client sending slowly holds a connection for seconds, not the server."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_UPLOAD:
        raise HTTPException(
            413, f"upload of {int(size):,} bytes is over the limit of {MAX_UPLOAD:,} bytes"
        )
    if slots is None:
        return await _arrive(request)
    try:
        slots.acquire_nowait()
    except anyio.WouldBlock:
        raise HTTPException(
            503, f"{UPLOADS_AT_ONCE} uploads are arriving already; send it again in a moment"
        ) from None
    try:
        return await _arrive(request)
    finally:
        slots.release()


async def _arrive(request: Request) -> bytes:
    body = bytearray()
    start = anyio.current_time()
    chunks = request.stream().__aiter__()
    while True:
        # the next chunk is due when the body so far, at MIN_RATE, would have come in
        due = min(UPLOAD_SECONDS, GRACE_SECONDS + len(body) / MIN_RATE)
        try:
            with anyio.fail_after(max(0.0, start + due - anyio.current_time())):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return bytes(body)
        except TimeoutError:
            if due >= UPLOAD_SECONDS:
                raise HTTPException(
                    408, f"the upload took longer than {UPLOAD_SECONDS} s; send it again"
                ) from None
            raise HTTPException(
                408,
                f"the upload arrived slower than {MIN_RATE // 1024} kB/s ({len(body):,} "
                f"bytes in {due:.0f} s); send it again",
            ) from None
        body += chunk
        if len(body) > MAX_UPLOAD:
            raise HTTPException(413, f"upload over the limit of {MAX_UPLOAD:,} bytes")


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


def _refuse(status: int, message: str) -> HTTPException:
    return HTTPException(status, f"multipart upload: {message}")


def form_parts(content_type: str, body: bytes) -> tuple[io.BytesIO, dict[str, str]]:
    """The image in a body and the form's other fields: the body itself and no fields
    unless `content_type` is multipart/form-data, then its one file (named as the client
    named it, for messages) and its fields."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return io.BytesIO(body), {}
    if not params.get(b"boundary"):
        raise _refuse(400, "no boundary in its Content-Type header")
    parts: list[_Part] = []
    header = {"field": b"", "value": b""}

    def begin() -> None:
        if len(parts) == MAX_PARTS:
            raise _refuse(400, f"Expected at most {MAX_PARTS} parts. Received: more")
        parts.append(_Part())

    def header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            _, options = parse_options_header(header["value"])
            parts[-1].name = options.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in options:
                parts[-1].filename = options[b"filename"].decode("utf-8", "replace")
        header["field"] = header["value"] = b""

    def data(chunk: bytes, start: int, end: int) -> None:
        part = parts[-1]
        part.data += chunk[start:end]
        if part.filename is None and len(part.data) > MAX_FIELD:
            raise _refuse(413, f"field {part.name!r} is over the limit of {MAX_FIELD:,} bytes")

    def add(key: str) -> Callable[[bytes, int, int], None]:  # appends to the header being read
        return lambda chunk, start, end: header.__setitem__(key, header[key] + chunk[start:end])

    callbacks: MultipartCallbacks = {
        "on_part_begin": begin,
        "on_header_field": add("field"),
        "on_header_value": add("value"),
        "on_header_end": header_end,
        "on_part_data": data,
    }
    try:
        parser = MultipartParser(params[b"boundary"], callbacks, max_size=MAX_UPLOAD)
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise _refuse(400, f"not valid multipart/form-data ({exc})") from None
    files = [p for p in parts if p.filename is not None]
    if len(files) != 1:
        raise _refuse(400, f"Expected one image file, e.g. {EXAMPLE}. Received: {len(files)} files")
    fields = {p.name: p.data.decode("utf-8", "replace") for p in parts if p.filename is None}
    image = io.BytesIO(files[0].data)
    name = "".join(c for c in Path(files[0].filename or "").name if c.isprintable())
    image.name = name[:100] or "the uploaded image"  # for one-line messages
    return image, fields
