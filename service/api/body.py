"""Reading a JSON request body: content type, size limit (413 before reading it all), parsing."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from ..encoding import B64Text
from .problems import ProblemError


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


async def read_body(request: Request, max_bytes: int) -> bytes | bytearray:
    """The raw body; 415 for a non-JSON content type, 413 past ``max_bytes`` (never read whole).

    With a valid ``Content-Length`` the chunks are copied into one buffer of that size (no list
    of chunks joined into a second copy at the end).
    """
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
    expected = int(declared) if declared is not None and declared.isdigit() else -1
    chunks = []
    buffer = bytearray(expected) if expected > 65536 else None
    size = 0
    async for chunk in request.stream():
        end = size + len(chunk)
        if end > max_bytes:
            raise ProblemError("payload_too_large", f"the body exceeds the limit of {max_bytes} "
                               "bytes", ("body",))
        if buffer is not None and end <= expected:
            buffer[size:end] = chunk
        else:  # no (or a wrong) Content-Length: collect and join
            if buffer is not None:
                chunks.append(bytes(buffer[:size]))
                buffer = None
            chunks.append(chunk)
        size = end
    if buffer is not None:
        return buffer if size == expected else buffer[:size]
    return b"".join(chunks)


B64_INPLACE_BYTES = 1 << 20  # from this body size, b64 payloads are left in the body
_B64_KEY = re.compile(rb'"b64"\s*:\s*"')
_ARRAY_FIELDS = ("predictions", "targets", "sample_weight")


def parse_json(body: bytes | bytearray) -> Any:
    """``body`` parsed; 400 with the position for malformed JSON or NaN/Infinity tokens.

    In a large body, the base64 text of b64 tensor objects is not turned into Python strings: each
    such ``"b64"`` value is a :class:`service.encoding.B64Text` view of the body itself, which
    saves the parser's two copies of it (the request's peak memory) and its time. Any body where
    this is not clear-cut (an escape inside the text, a ``"b64"`` key that is not an array's
    tensor object) is parsed the ordinary way.
    """
    if len(body) >= B64_INPLACE_BYTES:
        parsed = _parse_b64_in_place(body)
        if parsed is not None:
            return parsed[0]
    return _parse(body)


def _b64_spans(body: bytes | bytearray) -> list[tuple[int, int]] | None:
    """(start, end) of the text of every ``"b64": "..."`` value, found through ``memchr`` of
    ``b`` (a letter that numbers never hold), skipping each text found; None if unclear."""
    spans: list[tuple[int, int]] = []
    at, misses = 0, 0
    while (i := body.find(b"b", at)) != -1:
        match = _B64_KEY.match(body, i - 1) if i else None
        if match is None:
            misses += 1
            if misses > 1000:  # a body full of other text: not worth it
                return None
            at = i + 1
            continue
        if not body[max(i - 65, 0):i - 1].rstrip().endswith((b"{", b",")):
            return None  # not a key of an object (e.g. inside a string)
        start = match.end()
        end = body.find(b'"', start)
        if end == -1 or body.find(b"\\", start, end) != -1:  # unterminated, or escapes
            return None
        spans.append((start, end))
        at = end + 1
    return spans


def _parse_b64_in_place(body: bytes | bytearray) -> tuple[Any] | None:
    """(the parsed body with B64Text values,) or None to parse it the ordinary way."""
    spans = _b64_spans(body)
    if not spans:
        return None
    pieces, at = [], 0
    for i, (start, end) in enumerate(spans):
        pieces += [body[at:start], b"\\u0000%d" % i]
        at = end
    pieces.append(body[at:])
    try:
        obj = _parse(b"".join(pieces))
    except ProblemError:  # reported with the positions of the body as sent
        return None
    if not isinstance(obj, dict):
        return None
    view = memoryview(body).toreadonly()
    texts = {f"\x00{i}": B64Text(view[start:end]) for i, (start, end) in enumerate(spans)}
    tensors = [obj.get(k) for k in _ARRAY_FIELDS]
    if isinstance(obj.get("inputs"), dict):
        tensors += list(obj["inputs"].values())
    for tensor in tensors:
        if isinstance(tensor, dict) and isinstance(tensor.get("b64"), str):
            text = texts.pop(tensor["b64"], None)
            if text is not None:
                tensor["b64"] = text
    return None if texts else (obj,)  # a placeholder elsewhere: parse as usual


def _parse(body: bytes | bytearray) -> Any:
    if not body or body.isspace():
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
