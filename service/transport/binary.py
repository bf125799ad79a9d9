"""The binary tensor format (``application/octet-stream``): read by the service, packed by clients.

The format follows the KServe/Triton binary tensor extension: a JSON header of
``Inference-Header-Content-Length`` bytes, then raw tensor bytes. In the header a tensor object
``{"shape": [...], "dtype": "float64", "binary_data_size": 800}`` stands for the next 800 bytes
after the header (little-endian, row-major), in the order the header names such objects. The
service reads requests in this format (:func:`service.transport.request.parse_binary`) and
answers in it when the request asks for ``"encoding": "binary"`` (the default for such a
request); clients :func:`pack` and :func:`unpack`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from ..casting import cast
from .arrays import WIRE_DTYPES, array_from_bytes, wire_bytes

ARRAY_FIELDS = ("predictions", "targets", "sample_weight")  # a request's top-level arrays

MEDIA_TYPE = "application/octet-stream"
HEADER_LENGTH = "Inference-Header-Content-Length"
ALIGN = 8  # the header is padded with spaces to a multiple of this: the tensors start aligned


def _wire_dtype(a: np.ndarray) -> np.ndarray:
    """``a`` in a wire dtype: integers as int32 or int64 (a uint64 beyond int64 raises
    :class:`service.casting.CastError`, a ValueError: never wrapped), floats as they are."""
    if a.dtype.kind in "iu":
        a = cast(a, np.int64 if a.dtype.itemsize > 4 or a.dtype.kind == "u" else np.int32)
    if a.dtype.name not in WIRE_DTYPES:
        raise TypeError(f"arrays of dtype {a.dtype} cannot be sent (wire dtypes: "
                        f"{', '.join(WIRE_DTYPES)})")
    return a


def pack(document: dict[str, Any]) -> tuple[list[bytes | memoryview], int]:
    """``(parts, header length)`` of the request for ``document``: every NumPy array at a
    request array's place (``predictions``, ``targets``, ``sample_weight``, ``inputs`` values)
    goes as a binary tensor, its bytes read in place (no copy for a C-contiguous little-endian
    array). Send ``b"".join(parts)`` (or the parts in turn) with the content type
    :data:`MEDIA_TYPE` and the header length in :data:`HEADER_LENGTH`."""
    blobs: list[memoryview] = []

    def binary(value: Any) -> Any:
        if not isinstance(value, np.ndarray):
            return value
        a = _wire_dtype(value)
        blobs.append(memoryview(wire_bytes(a)))
        return {"shape": list(a.shape), "dtype": a.dtype.name, "binary_data_size": a.nbytes}

    header = {k: binary(v) if k in ARRAY_FIELDS else v for k, v in document.items()}
    if isinstance(header.get("inputs"), dict):
        header["inputs"] = {k: binary(v) for k, v in header["inputs"].items()}
    text = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
    text += b" " * (-len(text) % ALIGN)
    return [text, *blobs], len(text)


def _tensors(obj: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every tensor object with ``binary_data_size``, in document order."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(
        obj, list) else ()
    for key, value in items:
        if isinstance(value, dict) and "binary_data_size" in value:
            yield obj, key
        else:
            yield from _tensors(value)


def unpack(content: bytes | bytearray | memoryview, header_length: int) -> dict[str, Any]:
    """A binary response as a dict: its JSON header with every binary tensor object replaced by
    its NumPy array (a read-only view of ``content`` where aligned)."""
    header = orjson.loads(bytes(content[:header_length]))
    view = memoryview(content)[header_length:]
    offset = 0
    for where, key in list(_tensors(header)):
        t = where[key]
        size = int(t["binary_data_size"])
        where[key] = array_from_bytes(view[offset:offset + size],
                                      np.dtype(WIRE_DTYPES[t["dtype"]]), t["shape"])
        offset += size
    if offset != len(view):
        raise ValueError(f"{len(view)} bytes follow the JSON header; its tensors take {offset}")
    return header
