"""Reading a JSON request body: content type, size limit (413 before reading it all), parsing."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from .problems import ProblemError


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body; 415 for a non-JSON content type, 413 past ``max_bytes`` (never read whole)."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise ProblemError("unsupported_media_type",
                           f"content type must be application/json, got {content_type!r}" if
                           content_type else "content type must be application/json",
                           ("header", "content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError("payload_too_large", f"the body has {declared} bytes; the limit is "
                           f"{max_bytes}", ("body",))
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError("payload_too_large", f"the body exceeds the limit of {max_bytes} "
                               "bytes", ("body",))
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """``body`` parsed; 400 with the position for malformed JSON or NaN/Infinity tokens."""
    if not body.strip():
        raise ProblemError("empty_body", "the request body is empty; send a JSON object",
                           ("body",))
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        pos = exc.pos
        near = body[pos:pos + 9]
        if near.lstrip(b"-").startswith((b"NaN", b"Infinity", b"inf", b"nan")):
            msg = (f"NaN and Infinity are not valid JSON numbers (at byte {pos}); send finite "
                   "numbers")
        elif "infinity when parsed" in exc.msg:
            msg = f"a number at byte {pos} overflows to infinity; send finite numbers"
        elif "recursion" in exc.msg.lower():
            msg = "the JSON is nested too deeply"
        else:
            msg = f"malformed JSON at byte {pos}: {exc.msg}"
        raise ProblemError("invalid_json", msg, ("body",), status=400) from None
