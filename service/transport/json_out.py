"""Results -> the response body: nested lists, b64 or binary tensor objects, spliced in late.

Arrays in a response are nested lists (``encoding: "json"``), b64 tensor objects (``"b64"``) or
binary tensor objects whose bytes follow the response's JSON header (``"binary"``). JSON has no
NaN or infinity, so a non-finite result is written as the string ``"NaN"``, ``"Infinity"`` or
``"-Infinity"`` in the json encoding (never ``null``); b64 and binary carry IEEE values. Large
arrays are kept out of the document orjson builds and sent as parts (:class:`Splices`):
without joining them into one copy, and lazy arrays serialized while they are sent
(:func:`json_response`).

Everything that can fail for want of memory happens before the status line is sent, where an
error is still a problem response (:mod:`service.api.errors`), except the serialization of a
lazy array's blocks while it is sent (a few MB each). An error there can only end the
connection, which is what it does: the client sees an incomplete response, never a truncated
200 that looks whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import orjson
import pybase64
from starlette.responses import Response, StreamingResponse

from .arrays import NONFINITE, decode_array, wire_bytes
from .binary import ALIGN


def _nonfinite_to_text(a: np.ndarray) -> Any:
    obj = a.astype(object)
    obj[np.isnan(a)] = NONFINITE["nan"]
    obj[np.isposinf(a)] = NONFINITE["inf"]
    obj[np.isneginf(a)] = NONFINITE["-inf"]
    return obj.tolist()


def _b64_bytes(a: np.ndarray) -> bytes:
    """base64 of the little-endian row-major bytes, read in place."""
    return pybase64.b64encode(wire_bytes(a))


class LazyJson:
    """The JSON text of a large array, serialized while it is sent: iterating gives its pieces
    (each time anew), so that the whole text never exists at once."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __iter__(self) -> Iterator[memoryview]:
        return _json_pieces(self.array)


Piece = bytes | memoryview | LazyJson


class Splices:
    """Large encoded arrays kept out of a JSON document until it is sent.

    :meth:`hold` gives orjson a small placeholder (``"\\0<k>\\0"``: orjson escapes every NUL of
    its own output, so a raw NUL marks a placeholder) and :meth:`splice` puts the texts back
    into the serialized document as a list of parts to send in turn: b64 text as a JSON string,
    an array's JSON text as it is. A document holding the same array twice (``gradient`` and
    ``gradients.predictions``) sends the same bytes twice without building a second copy.
    """

    _MARK = re.compile(rb'"\x00(\d+)\x00"')

    def __init__(self) -> None:
        self.texts: list[list[Piece]] = []
        self.blobs: set[int] = set()  # indices of texts that are binary tensors' bytes

    def hold(self, text: Piece | list[Piece], *, string: bool = True) -> orjson.Fragment:
        """A placeholder for ``text`` (one piece or several in turn): the characters of a JSON
        string (``string``) or a JSON value."""
        pieces = text if isinstance(text, list) else [text]
        self.texts.append([b'"', *pieces, b'"'] if string else pieces)
        return orjson.Fragment(b'"\x00%d\x00"' % (len(self.texts) - 1))

    def hold_bytes(self, data: memoryview) -> orjson.Fragment:
        """A placeholder for a binary tensor's ``binary_data_size``: :meth:`splice_binary` puts
        the size there and ``data`` after the JSON header."""
        self.blobs.add(len(self.texts))
        return self.hold(data, string=False)

    def splice(self, document: bytes) -> list[Piece]:
        if not self.texts:
            return [document]
        parts: list[Piece] = []
        pieces = self._MARK.split(document)  # text, index, text, index, ..., text
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                parts.append(piece)
            else:
                parts += self.texts[int(piece)]
        return parts

    def splice_binary(self, document: bytes) -> tuple[int, list[Piece]]:
        """``(header length, parts)`` of a binary response: the JSON header, with each binary
        tensor's size in its placeholder, then the tensors' bytes in the order the header
        names them (an array the header holds twice is sent twice, from the same memory)."""
        header: list[bytes] = []
        blobs: list[Piece] = []
        for i, piece in enumerate(self._MARK.split(document)):
            if i % 2 == 0:
                header.append(piece)
            elif int(piece) in self.blobs:
                blob = self.texts[int(piece)][0]
                header.append(b"%d" % len(blob))
                blobs.append(blob)
            else:  # JSON text held for an array encoded otherwise (a binary response has none)
                for part in self.texts[int(piece)]:
                    header += map(bytes, part) if isinstance(part, LazyJson) else [bytes(part)]
        head = b"".join(header)
        head += b" " * (-len(head) % ALIGN)  # (JSON allows trailing spaces) aligned arrays
        return len(head), [head, *blobs]


SPLICE_JSON_ELEMENTS = 1 << 16  # a JSON result array of this many elements is held in Splices
LAZY_JSON_ELEMENTS = 1 << 20  # and from this many (~20 MB of text), serialized as it is sent


def encode_array(a: Any, encoding: str = "json", *, splices: Splices | None = None) -> Any:
    """A result array for the response body (orjson serializes NumPy arrays directly).

    With ``splices`` (bodies serialized by orjson and sent by the service), the b64 text is held
    there and the body gets a placeholder: no ``str`` of it is built and orjson never copies it.
    A large array sent as JSON is held there too, serialized once (so that an array the
    document holds twice is neither serialized nor stored twice), or, from
    :data:`LAZY_JSON_ELEMENTS`, a block at a time while the response is sent
    (:class:`LazyJson`). The binary encoding (``splices`` required) gives a tensor object whose
    ``binary_data_size`` placeholder :meth:`Splices.splice_binary` fills in, the array's own
    memory being sent after the header.
    """
    a = np.asarray(a)
    if encoding == "binary":
        if splices is None:
            raise ValueError("the binary encoding needs Splices (the bytes go after the header)")
        return {"shape": list(a.shape), "dtype": a.dtype.name,
                "binary_data_size": splices.hold_bytes(memoryview(wire_bytes(a)))}
    if encoding == "b64":
        text = _b64_bytes(a)
        return {"shape": list(a.shape), "dtype": a.dtype.name,
                "b64": splices.hold(text) if splices is not None else text.decode("ascii")}
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        return _nonfinite_to_text(a)
    if a.ndim == 0:
        return a.item()
    a = np.ascontiguousarray(a)  # orjson serializes C-contiguous arrays only
    if splices is not None and a.size >= SPLICE_JSON_ELEMENTS:
        lazy = a.size >= LAZY_JSON_ELEMENTS
        return splices.hold(LazyJson(a) if lazy else list(_json_pieces(a)), string=False)
    return a


def serialize(body: dict[str, Any], splices: Splices,
              binary: bool = False) -> tuple[int | None, list[Piece]]:
    """``(header length, parts)`` of a response body: the parts are sent in turn; the header
    length is that of a binary response's JSON header (None: a JSON response)."""
    document = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return splices.splice_binary(document) if binary else (None, splices.splice(document))


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Effective parameters for a response: non-finite floats as their JSON text."""
    return {k: encode_scalar(v) if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in params.items()}


def _json_pieces(a: np.ndarray) -> Iterator[memoryview]:
    """The JSON text of ``a`` (C-contiguous, at least 1-D, finite), serialized by orjson a block
    of rows at a time: one text of the whole array would be built in a buffer that grows (by
    copying) to its size, and peaks at about 1.5x it.

    Each block after the first is serialized with the previous block's last row in front, and
    its text taken from the comma after that row: the pieces join into the array's text with
    no separators to send between them.
    """
    rows = max(1, SPLICE_JSON_ELEMENTS // max(1, a[0].size))
    after_first = b"]" * (a.ndim - 1) + b","  # the end of a block's first row, and the comma
    for start in range(0, len(a), rows):
        last = start + rows >= len(a)
        text = orjson.dumps(a[max(start - 1, 0):start + rows], option=orjson.OPT_SERIALIZE_NUMPY)
        begin = 0 if start == 0 else text.find(after_first) + len(after_first) - 1
        view = memoryview(text)
        yield view[begin:] if last else view[begin:-1]


def encode_scalar(v: Any) -> float | str:
    """A reduced value: a JSON number, or "NaN" / "Infinity" / "-Infinity"."""
    f = float(v)
    if math.isfinite(f):
        return f
    return NONFINITE["nan"] if math.isnan(f) else NONFINITE["inf" if f > 0 else "-inf"]


def tensor_to_wire(a: np.ndarray, encoding: str = "b64") -> dict[str, Any]:
    """A NumPy array as a request tensor object (used by the client)."""
    if encoding == "b64":
        return encode_array(a, "b64")
    return {"shape": list(a.shape), "dtype": a.dtype.name, "data": a.reshape(-1)}


def wire_to_array(obj: Any) -> np.ndarray:
    """A response array (nested list with non-finite strings, or b64 object) as NumPy."""
    if isinstance(obj, dict):
        return decode_array(obj, (), max_elements=2**62)
    if isinstance(obj, str):
        return np.asarray(float(obj.replace("Infinity", "inf")))
    a = np.asarray(obj)
    if a.dtype.kind in "OU":
        a = np.vectorize(lambda v: float(v.replace("Infinity", "inf")) if isinstance(v, str)
                         else float(v), otypes=[float])(a)
    return a


STREAM_BYTES = 1 << 20  # responses above 1 MiB are sent in slices of this size


def json_response(parts: list[Piece], media_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> Response:
    """One response from the parts; a large one is sent in slices of them, so the server never
    holds a second copy of it (the transport's buffer takes one slice at a time). With an array
    serialized as it is sent (:class:`service.transport.json_out.LazyJson`), its length is not known
    beforehand: the response is sent chunked, from a worker thread (Starlette iterates a plain
    iterator there), so the serialization never runs on the event loop."""
    if any(isinstance(p, LazyJson) for p in parts):
        return StreamingResponse(_pieces(parts), media_type=media_type, headers=headers)
    size = sum(len(p) for p in parts)
    if size <= STREAM_BYTES:
        return Response(parts[0] if len(parts) == 1 else b"".join(parts),
                        media_type=media_type, headers=headers)

    async def slices() -> AsyncIterator[memoryview]:
        for view in _pieces(parts):
            yield view

    return StreamingResponse(slices(), media_type=media_type,
                             headers={**(headers or {}), "content-length": str(size)})


def binary_response(header_length: int, parts: list[Piece]) -> Response:
    """An ``application/octet-stream`` response: a JSON header of ``header_length`` bytes (in
    ``Inference-Header-Content-Length``) and the result arrays' bytes."""
    return json_response(parts, "application/octet-stream",
                         {"inference-header-content-length": str(header_length)})


def _pieces(parts: list[Piece]) -> Iterator[memoryview]:
    """The parts' bytes in slices of at most STREAM_BYTES; lazy parts serialized in turn."""
    for part in parts:
        for piece in part if isinstance(part, LazyJson) else (part,):
            view = memoryview(piece)
            for start in range(0, len(view), STREAM_BYTES):
                yield view[start:start + STREAM_BYTES]
