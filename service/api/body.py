"""Reading a request body: content type, size limit (413 before reading it all), parsing.

A body is JSON, or (for /loss and /gradient) ``application/octet-stream`` in the style of the
KServe/Triton binary tensor extension: a JSON header of ``Inference-Header-Content-Length``
bytes, then the bytes of the tensor objects that give ``binary_data_size`` instead of ``data``
or ``b64``, in the order the header names them (:func:`parse_binary`).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np
import orjson
from starlette.requests import Request

from .. import deadline
from ..encoding import MAX_DIMS, B64Text, BinaryData
from ..losses import LOSSES
from .inflight import BodyBudget
from .json_arrays import scan_array
from .problems import ProblemError

BINARY_MEDIA_TYPE = "application/octet-stream"
JSON_MAX_DEPTH = 1024  # orjson's limit: deeper JSON is refused with 400 invalid_json
HEADER_LENGTH = "inference-header-content-length"  # (KServe's name) the JSON header's bytes


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media(content_type)
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


# A body's bytes are kept as the chunks that brought them until half of its declared length
# has arrived, and only then copied into one buffer of that length: what a request holds grows
# with what it sent (at most twice), never with what it declares, and each byte is still copied
# once (growing a buffer by doubling copies the body twice over: 2x slower at 88 MB).
BUFFER_FROM_BYTES = 65536  # smaller bodies are joined at the end (one chunk: no copy at all)
SMALL_CHUNK = 4096  # chunks smaller than this are gathered into pieces of up to GATHER_BYTES,
GATHER_BYTES = 65536  # so that a body sent a few bytes at a time does not cost an object each


async def read_body(request: Request, max_bytes: int, *,
                    binary: bool = False) -> bytes | bytearray:
    """The raw body; 415 for a content type other than JSON (or ``application/octet-stream``
    where ``binary``), 413 past ``max_bytes`` (never read whole), 503 ``server_busy`` when the
    server's budget of body bytes in flight (:mod:`service.api.inflight`) is full.

    Memory follows the bytes that arrive, not the ``Content-Length``: the chunks are kept until
    half the declared length has arrived, then copied into one buffer of that length (no list
    of chunks joined into a second copy of a large body at the end).
    """
    content_type = request.headers.get("content-type", "")
    if not (_is_json(content_type) or (binary and _media(content_type) == BINARY_MEDIA_TYPE)):
        wanted = "application/json" + (f" or {BINARY_MEDIA_TYPE}" if binary else "")
        raise ProblemError("unsupported_media_type",
                           f"content type must be {wanted}, got {content_type!r}" if
                           content_type else f"content type must be {wanted}",
                           ("header", "content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError("payload_too_large", f"the body has {declared} bytes; the limit is "
                           f"{max_bytes}", ("body",))
    expected = int(declared) if declared is not None and declared.isdigit() else -1
    budget: BodyBudget = request.app.state.body_budget
    budget.admit(max(expected, 0))
    scope = request.scope
    pieces: list[bytes | bytearray] = []
    buffer: bytearray | None = None
    size = 0
    async for chunk in request.stream():
        end = size + len(chunk)
        if end > max_bytes:
            raise ProblemError("payload_too_large", f"the body exceeds the limit of {max_bytes} "
                               "bytes", ("body",))
        if chunk:
            budget.charge(scope, len(chunk))
        if buffer is not None and end <= expected:
            buffer[size:end] = chunk
        elif expected > BUFFER_FROM_BYTES and 2 * end >= expected and end <= expected:
            buffer = bytearray(expected)  # half of it has arrived: the rest is likely to
            at = 0
            for piece in pieces:
                buffer[at:at + len(piece)] = piece
                at += len(piece)
            pieces.clear()
            buffer[size:end] = chunk
        else:
            if buffer is not None:  # more bytes than declared: keep them all as pieces
                del buffer[size:]
                pieces.append(buffer)
                buffer, expected = None, -1
            last = pieces[-1] if pieces else None
            if len(chunk) >= SMALL_CHUNK or last is None:
                pieces.append(chunk)
            elif type(last) is bytearray and len(last) < GATHER_BYTES:
                last += chunk
            else:
                pieces.append(bytearray(chunk))
        size = end
    if buffer is not None:
        if size < len(buffer):  # the stream ended short of the declared length
            del buffer[size:]
        return buffer
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def binary_header_length(request: Request, size: int) -> int | None:
    """The JSON header's length of an ``application/octet-stream`` body of ``size`` bytes (400
    if ``Inference-Header-Content-Length`` is missing or not a length within the body); None for
    a JSON body."""
    if _media(request.headers.get("content-type", "")) != BINARY_MEDIA_TYPE:
        return None
    value = request.headers.get(HEADER_LENGTH)
    loc = ("header", HEADER_LENGTH)
    if value is None:
        raise ProblemError("invalid_binary_body", f"an {BINARY_MEDIA_TYPE} request needs the "
                           "Inference-Header-Content-Length header: the length in bytes of the "
                           "JSON header at the start of the body", loc, status=400)
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > size:
        raise ProblemError("invalid_binary_body", "Inference-Header-Content-Length must be the "
                           f"length in bytes of the JSON header, at most the body's {size}; "
                           f"got {value!r:.40}", loc, status=400)
    return int(text)


def parse_binary(body: bytes | bytearray, header_length: int,
                 max_elements: int | None = None) -> Any:
    """An ``application/octet-stream`` body parsed: its JSON header (``body[:header_length]``),
    in which each tensor object of a request array (top level or ``inputs``) that gives
    ``binary_data_size`` gets a :class:`service.encoding.BinaryData` view of its bytes, taken
    from the rest of the body in the order the header names the arrays. 400 when the sizes do
    not add up to the rest of the body; 422 for a size that is not a byte count. (/compare does
    not take binary bodies: a submission's tensors here are refused with the body's other
    unknown fields.) ``max_elements``: as for :func:`parse_json`."""
    obj = parse_json(bytes(body[:header_length]), max_elements)
    section = memoryview(body).toreadonly()[header_length:]
    offset = 0
    for where, key, loc in _array_places(obj):
        tensor = where[key]
        if not (isinstance(tensor, dict) and "binary_data_size" in tensor):
            continue
        size = tensor["binary_data_size"]
        at = (*loc, "binary_data_size")
        if type(size) is not int or size < 0:
            raise ProblemError("invalid_tensor", "binary_data_size must be a non-negative "
                               "integer: the number of the tensor's bytes after the JSON header",
                               at)
        if offset + size > len(section):
            raise ProblemError("invalid_binary_body", f"binary_data_size {size} runs past the "
                               f"end of the body: {len(section)} bytes follow the JSON header "
                               f"and the tensors before this one take {offset}", at, status=400)
        tensor["binary_data_size"] = BinaryData(section[offset:offset + size])
        offset += size
    if offset != len(section):
        raise ProblemError("invalid_binary_body", f"{len(section)} bytes follow the JSON header "
                           f"but its tensors' binary_data_size add up to {offset}", ("body",),
                           status=400)
    return obj


B64_INPLACE_BYTES = 1 << 20  # from this body size, b64 texts are left in place (see parse_json)
# and from this one, large JSON arrays are read in place: in smaller bodies orjson + np.asarray
# measured as fast or faster (0.90x to 0.98x the in-place time at 1.2 to 2 MB), in larger ones
# slower (1.3x at 4 MB, 1.45x at 10 MB: its Python objects no longer fit in the caches)
JSON_INPLACE_BODY_BYTES = 3 << 20
ARRAY_INPLACE_BYTES = 1 << 16  # a JSON array of numbers read in place from this many bytes
_KEY = re.compile(rb'"([A-Za-z0-9_]{1,64})"[ \t\r\n]*:[ \t\r\n]*')
_ARRAY_FIELDS = ("predictions", "targets", "sample_weight")
_SUBMITTED_FIELDS = ("value", "per_sample", "gradient")  # a /compare request's submission
_ARRAY_KEYS = frozenset({*_ARRAY_FIELDS, *_SUBMITTED_FIELDS, "data",
                         *(i.name for spec in LOSSES.values() for i in spec.inputs)})


def parse_json(body: bytes | bytearray, max_elements: int | None = None) -> Any:
    """``body`` parsed; 400 with the position for malformed JSON or NaN/Infinity tokens.

    In a large body the arrays are not turned into Python objects: the base64 text of a b64
    tensor object becomes a :class:`service.encoding.B64Text` view of the body itself (saving
    the parser's two copies of it; bodies from :data:`B64_INPLACE_BYTES`), and a large JSON
    array of numbers (a request array, an ``inputs`` value, a /compare submission's array, or a
    tensor object's ``data``) is parsed in slices straight into a NumPy array
    (:mod:`service.api.json_arrays`; bodies from :data:`JSON_INPLACE_BODY_BYTES`), saving the
    4x its decoded bytes that its Python floats and lists would take; the arrays read in place
    hold at most ``max_elements`` elements together (the request's limit: a larger array is left
    to the ordinary parse, and refused after it). Any body where this is not clear-cut (an
    escape inside the text, such a key that is not a request array's, an array that is not a
    plain 1-D or 2-D array of numbers) is parsed the ordinary way, which also gives the
    positions of problems as sent.
    """
    if len(body) >= B64_INPLACE_BYTES:
        parsed = _parse_in_place(body, max_elements)
        if parsed is not None:
            return parsed[0]
    return _parse(body)


class _Span(NamedTuple):
    start: int  # what the placeholder replaces: body[start:end]
    end: int
    value: np.ndarray | None  # a parsed array, or None for the text of a b64 string


def _preceded_by_key_start(body: bytes | bytearray, i: int) -> bool:
    """Whether the ``"`` at ``i`` opens an object's key (after ``{`` or ``,``), not a string's
    text."""
    return body[max(i - 64, 0):i].rstrip().endswith((b"{", b","))


_MAX_QUOTES = 1000  # quotes looked at in a body: a body of numbers holds quotes only around
# its few keys and strings


def _spans(body: bytes | bytearray, max_elements: int | None = None) -> list[_Span] | None:
    """Every b64 text and large numeric array of the body, found by ``memchr`` of ``"``. None if
    unclear: more than :data:`_MAX_QUOTES` quotes (a body full of other text or keys), an
    unterminated or escaped b64 text.

    Linear in the body's size, whatever it holds: each search resumes past the text the last
    one looked at (:func:`service.api.json_arrays.scan_array` answers where), and at most
    :data:`_MAX_QUOTES` are made.
    """
    spans: list[_Span] = []
    at, quotes = 0, 0
    arrays = len(body) >= JSON_INPLACE_BODY_BYTES
    budget = max_elements
    while (i := body.find(b'"', at)) != -1:
        quotes += 1
        if quotes > _MAX_QUOTES:  # a body full of other text: not worth it
            return None
        match = _KEY.match(body, i)
        key = match.group(1) if match is not None and _preceded_by_key_start(body, i) else None
        if key is None:
            at = i + 1
            continue
        value = match.end()
        at = value
        first = body[value:value + 1]
        if key == b"b64" and first == b'"':
            end = body.find(b'"', value + 1)
            if end == -1 or body.find(b"\\", value + 1, end) != -1:  # unterminated, escapes
                return None
            spans.append(_Span(value + 1, end, None))
            at = end + 1
        elif arrays and first == b"[" and key.decode() in _ARRAY_KEYS:
            deadline.check("parsing the body")  # (one check per array: each is a scan)
            found = scan_array(body, value, ARRAY_INPLACE_BYTES, budget)
            if found.array is not None:
                spans.append(_Span(value, found.end, found.array))
                if budget is not None:
                    budget -= found.array.size
            at = found.end
    return spans


def _parse_in_place(body: bytes | bytearray, max_elements: int | None) -> tuple[Any] | None:
    """(the parsed body with B64Text values and arrays,) or None to parse it the ordinary way.

    The spans are replaced by placeholder strings (NUL and their index: absent from the body),
    the rest is parsed by orjson, and each placeholder must turn up where an array goes: a
    request array, an ``inputs`` value, a /compare submission's ``value``, ``per_sample``,
    ``gradient`` or ``gradients`` value, or a tensor object's ``b64`` (texts) or ``data``.
    """
    # (memchr of the backslash first: a search for the whole escape is 40x slower)
    if body.find(b"\\") != -1 and body.find(b"\\u0000") != -1:
        return None
    spans = _spans(body, max_elements)
    if not spans:
        return None
    pieces, at = [], 0
    for i, span in enumerate(spans):
        mark = b"\\u0000%d" % i
        pieces += [body[at:span.start], mark if span.value is None else b'"%s"' % mark]
        at = span.end
    pieces.append(body[at:])
    try:
        obj = _parse(b"".join(pieces))
    except ProblemError:  # reported with the positions of the body as sent
        return None
    if not isinstance(obj, dict):
        return None
    view = memoryview(body).toreadonly()
    texts = {f"\x00{i}": B64Text(view[s.start:s.end])
             for i, s in enumerate(spans) if s.value is None}
    arrays = {f"\x00{i}": s.value for i, s in enumerate(spans) if s.value is not None}

    def take(value: Any) -> Any:
        if isinstance(value, str):
            return arrays.pop(value, value)
        if isinstance(value, dict):
            for key, found in (("b64", texts), ("data", arrays)):
                if isinstance(value.get(key), str) and value[key] in found:
                    value[key] = found.pop(value[key])
        return value

    for where, key, _ in _array_places(obj):
        where[key] = take(where[key])
    return None if texts or arrays else (obj,)  # a placeholder elsewhere: parse as usual


Place = tuple[dict[str, Any], str, tuple[str, ...]]


def _array_places(obj: Any) -> list[Place]:
    """(object, key, location) of every place a request's array goes, in the order of the JSON
    text (a parsed object keeps its keys in that order): the top-level arrays, ``inputs``
    values, and a /compare submission's ``value``, ``per_sample``, ``gradient`` and
    ``gradients`` values."""
    places: list[Place] = []

    def add(where: Any, loc: tuple[str, ...]) -> None:
        if isinstance(where, dict):
            places.extend((where, k, (*loc, k)) for k in where)

    if not isinstance(obj, dict):
        return places
    for key, value in obj.items():
        if key in _ARRAY_FIELDS:
            places.append((obj, key, ("body", key)))
        elif key == "inputs":
            add(value, ("body", "inputs"))
        elif key == "submission" and isinstance(value, dict):
            for field, item in value.items():
                if field in _SUBMITTED_FIELDS:
                    places.append((value, field, ("body", "submission", field)))
                elif field == "gradients":
                    add(item, ("body", "submission", "gradients"))
    return places


def holds_lists(obj: Any) -> bool:
    """Whether an array of a parsed body is a JSON list (not b64, not read in place), in which
    NumPy would read a boolean as a number."""
    if not isinstance(obj, dict):
        return True
    return any(isinstance(v, list) or (isinstance(v, dict) and isinstance(v.get("data"), list))
               for v in (where[key] for where, key, _ in _array_places(obj)))


def _has_token(raw: bytes | bytearray, token: bytes, probe_at: int) -> bool:
    """``token in raw``, found through ``memchr`` of its character at ``probe_at`` (a letter that
    a body of numbers only has in its few keys), with a plain search if that letter is common.
    (``in`` itself takes 10 to 13 ms on a 20 MB body.)"""
    probe = token[probe_at:probe_at + 1]
    i = raw.find(probe)
    for _ in range(64):  # a few candidates: check each
        if i == -1:
            return False
        if raw[max(i - probe_at, 0):i - probe_at + len(token)] == token:
            return True
        i = raw.find(probe, i + 1)
    return token in raw


def may_hide_booleans(raw: bytes | bytearray, obj: Any) -> bool:
    """Whether the arrays of ``obj`` (parsed from ``raw``) must be scanned for booleans: some
    array is a JSON list and the body holds a ``true`` or ``false`` token."""
    return holds_lists(obj) and (_has_token(raw, b"true", 2) or _has_token(raw, b"false", 3))


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
        elif "depth limit" in exc.msg or "recursion" in exc.msg.lower():
            msg = (f"the JSON is nested more than {JSON_MAX_DEPTH} deep (at byte {pos}); arrays "
                   f"have at most {MAX_DIMS} dimensions")
        else:
            msg = f"malformed JSON at byte {pos}: {exc.msg}"
        raise ProblemError("invalid_json", msg, ("body",), status=400) from None
