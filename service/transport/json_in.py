"""JSON request bodies parsed, large arrays read in place: no Python float per number.

In a large body the arrays are not turned into Python objects (:func:`parse_json`): base64 texts
stay views of the body (:class:`service.transport.arrays.B64Text`) and large numeric arrays are
read straight into NumPy (:mod:`service.transport.json_arrays`). :func:`may_hide_booleans` says
whether the arrays left as lists must be scanned for booleans (NumPy reads True as 1.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import orjson

from .. import deadline
from ..api.problems import ProblemError
from ..losses import LOSSES
from .arrays import MAX_DIMS, B64Text
from .binary import ARRAY_FIELDS
from .json_arrays import scan_array

JSON_MAX_DEPTH = 1024  # orjson's limit: deeper JSON is refused with 400 invalid_json
B64_INPLACE_BYTES = 1 << 20  # from this body size, b64 texts are left in place (see parse_json)
# and from this one, large JSON arrays are read in place: in smaller bodies orjson + np.asarray
# measured as fast or faster (0.90x to 0.98x the in-place time at 1.2 to 2 MB), in larger ones
# slower (1.3x at 4 MB, 1.45x at 10 MB: its Python objects no longer fit in the caches)
JSON_INPLACE_BODY_BYTES = 3 << 20
ARRAY_INPLACE_BYTES = 1 << 16  # a JSON array of numbers read in place from this many bytes
_KEY = re.compile(rb'"([A-Za-z0-9_]{1,64})"[ \t\r\n]*:[ \t\r\n]*')
_SUBMITTED_FIELDS = ("value", "per_sample", "gradient")  # a /compare request's submission
_ARRAY_KEYS = frozenset({*ARRAY_FIELDS, *_SUBMITTED_FIELDS, "data",
                         *(i.name for spec in LOSSES.values() for i in spec.inputs)})


def parse_json(body: bytes | bytearray, max_elements: int | None = None) -> Any:
    """``body`` parsed; 400 with the position for malformed JSON or NaN/Infinity tokens.

    In a large body the arrays are not turned into Python objects: the base64 text of a b64
    tensor object becomes a :class:`service.transport.arrays.B64Text` view of the body itself
    (saving the parser's two copies of it; bodies from :data:`B64_INPLACE_BYTES`), and a large
    JSON array of numbers (a request array, an ``inputs`` value, a /compare submission's array, or a
    tensor object's ``data``) is parsed in slices straight into a NumPy array
    (:mod:`service.transport.json_arrays`; bodies from :data:`JSON_INPLACE_BODY_BYTES`), saving the
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
    one looked at (:func:`service.transport.json_arrays.scan_array` answers where), and at most
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


def parse_response(body: bytes | bytearray) -> Any:
    """A large answer of the service parsed for the client (:mod:`service.client`) the way
    :func:`parse_json` parses a request: its b64 texts left as views of ``body`` and its large
    numeric arrays read straight into NumPy, wherever they are in the document (orjson's copy of
    a 10 MB b64 text into a ``str`` took longer than the exchange of the whole answer)."""
    if len(body) >= B64_INPLACE_BYTES:
        parsed = _parse_in_place(body, None, _every_place)
        if parsed is not None:
            return parsed[0]
    return _parse(body)


def _every_place(obj: Any) -> list[Place]:
    """(object, key, ()) of every value in the document, depth first."""
    places: list[Place] = []
    stack = [obj]
    while stack:
        node = stack.pop()
        keys = node.keys() if isinstance(node, dict) else range(len(node)) \
            if isinstance(node, list) else ()
        for k in keys:
            places.append((node, k, ()))
            if isinstance(node[k], dict | list):
                stack.append(node[k])
    return places


def _parse_in_place(body: bytes | bytearray, max_elements: int | None,
                    places: Callable[[Any], list[Place]] | None = None) -> tuple[Any] | None:
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

    for where, key, _ in (places or _array_places)(obj):
        where[key] = take(where[key])
    return None if texts or arrays else (obj,)  # a placeholder elsewhere: parse as usual


Place = tuple[Any, Any, tuple[Any, ...]]  # (a dict or list, its key or index, location)


def _array_places(obj: Any) -> list[Place]:
    """(object, key, location) of every place a request's array goes, in the order of the JSON
    text (a parsed object keeps its keys in that order): the top-level arrays, ``inputs``
    values (the tensors of an Open Inference Protocol request's ``inputs`` list too), and a
    /compare submission's ``value``, ``per_sample``, ``gradient`` and ``gradients`` values."""
    places: list[Place] = []

    def add(where: Any, loc: tuple[str, ...]) -> None:
        if isinstance(where, dict):
            places.extend((where, k, (*loc, k)) for k in where)

    if not isinstance(obj, dict):
        return places
    for key, value in obj.items():
        if key in ARRAY_FIELDS:
            places.append((obj, key, ("body", key)))
        elif key == "inputs" and isinstance(value, list):
            places.extend((value, i, ("body", "inputs", i)) for i in range(len(value)))
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
